import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// Why a database file was refused before anything was written to it; the message follows the file's path.
public struct DatabaseRefused: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// What start-up decides about a file before it opens it for writing. A file that is not plainly ours (or empty)
/// is left exactly as it was: no WAL switch, no schema, no `-wal` checkpointed into it.
enum DatabaseIdentity {
    /// `PRAGMA application_id` of every addonmock database: "AMCK".
    static let applicationID: Int64 = 0x414D_434B
    /// The integrity check at start-up stops after this long on a large file (SQLite still checks every page it
    /// reads later, and answers a 500 for a damaged one rather than wrong data).
    static let integrityBudgetMs: Int64 = 2000

    enum Verdict: Equatable {
        /// No tables, no identity: becomes ours.
        case empty
        /// Ours, or made by an addonmock from before `application_id` (it is stamped on the next migration).
        case addonmock
    }

    /// Looks at the file through a read-only connection (which never checkpoints, switches the journal mode or
    /// writes a byte) and refuses anything that is not empty or an addonmock database this build can use.
    /// `checked`: whether the damage check ran (not for an empty file, nor for one a clean stop left as it is).
    static func inspect(path: String) throws(DatabaseRefused) -> (verdict: Verdict, checked: Bool) {
        var st = stat()
        guard stat(path, &st) == 0 else { return (.empty, false) } // created on open
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw DatabaseRefused(message: "is not a regular file") }
        guard st.st_size > 0 else { return (.empty, false) }

        // Immutable: no locks, and no `-wal`/`-shm` made beside a file that may not be ours. Only when a log
        // exists is it read through one (its last commits may hold the schema; the side files exist already).
        var wal = stat()
        let hasLog = stat(path + "-wal", &wal) == 0 && wal.st_size > 0
        var db: OpaquePointer?
        let rc =
            hasLog
            ? sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
            : sqlite3_open_v2(Self.immutableURI(path), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nil)
        defer { sqlite3_close_v2(db) }
        guard rc == SQLITE_OK, let db else {
            throw DatabaseRefused(message: "cannot be opened: \(db.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)")")
        }
        func integer(_ sql: String) throws(DatabaseRefused) -> Int64 {
            try rows(db, sql).first.flatMap { Int64($0) } ?? 0
        }
        let application = try integer("PRAGMA application_id")
        let version = try integer("PRAGMA user_version")
        let tables = try rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")

        let verdict: Verdict
        if application == applicationID {
            verdict = .addonmock
        } else if application == 0 && version == 0 && tables.isEmpty {
            return (.empty, false)
        } else if application == 0 && isLegacyAddonmock(db, version: version, tables: tables) {
            verdict = .addonmock
        } else {
            let id = application == 0 ? "no application_id" : "application_id 0x" + String(UInt32(truncatingIfNeeded: application), radix: 16)
            let shown = tables.prefix(5).joined(separator: ", ") + (tables.count > 5 ? ", …" : "")
            throw DatabaseRefused(
                message:
                    "is a SQLite database of another application (\(id); tables: \(shown.isEmpty ? "none" : shown)); refusing to touch it: pick another --db"
            )
        }
        guard version <= Int64(Migrations.latest) else {
            throw DatabaseRefused(
                message:
                    "was written by a newer addonmock (schema version \(version); this one knows up to \(Migrations.latest)); use a newer addonmock or another --db"
            )
        }
        if CleanStop.leftAsItWas(path) { return (verdict, false) }
        try checkIntegrity(db)
        return (verdict, true)
    }

    /// `file:PATH?immutable=1`, the path percent-encoded where a URI needs it.
    static func immutableURI(_ path: String) -> String {
        var uri = "file:"
        for b in path.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                uri.unicodeScalars.append(Unicode.Scalar(b))
            default:
                uri += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return uri + "?immutable=1"
    }

    /// Databases made before the identity stamp: schema 1 or 2 with exactly our `instances` table.
    private static func isLegacyAddonmock(_ db: OpaquePointer, version: Int64, tables: [String]) -> Bool {
        guard (1...2).contains(version), tables == ["instances"],
            let sql = try? rows(db, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'instances'").first
        else { return false }
        return sql.contains("pending_target_values_json") && sql.contains("UNIQUE (service, scope, template)")
    }

    /// `PRAGMA quick_check` (every page's structure, not the indexes' contents), stopped after the budget.
    private static func checkIntegrity(_ db: OpaquePointer) throws(DatabaseRefused) {
        let deadline = Budget(milliseconds: integrityBudgetMs)
        let context = Unmanaged.passRetained(deadline)
        defer { context.release() }
        sqlite3_progress_handler(
            db, 10_000,
            { context in
                guard let context else { return 0 }
                return Unmanaged<Budget>.fromOpaque(context).takeUnretainedValue().isSpent ? 1 : 0
            }, context.toOpaque())
        defer { sqlite3_progress_handler(db, 0, nil, nil) }
        // The check reads every page once: mapped, it makes no read() call a page (−20 % of its time at 100k
        // records, 18.7k pages). The server holds the file's lock by now, so no addonmock truncates it meanwhile.
        _ = try? rows(db, "PRAGMA mmap_size = 268435456")
        let findings: [String]
        do {
            findings = try rows(db, "PRAGMA quick_check(5)")
        } catch {
            if deadline.isSpent { return } // interrupted: the part checked was fine
            throw error
        }
        guard findings == ["ok"] else {
            throw DatabaseRefused(
                message: "is damaged (\(findings.joined(separator: "; "))); refusing to use it: restore a copy or pick another --db")
        }
    }

    private final class Budget {
        let endNs: UInt64
        init(milliseconds: Int64) { endNs = Budget.nowNs() + UInt64(milliseconds) * 1_000_000 }
        var isSpent: Bool { Budget.nowNs() >= endNs }
        static func nowNs() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
    }

    /// The first column of every row, as text.
    private static func rows(_ db: OpaquePointer, _ sql: String) throws(DatabaseRefused) -> [String] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw failure(db)
        }
        defer { sqlite3_finalize(statement) }
        var out: [String] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return out }
            guard rc == SQLITE_ROW else { throw failure(db) }
            let n = Int(sqlite3_column_bytes(statement, 0))
            out.append(
                sqlite3_column_text(statement, 0).map {
                    String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
                } ?? "")
        }
    }

    private static func failure(_ db: OpaquePointer) -> DatabaseRefused {
        let code = sqlite3_errcode(db) & 0xFF
        let message = String(cString: sqlite3_errmsg(db))
        if code == SQLITE_NOTADB {
            return DatabaseRefused(message: "is not a SQLite database (\(message)); refusing to touch it: move it away or pick another --db")
        }
        if code == SQLITE_CORRUPT {
            return DatabaseRefused(message: "is damaged (\(message)); refusing to use it: restore a copy or pick another --db")
        }
        return DatabaseRefused(message: "cannot be read (\(message))")
    }
}

