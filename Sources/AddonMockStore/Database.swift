import AddonMockCore
import Dispatch
import Synchronization

/// The writer's connection, and (for a file) a reader's, each serialised by its own lock.
///
/// Writes run one at a time inside a transaction that stays open between them; a committer thread commits it,
/// so every write that ran while the previous commit was being written shares the next one (see `Committer`).
/// A write made for a request (`RequestWrites`) returns at once and the request's answer waits instead; any
/// other write waits for its commit before returning. Reads use their own connection and see only committed
/// data, never a write whose answer has not been sent (`:memory:` has one connection: its reads see both).
///
/// `Locked` (a pthread mutex) rather than `Synchronization.Mutex`: the latter is a PI futex on Linux (no
/// spinning), measured 2.5x slower under contention, and its `sending` rules reject a non-Sendable connection.
public final class Database: Sendable {
    private struct Writer {
        let connection: Connection
        var inTransaction = false
        var lastTicket: UInt64 = 0
        /// Writes (through this number) rolled back with their transaction before its commit, and why; they
        /// are told so at the next commit.
        var abandoned: Committer.Outcome?
        /// Called under the writer lock after each commit or rollback of the open transaction, told whether
        /// everything written since the last call is durable (false when any of it was rolled back).
        var afterCommit: [@Sendable (Bool) -> Void] = []

        /// Rolls back the whole open transaction (a savepoint could not be undone or released, or SQLite rolled
        /// it back itself after an I/O error or a full disk): its writes fail together at the next commit.
        mutating func abandon(because error: any Error) {
            if connection.isInTransaction { try? connection.run("ROLLBACK") }
            inTransaction = false
            abandoned = (lastTicket, abandoned?.error ?? error)
        }
    }

    /// What the writes of a transaction SQLite rolled back on its own are told.
    public struct RolledBack: Error, CustomStringConvertible {
        public var description: String { "SQLite rolled the transaction back (I/O error or full disk)" }
    }

    private let writer: Locked<Writer>
    private let reader: Locked<Connection>?
    private let checkpointer: Checkpointer?
    let committer: Committer
    public let path: String
    /// The file was as this server's last clean stop left it, so start-up skipped its damage check (`CleanStop`).
    public let startedFromCleanStop: Bool
    /// Declared last, released last: its descriptor must outlive the connections (see `DatabaseFileLock`).
    private let fileLock: DatabaseFileLock?

    /// Opens (creating if needed) and migrates. Throws for a file that is not a database, is damaged,
    /// or was written by a newer schema: the caller reports it and exits, nothing is reset.
    public init(path: String, gatherMicroseconds: UInt32 = 1000) throws {
        self.path = path
        let isFile = path != ":memory:"
        // Before anything is written: one server per file, and only a file that is empty or plainly ours.
        fileLock = isFile ? try DatabaseFileLock(path: path) : nil
        if isFile {
            startedFromCleanStop = try DatabaseIdentity.inspect(path: path) == (.addonmock, false)
            CleanStop.forget(path)
        } else {
            startedFromCleanStop = false
        }
        let conn = try Connection(path: path)
        // `user_version` is the first read: a garbage file fails here with SQLITE_NOTADB.
        let version = try conn.scalarInt("PRAGMA user_version") ?? 0
        // A brand-new file holds nothing to lose: creating it (the switch to WAL goes through a rollback journal)
        // and its schema without fsyncs saves most of the start-up time on a new database.
        let isNew = try version == 0 && (conn.scalarInt("SELECT count(*) FROM sqlite_master") ?? 0) == 0
        if isNew { try conn.execute("PRAGMA synchronous=OFF") }
        if isFile {
            try conn.execute("PRAGMA journal_mode=WAL")
        }
        try conn.execute("PRAGMA foreign_keys=ON")
        // Another connection (the reader, the checkpointer) may hold the log's write lock for an instant: when it
        // finds the shared log index mid-update it takes that lock to read it safely. Wait instead of failing.
        try conn.execute("PRAGMA busy_timeout=5000")
        try Migrations.apply(on: conn, from: Int(version))
        // NORMAL in WAL mode: a commit survives the process being killed (the WAL is in the OS cache);
        // only a power loss could drop the last commits. That is the contract (kill -9 loses nothing
        // acknowledged) at a quarter of the cost of FULL.
        try conn.execute("PRAGMA synchronous=NORMAL")
        if isFile {
            let checkpointer = try Checkpointer(path: path)
            conn.onWALCommit { writer, pages in checkpointer.walGrew(to: pages, writer: writer) }
            self.checkpointer = checkpointer
            let readConnection = try Connection(path: path)
            try readConnection.execute("PRAGMA busy_timeout=5000")
            reader = Locked(readConnection)
        } else {
            checkpointer = nil
            reader = nil
        }
        let writer = Locked(Writer(connection: conn))
        self.writer = writer
        committer = Committer(gatherMicroseconds: gatherMicroseconds) {
            writer.withLock { w -> [Committer.Outcome] in
                if w.inTransaction && !w.connection.isInTransaction { w.abandon(because: RolledBack()) }
                var commitError: (any Error)?
                if w.inTransaction {
                    do {
                        try w.connection.run("COMMIT")
                        w.inTransaction = false
                    } catch {
                        w.abandon(because: error)
                        commitError = error
                    }
                }
                var outcomes: [Committer.Outcome] = []
                if let abandoned = w.abandoned { outcomes.append(abandoned) }
                if outcomes.last?.through != w.lastTicket { outcomes.append((w.lastTicket, commitError)) }
                w.abandoned = nil
                let durable = outcomes.allSatisfy { $0.error == nil }
                for call in w.afterCommit { call(durable) }
                return outcomes
            }
        }
        committer.start()
    }

