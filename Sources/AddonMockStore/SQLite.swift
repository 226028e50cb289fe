import CSQLite

/// An SQLite failure with the library's own message: what the user reads when a database cannot be opened.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { message }

    /// The file is not a database, or is damaged: start-up refuses it rather than resetting it.
    public var isCorruption: Bool {
        let primary = code & 0xFF
        return primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT
    }
}

/// `SQLITE_TRANSIENT` is a cast macro Swift does not import.
@inline(__always) private var transient: sqlite3_destructor_type {
    unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self)
}

public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)
    /// UTF-8 bytes bound as TEXT (stored JSON), without making a String of them first.
    case utf8([UInt8])
    case blob([UInt8])
}

/// One prepared statement. Bound with positional values; rows read by column index.
public final class Statement {
    fileprivate let handle: OpaquePointer
    private let db: OpaquePointer

    fileprivate init(handle: OpaquePointer, db: OpaquePointer) {
        self.handle = handle
        self.db = db
    }

    deinit { sqlite3_finalize(handle) }

    private func check(_ rc: Int32) throws(SQLiteError) {
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db))) }
    }

    public func bind(_ values: [SQLValue]) throws(SQLiteError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            switch v {
            case .null: try check(sqlite3_bind_null(handle, idx))
            case .integer(let n): try check(sqlite3_bind_int64(handle, idx, n))
            // Bound with their byte length, never as C strings: a NUL inside a value is kept, not a terminator
            // that would let "victim\0other" match (or be stored as) "victim".
            case .text(var s):
                try check(
                    s.withUTF8 { bytes in
                        bytes.isEmpty
                            ? sqlite3_bind_text(handle, idx, "", 0, transient)
                            : sqlite3_bind_text(
                                handle, idx, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self),
                                Int32(bytes.count), transient)
                    })
            case .utf8(let b) where b.isEmpty: try check(sqlite3_bind_text(handle, idx, "", 0, transient))
            case .utf8(let b):
                try check(
                    b.withUnsafeBytes {
                        sqlite3_bind_text(handle, idx, $0.baseAddress!.assumingMemoryBound(to: CChar.self), Int32($0.count), transient)
                    })
            case .blob(let b):
                try check(b.withUnsafeBytes { sqlite3_bind_blob(handle, idx, $0.baseAddress, Int32($0.count), transient) })
            }
        }
    }

    /// Advances to the next row: true when a row is available.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)))
        }
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func text(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(handle, column) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    public func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    /// The column's bytes (TEXT or BLOB) without a String round-trip.
    public func bytes(_ column: Int32) -> [UInt8] {
        guard let p = sqlite3_column_blob(handle, column) else { return [] }
        let n = Int(sqlite3_column_bytes(handle, column))
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    /// Releases the read snapshot and the bindings once a caller is done with the rows.
    public func finish() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}

/// A connection with a cache of prepared statements. Not thread-safe by itself: `Database` serialises access.
public final class Connection {
    fileprivate let handle: OpaquePointer
    /// A list, not a dictionary: there are a dozen statements, and comparing against the (mostly identical,
    /// pointer-equal) literal is cheaper than hashing a few hundred bytes of SQL on every call.
    private var cache: [(sql: String, statement: Statement)] = []
    private var walHook: WALHook?

    public init(path: String) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    public func execute(_ sql: String) throws(SQLiteError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        guard rc == SQLITE_OK else {
            let message = err.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// A cached prepared statement, bound and ready to step.
    public func statement(_ sql: String, _ values: [SQLValue] = []) throws(SQLiteError) -> Statement {
        let stmt: Statement
        if let cached = cache.first(where: { $0.sql == sql })?.statement {
            stmt = cached
        } else {
            var raw: OpaquePointer?
            let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
            guard rc == SQLITE_OK, let raw else {
                throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
            }
            stmt = Statement(handle: raw, db: handle)
            cache.append((sql, stmt))
        }
        try stmt.bind(values)
        return stmt
    }

    /// Runs a statement that returns no rows.
    public func run(_ sql: String, _ values: [SQLValue] = []) throws(SQLiteError) {
        let stmt = try statement(sql, values)
        defer { stmt.finish() }
        while try stmt.step() {}
    }

    public func scalarInt(_ sql: String, _ values: [SQLValue] = []) throws(SQLiteError) -> Int64? {
        let stmt = try statement(sql, values)
        defer { stmt.finish() }
        return try stmt.step() ? stmt.int64(0) : nil
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// False outside BEGIN ... COMMIT, including after SQLite rolled a transaction back on its own.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back if it throws. The commit has happened
    /// (and is durable against a process crash in WAL mode) when this returns.
    public func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        try run("BEGIN IMMEDIATE")
        do {
            let result = try body(self)
            try run("COMMIT")
            return result
        } catch {
            try? run("ROLLBACK")
            throw error
        }
    }

    /// Calls `hook` after every commit with the number of pages now in the write-ahead log, replacing SQLite's
    /// own auto-checkpoint. `hook` runs inside the commit, on this connection: it may checkpoint it.
    public func onWALCommit(_ hook: @escaping (Connection, Int) -> Void) {
        walHook = WALHook(connection: self, call: hook)
        sqlite3_wal_hook(
            handle,
            { context, _, _, pages in
                guard let context else { return SQLITE_OK }
                let hook = Unmanaged<WALHook>.fromOpaque(context).takeUnretainedValue()
                if let connection = hook.connection { hook.call(connection, Int(pages)) }
                return SQLITE_OK
            }, Unmanaged.passUnretained(walHook!).toOpaque())
    }
}

/// What `sqlite3_wal_hook` points at; the connection owns it, so it lives as long as SQLite may call it.
private final class WALHook {
    weak var connection: Connection?
    let call: (Connection, Int) -> Void

    init(connection: Connection, call: @escaping (Connection, Int) -> Void) {
        self.connection = connection
        self.call = call
    }
}
