#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The single SQLite connection, serialised by a lock. One writer is all SQLite allows anyway, and at the
/// emulator's sizes a serialised reader costs less than the hand-off to a reader pool.
///
/// `@unchecked Sendable` is sound because `connection` is only touched between `lock` and `unlock`.
/// A pthread mutex rather than `Synchronization.Mutex`: the latter is a PI futex on Linux (no spinning),
/// measured 2.5x slower under contention, and its `sending` rules reject a non-Sendable connection.
public final class Database: @unchecked Sendable {
    private let connection: Connection
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    public let path: String

    /// Opens (creating if needed) and migrates. Throws for a file that is not a database, is damaged,
    /// or was written by a newer schema: the caller reports it and exits, nothing is reset.
    public init(path: String) throws {
        self.path = path
        let conn = try Connection(path: path)
        // `user_version` is the first read: a garbage file fails here with SQLITE_NOTADB.
        let version = try conn.scalarInt("PRAGMA user_version") ?? 0
        if path != ":memory:" {
            try conn.execute("PRAGMA journal_mode=WAL")
        }
        // NORMAL in WAL mode: a commit survives the process being killed (the WAL is in the OS cache);
        // only a power loss could drop the last commits. That is the contract (kill -9 loses nothing
        // acknowledged) at a quarter of the cost of FULL.
        try conn.execute("PRAGMA synchronous=NORMAL")
        try conn.execute("PRAGMA foreign_keys=ON")
        try Migrations.apply(on: conn, from: Int(version))
        connection = conn
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func read<T>(_ body: (Connection) throws -> T) throws -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(connection)
    }

    public func write<T>(_ body: (Connection) throws -> T) throws -> T {
        try read { conn in try conn.transaction(body) }
    }

    /// Folds the WAL back into the main file so a stopped server leaves one tidy file behind.
    public func checkpoint() {
        _ = try? read { conn in try conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}