    deinit { committer.stop() }

    /// A read-only view of the database as it is now that stays as it is while writes go on (its own connection in a
    /// read transaction): for reading more than one query's worth consistently, page by page (an export). nil for
    /// `:memory:`, which has no second connection.
    public func snapshot() throws -> Snapshot? {
        guard path != ":memory:" else { return nil }
        return try Snapshot(path: path)
    }

    /// Reads committed data (for `:memory:`, also writes not yet committed).
    public func read<T>(_ body: (Connection) throws -> T) throws -> T {
        if let reader { return try reader.withLock { try body($0) } }
        return try writer.withLock { try body($0.connection) }
    }

    /// Opens a request whose writes will not wait for their commit (its answer will): see `RequestWrites`.
    public func beginRequest() -> RequestWrites { RequestWrites(database: self) }

    /// Runs `body` as one atomic write: if it throws, nothing it did is kept. Returns once committed, or, for a
    /// request, at once (the request then knows what its answer waits for).
    public func write<T>(for request: RequestWrites? = nil, _ body: (Connection) throws -> T) throws -> T {
        let (result, ticket) = try writer.withLock { w throws -> (T, CommitTicket) in
            let conn = w.connection
            if w.inTransaction && !conn.isInTransaction { w.abandon(because: RolledBack()) }
            if !w.inTransaction {
                try conn.run("BEGIN IMMEDIATE")
                w.inTransaction = true
            }
            try conn.run("SAVEPOINT write")
            let result: T
            do {
                result = try body(conn)
            } catch {
                // Undo this write only; the others in the open transaction stand.
                do {
                    try conn.run("ROLLBACK TO write")
                    try conn.run("RELEASE write")
                } catch let undo {
                    w.abandon(because: undo)
                }
                throw error
            }
            do {
                try conn.run("RELEASE write")
            } catch {
                w.abandon(because: error)
                throw error
            }
            w.lastTicket += 1
            return (result, CommitTicket(number: w.lastTicket))
        }
        committer.wrote(ticket)
        if let request { request.record(ticket) } else { try committer.waitDurable(ticket) }
        return result
    }

    /// Registers `call` to run after every commit (or rolled-back commit), under the writer lock; it is told
    /// whether all that was written since its last call is durable.
    public func afterCommit(_ call: @escaping @Sendable (Bool) -> Void) {
        writer.withLock { $0.afterCommit.append(call) }
    }

    /// Ends the writes (reads go on): commits what is outstanding, folds the WAL back into the main file so a
    /// stopped server leaves one tidy file behind, and records the clean stop (`CleanStop`). Nothing is committed
    /// after it.
    public func stop() {
        committer.stop()
        checkpointer?.drain()
        _ = try? writer.withLock { w in try w.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
        if path != ":memory:" { CleanStop.record(path) }
    }
}

/// Copies the write-ahead log back into the database file from its own connection and queue, so commits do not
/// wait for a checkpoint's page writes and `fdatasync`s (SQLite's auto-checkpoint runs inside the commit that
/// crosses the threshold, with the connection lock held). Passive: it never blocks the writer.
///
/// Under a steady stream of commits a background pass never quite catches up, and the log only starts over
/// once every frame in it has been copied; so past `limitPages` the writer checkpoints once itself (copying
/// only what the background passes have not), which lets its next transaction restart the log.
private final class Checkpointer: @unchecked Sendable {
    /// SQLite's own auto-checkpoint threshold.
    static let thresholdPages = 1000
    static let limitPages = 8000

    /// Only touched on `queue`.
    private let connection: Connection
    private let queue = DispatchQueue(label: "addonmock.checkpoint")
    private let scheduled = Atomic<Bool>(false)
    /// The log's size when the last pass was scheduled; only touched by `walGrew`, which runs under the
    /// database lock. A pass is worth its two `fdatasync`s only once another threshold's worth has arrived.
    private var scheduledAt = 0

    init(path: String) throws {
        connection = try Connection(path: path)
        try connection.execute("PRAGMA busy_timeout=1000")
    }

    /// Called after every commit, inside it, on the writer's connection.
    func walGrew(to pages: Int, writer: Connection) {
        if pages >= Self.limitPages {
            // A background pass holds the checkpoint lock while it runs: wait for it (it needs nothing the writer
            // holds), or this checkpoint would be skipped as busy and the log would keep growing.
            drain()
            try? writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            scheduledAt = 0
            return
        }
        if pages < scheduledAt { scheduledAt = 0 } // the log has started over
        guard pages - scheduledAt >= Self.thresholdPages, !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        scheduledAt = pages
        queue.async { [self] in
            scheduled.store(false, ordering: .releasing)
            // A failed pass only leaves the log longer: the next commit schedules another.
            try? connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        }
    }

    /// Waits for a scheduled pass to finish.
    func drain() { queue.sync {} }
}

/// See `Database.snapshot`. Used by one reader at a time; the transaction ends when it is let go.
public final class Snapshot: @unchecked Sendable {
    private let connection: Connection

    init(path: String) throws {
        connection = try Connection(path: path)
        try connection.execute("PRAGMA busy_timeout=5000")
        try connection.run("BEGIN")
        // The snapshot is taken by the first read, not by BEGIN: take it now.
        _ = try connection.scalarInt("SELECT count(*) FROM sqlite_master")
    }

    public func read<T>(_ body: (Connection) throws -> T) rethrows -> T { try body(connection) }

    deinit { try? connection.run("COMMIT") }
}