/// What a clean stop writes beside the database (`PATH-clean`): the file's device, inode, size and modification and
/// change times to the nanosecond, taken once the stop's checkpoint has emptied the log. A file that still matches
/// at the next start-up is provably as that stop left it, so start-up skips its damage check (most of a large
/// database's start-up), as a file system skips its check after a clean unmount. Any write to the file moves its
/// change time, which no one can set back (`utimensat` restores the modification time only, and moves the change
/// time itself); a write that went no further than the log leaves the log non-empty. A server killed, or a stop whose
/// checkpoint left the log non-empty, writes nothing: the next start-up checks.
enum CleanStop {
    static func sidecar(of path: String) -> String { path + "-clean" }

    /// Called by a stop after its checkpoint, when nothing will write to the file again.
    static func record(_ path: String) {
        guard logIsEmpty(path), let fingerprint = fingerprint(path) else { return }
        let temporary = sidecar(of: path) + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array(fingerprint.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written != bytes.count || rename(temporary, sidecar(of: path)) != 0 { unlink(temporary) }
    }

    /// Whether the file and its log are as the last clean stop recorded.
    static func leftAsItWas(_ path: String) -> Bool {
        guard let recorded = read(sidecar(of: path)), logIsEmpty(path), let now = fingerprint(path) else { return false }
        return recorded == now
    }

    /// Called before the file is opened for writing: whatever this run does, only its own stop may vouch for it.
    static func forget(_ path: String) { unlink(sidecar(of: path)) }

    private static func fingerprint(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return
            "addonmock clean stop 1 dev \(st.st_dev) inode \(st.st_ino) size \(st.st_size) modified \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) changed \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)\n"
    }

    private static func logIsEmpty(_ path: String) -> Bool {
        var st = stat()
        return stat(path + "-wal", &st) != 0 ? errno == ENOENT : st.st_size == 0
    }

    /// The sidecar's text, if it is a small regular file (anything else is not a fingerprint; non-blocking, so a
    /// FIFO put there cannot hold start-up).
    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0, n < buffer.count else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }
}

/// An exclusive `flock` on the database file for as long as one server uses it: a second server (or a test run
/// in the same directory) would otherwise serve from its own cache over the first one's writes.
///
/// `flock`, not `fcntl`: SQLite's own locks are `fcntl` byte-range locks, which `flock` neither sees nor
/// disturbs on Linux. The descriptor stays open until the database is released, because closing any descriptor
/// of a file drops the process's `fcntl` locks on it.
final class DatabaseFileLock: @unchecked Sendable {
    private let fd: Int32

    init(path: String) throws(DatabaseRefused) {
        let fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            let hint = errno == ENOENT ? ": its directory does not exist" : errno == EACCES ? ": check the permissions" : ""
            throw DatabaseRefused(message: "cannot be opened (\(reason))\(hint); pick another --db")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holder(of: fd).map { "the addonmock with pid \($0)" } ?? "another process"
            close(fd)
            throw DatabaseRefused(message: "is in use by \(holder); stop it, or give this server another --db")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The pid holding a `flock` on the same file, from `/proc/locks` (Linux): `1: FLOCK ADVISORY WRITE pid maj:min:inode …`.
    private static func holder(of fd: Int32) -> Int32? {
        var st = stat()
        guard fstat(fd, &st) == 0, let f = fopen("/proc/locks", "r") else { return nil }
        defer { fclose(f) }
        let dev = UInt64(st.st_dev)
        let major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~UInt64(0xFFF))
        let minor = (dev & 0xFF) | ((dev >> 12) & ~UInt64(0xFF))
        let device = String(major, radix: 16).leftPadded(2) + ":" + String(minor, radix: 16).leftPadded(2) + ":\(st.st_ino)"
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), f) != nil {
            let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                .split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == Substring(device) else { continue }
            return Int32(fields[4])
        }
        return nil
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
