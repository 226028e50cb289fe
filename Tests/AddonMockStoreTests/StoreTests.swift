import CSQLite
import Dispatch
import Testing

@testable import AddonMockCore
@testable import AddonMockStore

#if canImport(Glibc)
import Glibc
#endif

/// A fresh database path in a private temporary directory, removed afterwards.
final class TempDatabase {
    let directory: String
    var path: String { directory + "/test.sqlite" }

    init() {
        var template = Array("/tmp/addonmock-store-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    deinit {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        rmdir(directory)
    }

    func write(_ text: String) {
        let f = fopen(path, "wb")!
        fputs(text, f)
        fclose(f)
    }
}

/// The schema as the first `step` migrations left it: a file an older addonmock made.
func migrate(_ conn: Connection, through step: Int) throws {
    for (i, sql) in Migrations.steps.prefix(step).enumerated() {
        try conn.execute(sql)
        try conn.execute("PRAGMA user_version = \(i + 1)")
    }
}

@Suite struct MigrationTests {
    @Test func freshDatabaseIsMigratedToTheLatestVersionInWALMode() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path)
        #expect(try db.read { try $0.scalarInt("PRAGMA user_version") } == Int64(Migrations.latest))
        let mode = try db.read { conn -> String in
            let s = try conn.statement("PRAGMA journal_mode")
            defer { s.finish() }
            _ = try s.step()
            return s.text(0)
        }
        #expect(mode == "wal")
    }

    @Test func reopeningKeepsDataAndDoesNotRerunMigrations() throws {
        let tmp = TempDatabase()
        do {
            let db = try Database(path: tmp.path)
            try db.write { try $0.insert(sampleResource(id: "a")) }
        }
        let again = try Database(path: tmp.path)
        #expect(try again.read { try $0.resource(id: "a") } == sampleResource(id: "a"))
        #expect(try again.read { try $0.scalarInt("PRAGMA user_version") } == Int64(Migrations.latest))
    }

    /// Checkpoints run off the commit path, but the write-ahead log must not grow without bound under a steady
    /// stream of commits, and a stop must still leave one tidy file.
    @Test func theWriteAheadLogStaysBoundedAndIsFoldedBackOnCheckpoint() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path)
        try db.write { try $0.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, payload BLOB)") }
        let payload = [UInt8](repeating: 7, count: 6_000) // two overflow pages per row
        for n in 0..<6_000 {
            try db.write { try $0.run("INSERT INTO filler VALUES (?1, ?2)", [.integer(Int64(n)), .blob(payload)]) }
        }
        func size(_ suffix: String) -> Int {
            var st = stat()
            return stat(tmp.path + suffix, &st) == 0 ? Int(st.st_size) : 0
        }
        // Without the writer's own checkpoint past the limit, 6,000 commits of 3+ pages leave 18,000+ frames: a
        // background pass never copies a log that keeps growing, so the log never starts over. With it, the log
        // holds the limit's 8,000 frames plus what arrives while a background pass finishes.
        #expect(size("-wal") < 12_000 * 4_120, "the log starts over once it passes the limit")
        db.stop()
        #expect(size("-wal") == 0)
        #expect(try db.read { try $0.scalarInt("SELECT count(*) FROM filler") } == 6_000)
    }

}

/// Start-up writes nothing to a file that is not empty or plainly an addonmock database, and one server owns a file.
@Suite struct DatabaseFileTests {
    /// A digest of the file's bytes (FNV-1a) and the names of the files beside it: "left untouched" means both
    /// are as before.
    func snapshot(_ tmp: TempDatabase) -> (digest: UInt64, size: Int, siblings: [String]) {
        let f = fopen(tmp.path, "rb")!
        defer { fclose(f) }
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        var size = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            for b in chunk[0..<n] { digest = (digest ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            size += n
        }
        let siblings = ["-wal", "-shm", "-journal"].filter { access(tmp.path + $0, F_OK) == 0 }
        return (digest, size, siblings)
    }

    func refusal(_ tmp: TempDatabase) -> String? {
        do {
            _ = try Database(path: tmp.path)
            return nil
        } catch let e as DatabaseRefused {
            return e.message
        } catch {
            return "unexpected \(error)"
        }
    }

    /// A file made by plain SQLite, as another application would.
    func foreign(_ tmp: TempDatabase, _ sql: String) throws {
        let conn = try Connection(path: tmp.path)
        try conn.execute(sql)
    }

    @Test func aNewFileIsStampedAsOurs() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path)
        #expect(try db.read { try $0.scalarInt("PRAGMA application_id") } == DatabaseIdentity.applicationID)
    }

    @Test func anotherApplicationsDatabaseIsRefusedAndLeftByteIdentical() throws {
        let tmp = TempDatabase()
        try foreign(tmp, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ada');")
        let before = snapshot(tmp)
        #expect(
            refusal(tmp) == "is a SQLite database of another application (no application_id; tables: users); refusing to touch it: pick another --db")
        #expect(snapshot(tmp) == before)
        let mode = try Connection(path: tmp.path).statement("PRAGMA journal_mode")
        #expect(try mode.step() && mode.text(0) == "delete", "not switched to WAL")
    }

    @Test func aForeignTableNamedInstancesIsNotMistakenForOurs() throws {
        let tmp = TempDatabase()
        try foreign(tmp, "CREATE TABLE instances (id TEXT); PRAGMA user_version = 1; PRAGMA application_id = 7;")
        let before = snapshot(tmp)
        #expect(refusal(tmp)?.hasPrefix("is a SQLite database of another application (application_id 0x7; tables: instances)") == true)
        #expect(snapshot(tmp) == before)
        let plain = TempDatabase()
        try foreign(plain, "CREATE TABLE instances (id TEXT); PRAGMA user_version = 1;")
        #expect(refusal(plain)?.hasPrefix("is a SQLite database of another application (no application_id; tables: instances)") == true)
    }

    @Test func aDatabaseFromANewerAddonmockIsRefusedAndLeftByteIdentical() throws {
        let tmp = TempDatabase()
        try foreign(
            tmp, "PRAGMA application_id = \(DatabaseIdentity.applicationID); PRAGMA user_version = \(Migrations.latest + 1); CREATE TABLE future (x);"
        )
        let before = snapshot(tmp)
        #expect(
            refusal(tmp)
                == "was written by a newer addonmock (schema version \(Migrations.latest + 1); this one knows up to \(Migrations.latest)); use a newer addonmock or another --db"
        )
        #expect(snapshot(tmp) == before)
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftByteIdentical() {
        let tmp = TempDatabase()
        tmp.write(String(repeating: "this is not sqlite\n", count: 300))
        let before = snapshot(tmp)
        #expect(refusal(tmp)?.hasPrefix("is not a SQLite database") == true)
        #expect(snapshot(tmp) == before)
    }

    @Test func aDamagedCopyIsRefusedAndLeftByteIdentical() throws {
        let tmp = TempDatabase()
        do {
            let db = try Database(path: tmp.path)
            for i in 0..<300 { try db.write { try $0.insert(sampleResource(id: "i\(i)", scope: "s\(i)")) } }
            db.stop()
        }
        // Scribble over the middle of the file (page 1, the header, stays intact).
        let f = fopen(tmp.path, "r+b")!
        fseek(f, 0, SEEK_END)
        let size = ftell(f)
        #expect(size > 4 * 4096)
        fseek(f, size / 2 - (size / 2) % 4096 + 100, SEEK_SET)
        let junk = [UInt8](repeating: 0xA5, count: 3000)
        fwrite(junk, 1, junk.count, f)
        fclose(f)
        let before = snapshot(tmp)
        #expect(refusal(tmp)?.hasPrefix("is damaged (") == true, "\(refusal(tmp) ?? "accepted")")
        #expect(snapshot(tmp) == before)
    }

    /// Start-up skips the damage check only for a file exactly as the last clean stop left it: not after a run that
    /// was killed, not after any write since (even with the modification time set back), not with a non-empty log.
    @Test func onlyAFileAsACleanStopLeftItSkipsTheCheck() throws {
        let tmp = TempDatabase()
        let sidecar = tmp.path + "-clean"
        func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
        func startsClean(then work: (Database) throws -> Void = { _ in }) throws -> Bool {
            let db = try Database(path: tmp.path)
            #expect(!exists(sidecar), "only this run's own stop may vouch for it")
            try work(db)
            return db.startedFromCleanStop
        }
        let stop = { (db: Database) in db.stop() }

        #expect(
            try !startsClean(then: { db in
                for i in 0..<50 { try db.write { try $0.insert(sampleResource(id: "i\(i)", scope: "s\(i)")) } }
                db.stop()
            }), "a new file has nothing to check")
        #expect(exists(sidecar))
        #expect(try startsClean(then: { db in try db.write { try $0.insert(sampleResource(id: "killed", scope: "k")) } }))
        #expect(try !startsClean(then: stop), "the run before was not stopped (as if killed)")
        #expect(try startsClean())
        #expect(!exists(sidecar), "a run without a stop leaves nothing behind")
        #expect(try !startsClean(then: stop))

        // Written since the stop (grown, cut back) with the modification time then set back: the change time tells.
        var st = stat()
        #expect(stat(tmp.path, &st) == 0)
        let f = fopen(tmp.path, "r+b")!
        fseek(f, 0, SEEK_END)
        fwrite([UInt8](repeating: 0, count: 4096), 1, 4096, f)
        fclose(f)
        #expect(truncate(tmp.path, st.st_size) == 0)
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, tmp.path, &times, 0) == 0)
        #expect(try !startsClean(then: stop))

        // A write by another program that went no further than the log.
        var other: OpaquePointer?
        #expect(sqlite3_open(tmp.path, &other) == SQLITE_OK)
        #expect(sqlite3_exec(other, "PRAGMA wal_autocheckpoint=0; DELETE FROM resources WHERE id = 'i1'", nil, nil, nil) == SQLITE_OK)
        var wal = stat()
        #expect(stat(tmp.path + "-wal", &wal) == 0 && wal.st_size > 0)
        #expect(try !startsClean(), "its log is not empty")
        sqlite3_close(other)
        // A FIFO in its place is no record, and start-up does not wait for a writer to open it.
        #expect(mkfifo(sidecar, 0o644) == 0)
        #expect(try !startsClean())
        #expect(try Database(path: tmp.path).read { try $0.scalarInt("SELECT count(*) FROM resources") } == 50, "i1 gone, \"killed\" kept")
    }

    @Test func aDatabaseFromBeforeTheStampIsStillOursAndGetsStamped() throws {
        let tmp = TempDatabase()
        do {
            let conn = try Connection(path: tmp.path)
            try migrate(conn, through: 2)
        }
        let db = try Database(path: tmp.path)
        #expect(try db.read { try $0.scalarInt("PRAGMA application_id") } == DatabaseIdentity.applicationID)
        #expect(try db.read { try $0.scalarInt("PRAGMA user_version") } == Int64(Migrations.latest))
    }

    /// Schema 4 kept an add-on's template, versions and values in columns; schema 5 keeps every kind's record as a
    /// name and documents. What a user stored before the upgrade reads back the same.
    @Test func recordsOfSchemaFourBecomeResourcesWithTheirDocuments() throws {
        let tmp = TempDatabase()
        do {
            let conn = try Connection(path: tmp.path)
            try migrate(conn, through: 4)
            try conn.execute(
                """
                INSERT INTO instances (id, service, scope, template, version, values_json, previous_version, previous_values_json,
                    annotations_json, phase, pending_operation, pending_due, pending_outcome, pending_reason, pending_message,
                    pending_target_version, pending_target_values_json, created_at, updated_at, previous_version_shown)
                VALUES ('a1', 'cce', 'c1', 'coredns', '1.28.4', '{"n":"é\\"q"}', '1.28.1', '{"old":true}', '{"k":"v"}',
                    'rollbacking', 'rollback', 5000, 'fail', 'Boom', 'it broke', '1.28.1', '{"old":true}', 1000, 2000, '1.27.0');
                INSERT INTO instances (id, service, scope, template, version, values_json, phase, created_at, updated_at)
                VALUES ('p1', 'modelarts', 'proj/pool-a', 'gpu-driver', '2.0.0', '{}', 'running', 1000, 1000);
                INSERT INTO instances (id, service, scope, template, version, values_json, phase, pending_operation, pending_due,
                    pending_outcome, created_at, updated_at)
                VALUES ('t1', 'addoncheck', 'c1', 't1', '1.30.0', '{"type":"addonUpgrade"}', 'Running', 'install', 3000, 'succeed', 1000, 1000);
                """)
        }
        let db = try Database(path: tmp.path)
        let addon = try #require(try db.read { try $0.resource(id: "a1") })
        #expect(addon.name == "coredns")
        #expect(addon.spec.string("version") == "1.28.4")
        #expect(addon.spec["values"]?.parsed() == .object([("n", .string("é\"q"))]))
        #expect(addon.spec["annotations"]?.parsed() == .object([("k", .string("v"))]))
        #expect(addon.spec["previous"]?.parsed() == .object([("version", .string("1.28.1")), ("values", .object([("old", .bool(true))]))]))
        #expect(addon.spec.string("previousVersion") == "1.27.0")
        #expect(
            addon.pending
                == PendingTransition(
                    operation: "rollback", dueAt: Instant(milliseconds: 5000), outcome: .fail(reason: "Boom", message: "it broke"),
                    target: addon.spec["previous"]))
        let plugin = try #require(try db.read { try $0.resource(service: "modelarts", scope: "proj/pool-a", name: "gpu-driver") })
        #expect(plugin.spec.members.map(\.key) == ["version", "values"], "no annotations, nothing kept")
        #expect(plugin.pending == nil)
        let check = try #require(try db.read { try $0.resource(id: "t1") })
        #expect(check.spec.string("targetVersion") == "1.30.0")
        #expect(check.spec["task"]?.parsed() == .object([("type", .string("addonUpgrade"))]))
        #expect(check.pending?.operation == "run", "a check's step is its run")
        #expect(try db.read { try $0.nextDue() } == Instant(milliseconds: 3000), "the due index came along")
    }

    /// Schema 6 indexes every record with an operation in flight, due or not: a file of schema 5 gains the index with
    /// what it holds, and start-up's count of what is in flight, the due lookups and the next due time read it
    /// instead of the whole table.
    @Test func theInFlightIndexCoversManualTransitionsAndServesStartUp() throws {
        let tmp = TempDatabase()
        do {
            let conn = try Connection(path: tmp.path)
            try migrate(conn, through: 5)
            try conn.insert(sampleResource(id: "due", scope: "c1", name: "a", dueMs: 4_000))
            try conn.insert(sampleResource(id: "manual", scope: "c1", name: "b", dueMs: nil))
            var settled = sampleResource(id: "settled", scope: "c2", name: "a")
            settled.pending = nil
            try conn.insert(settled)
        }
        func texts(_ conn: Connection, _ sql: String, column: Int32 = 0) throws -> [String] {
            let s = try conn.statement(sql)
            defer { s.finish() }
            var out: [String] = []
            while try s.step() { out.append(s.text(column)) }
            return out
        }
        let db = try Database(path: tmp.path)
        let indexes = try db.read { conn in
            try texts(conn, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'resources' AND sql IS NOT NULL")
        }
        #expect(indexes == ["resources_pending"])
        #expect(try db.read { try $0.inFlightCounts() }.map { "\($0.service)/\($0.scope)=\($0.count)" } == ["cce/c1=2"])
        #expect(try db.read { try $0.nextDue() } == Instant(milliseconds: 4_000))
        #expect(try db.read { try $0.dueResources(at: Instant(milliseconds: 5_000)) }.map(\.id) == ["due"])
        let plans = try db.read { conn in
            try [
                "SELECT service, scope, count(*) FROM resources INDEXED BY resources_pending WHERE pending_operation IS NOT NULL GROUP BY service, scope",
                "SELECT id FROM resources WHERE pending_operation IS NOT NULL AND pending_due <= 1 ORDER BY pending_due LIMIT 5",
                "SELECT min(pending_due) FROM resources WHERE pending_operation IS NOT NULL AND pending_due IS NOT NULL",
            ].map { sql in try texts(conn, "EXPLAIN QUERY PLAN " + sql, column: 3).joined(separator: "; ") }
        }
        for plan in plans { #expect(plan.contains("INDEX resources_pending"), "\(plan)") }
    }

    @Test func oneServerPerFile() throws {
        let tmp = TempDatabase()
        do {
            let first = try Database(path: tmp.path)
            #expect(refusal(tmp) == "is in use by the addonmock with pid \(getpid()); stop it, or give this server another --db")
            _ = first
        }
        #expect(refusal(tmp) == nil, "free again once the first is released")
    }
}

func sampleResource(
    id: String, service: String = "cce", scope: String = "c1", name: String = "coredns",
    createdMs: Int64 = 1_000, dueMs: Int64? = 2_000
) -> Resource {
    Resource(
        id: id, service: service, scope: scope, name: name,
        spec: JSONDocument(trusted: Array(#"{"version":"1.2.3","values":{"basic":{"x":"é"}},"previous":{"version":"1.2.0","values":{}}}"#.utf8)),
        status: JSONDocument(trusted: Array(#"{"currentNode":3}"#.utf8)),
        phase: .upgrading, reason: "r", message: "m",
        pending: PendingTransition(
            operation: "rollback", dueAt: dueMs.map { Instant(milliseconds: $0) },
            outcome: .fail(reason: "Boom", message: "it broke"),
            target: RawJSON(trusted: Array(#"{"version":"1.2.0","values":[1]}"#.utf8))),
        createdAt: Instant(milliseconds: createdMs), updatedAt: Instant(milliseconds: createdMs + 5))
}

@Suite struct ResourceRepositoryTests {
    let db: Database

    init() throws { db = try Database(path: ":memory:") }

    /// Text is bound by its byte length: a NUL is part of the value, never a terminator that aliases a prefix.
    @Test func textWithANulIsStoredWholeAndMatchesOnlyItself() throws {
        let tmp = TempDatabase()
        do {
            let db = try Database(path: tmp.path)
            var odd = sampleResource(id: "with\0nul", scope: "victim\0other")
            odd.reason = "Bad\0Tail"
            try db.write { try $0.insert(sampleResource(id: "with", scope: "victim")) }
            try db.write { try $0.insert(odd) }
        }
        let db = try Database(path: tmp.path)
        #expect(try db.read { try $0.resource(id: "with\0nul") }?.reason == "Bad\0Tail")
        #expect(try db.read { try $0.resource(id: "with") }?.scope == "victim")
        #expect(try db.read { try $0.resources(service: "cce", scope: "victim") }.map(\.id) == ["with"])
        #expect(try db.read { try $0.resources(service: "cce", scope: "victim\0other") }.map(\.id) == ["with\0nul"])
        #expect(try db.read { try $0.resource(id: "with\0") } == nil)
    }

    @Test func roundTripsEveryField() throws {
        let i = sampleResource(id: "x")
        try db.write { try $0.insert(i) }
        #expect(try db.read { try $0.resource(id: "x") } == i)

        var plain = sampleResource(id: "y", name: "npd", dueMs: nil)
        plain.spec = .empty
        plain.status = .empty
        plain.pending = nil
        plain.phase = .running
        try db.write { try $0.insert(plain) }
        #expect(try db.read { try $0.resource(id: "y") } == plain)

        var manual = sampleResource(id: "z", name: "everest", dueMs: nil)
        manual.pending?.outcome = .succeed
        try db.write { try $0.insert(manual) }
        #expect(try db.read { try $0.resource(id: "z") } == manual)
    }

    @Test func updatesAndDeletes() throws {
        var i = sampleResource(id: "x")
        try db.write { try $0.insert(i) }
        i.phase = .running
        i.pending = nil
        i.spec["version"] = .string("2.0.0")
        i.updatedAt = Instant(milliseconds: 9_999)
        try db.write { try $0.update(i) }
        #expect(try db.read { try $0.resource(id: "x") } == i)
        try db.write { try $0.deleteResource(id: "x") }
        #expect(try db.read { try $0.resource(id: "x") } == nil)
    }

    @Test func onePerServiceScopeAndName() throws {
        try db.write { try $0.insert(sampleResource(id: "a")) }
        #expect(throws: SQLiteError.self) { try db.write { try $0.insert(sampleResource(id: "b")) } }
        // The same name in another cluster or another service is fine.
        try db.write { try $0.insert(sampleResource(id: "c", scope: "c2")) }
        try db.write { try $0.insert(sampleResource(id: "d", service: "autopilot")) }
        #expect(try db.read { try $0.resource(service: "autopilot", scope: "c1", name: "coredns") }?.id == "d")
        #expect(try db.read { try $0.resourceCount() } == 3)
    }

    @Test func failedTransactionLeavesNothingBehind() throws {
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try db.write { conn in
                try conn.insert(sampleResource(id: "a"))
                throw Abort()
            }
        }
        #expect(try db.read { try $0.resource(id: "a") } == nil)
    }

    @Test func listsByScopeOldestFirst() throws {
        try db.write { conn in
            try conn.insert(sampleResource(id: "late", name: "npd", createdMs: 3_000))
            try conn.insert(sampleResource(id: "early", name: "everest", createdMs: 1_000))
            try conn.insert(sampleResource(id: "other", scope: "c2", createdMs: 2_000))
        }
        #expect(try db.read { try $0.resources(service: "cce", scope: "c1") }.map(\.id) == ["early", "late"])
        // Same millisecond: creation order, whatever the ids.
        try db.write { conn in
            try conn.insert(sampleResource(id: "zzz", scope: "c3", name: "a", createdMs: 5_000))
            try conn.insert(sampleResource(id: "aaa", scope: "c3", name: "b", createdMs: 5_000))
        }
        #expect(try db.read { try $0.resources(service: "cce", scope: "c3") }.map(\.id) == ["zzz", "aaa"])
        #expect(try db.read { try $0.resources(service: "autopilot", scope: "c1") }.isEmpty)
    }

    @Test func findsDueResourcesOnly() throws {
        try db.write { conn in
            try conn.insert(sampleResource(id: "soon", name: "a", dueMs: 1_500))
            try conn.insert(sampleResource(id: "later", name: "b", dueMs: 5_000))
            try conn.insert(sampleResource(id: "manual", name: "c", dueMs: nil))
        }
        #expect(try db.read { try $0.dueResources(at: Instant(milliseconds: 2_000)) }.map(\.id) == ["soon"])
        #expect(try db.read { try $0.dueResources(at: Instant(milliseconds: 10_000)) }.map(\.id) == ["soon", "later"])
    }

    @Test func rejectsRowsItDidNotWrite() throws {
        try db.write { try $0.insert(sampleResource(id: "x")) }
        try db.write { try $0.run("UPDATE resources SET phase = '' WHERE id = 'x'") }
        #expect(throws: Connection.CorruptRow.self) { try db.read { try $0.resource(id: "x") } }
    }
}

/// Writes run in a shared open transaction that a committer thread commits: each write still stands or falls
/// alone, is durable when a plain `write` returns, and for a request (`RequestWrites`) hands back what the
/// request's answer waits for instead; reads on a file see committed data only.
@Suite struct CommitTests {
    struct Refused: Error {}

    /// What a second, independent connection to the file sees: only what is committed.
    func committedIDs(_ path: String) throws -> Set<String> {
        let other = try Connection(path: path)
        return Set(try other.allResources(services: ["cce", "autopilot", "modelarts"]).map(\.id))
    }

    @Test func aPlainWriteIsCommittedWhenItReturns() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path)
        try db.write { try $0.insert(sampleResource(id: "a")) }
        #expect(try committedIDs(tmp.path) == ["a"])
    }

    @Test func aDeferredWriteIsInvisibleToReadersUntilItsCommit() throws {
        let tmp = TempDatabase()
        // A long gathering window: while this thread is still answering its "request", the commit waits.
        let db = try Database(path: tmp.path, gatherMicroseconds: 5_000_000)
        let request = db.beginRequest()
        try db.write(for: request) { try $0.insert(sampleResource(id: "a")) }
        #expect(try db.read { try $0.resource(id: "a") } == nil)
        #expect(try committedIDs(tmp.path).isEmpty)
        let commit = try #require(request.end())
        try commit.wait()
        #expect(try db.read { try $0.resource(id: "a") }?.id == "a")
        #expect(try committedIDs(tmp.path) == ["a"])
    }

    @Test func aWriteThatThrowsIsRolledBackAloneInsideASharedTransaction() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path, gatherMicroseconds: 5_000_000)
        let request = db.beginRequest()
        try db.write(for: request) { try $0.insert(sampleResource(id: "a")) }
        #expect(throws: Refused.self) {
            try db.write(for: request) { conn in
                try conn.insert(sampleResource(id: "b", scope: "c2"))
                throw Refused()
            }
        }
        try db.write(for: request) { try $0.insert(sampleResource(id: "c", scope: "c3")) }
        try #require(request.end()).wait()
        #expect(try committedIDs(tmp.path) == ["a", "c"])
    }

    @Test func concurrentDeferredWritesAllBecomeDurable() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path)
        let pending = Locked<[PendingCommit]>([])
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            let request = db.beginRequest()
            try? db.write(for: request) { try $0.insert(sampleResource(id: "i\(i)", scope: "c\(i)")) }
            if let commit = request.end() { pending.withLock { $0.append(commit) } }
        }
        let all = pending.withLock { $0 }
        #expect(all.count == 200)
        for commit in all { try commit.wait() }
        #expect(try committedIDs(tmp.path).count == 200)
    }

    @Test func writesLostWithTheirTransactionAreToldSoAndLaterOnesStillCommit() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path, gatherMicroseconds: 5_000_000)
        // One request open the whole time, so nothing is committed before the end.
        let open = db.beginRequest()
        let firstRequest = db.beginRequest()
        try db.write(for: firstRequest) { try $0.insert(sampleResource(id: "a")) }
        let first = firstRequest.end()
        // As SQLite does after an I/O error or a full disk: the whole transaction is rolled back under us.
        #expect(throws: SQLiteError.self) {
            try db.write(for: open) { conn in
                try conn.insert(sampleResource(id: "b", scope: "c2"))
                try conn.run("ROLLBACK")
            }
        }
        let lastRequest = db.beginRequest()
        try db.write(for: lastRequest) { try $0.insert(sampleResource(id: "c", scope: "c3")) }
        let last = lastRequest.end()
        _ = open.end()
        #expect(throws: SQLiteError.self) { try #require(first).wait() }
        try #require(last).wait()
        #expect(try committedIDs(tmp.path) == ["c"])
    }

    /// Readers and the checkpointer may hold the log's write lock for an instant (re-reading the shared index
    /// while it changes); the writer must wait for it, not answer "database is locked" (seen once in 700k
    /// requests of the mixed benchmark before the writer had a busy timeout).
    @Test func theWriterWaitsForABusyLogInsteadOfFailing() throws {
        let tmp = TempDatabase()
        let db = try Database(path: tmp.path)
        #expect(try db.write { try $0.scalarInt("PRAGMA busy_timeout") } == 5000)
        // Another connection holding the write lock for a moment: the write waits and succeeds.
        let other = Locked(try Connection(path: tmp.path))
        try other.withLock { try $0.run("BEGIN IMMEDIATE") }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { other.withLock { try? $0.run("COMMIT") } }
        try db.write { try $0.insert(sampleResource(id: "a")) }
        #expect(try committedIDs(tmp.path) == ["a"])
    }

    @Test func aFailedCommitIsReportedToEveryWriteItHeld() throws {
        struct DiskFull: Error {}
        let outcomes = Locked<[Bool]>([])
        let attempts = Locked(0)
        // The first commit fails (as on a full disk), the second succeeds.
        let committer = Committer(gatherMicroseconds: 0) {
            let n = attempts.withLock {
                $0 += 1; return $0
            }
            let outcome: Committer.Outcome = n == 1 ? (2, DiskFull()) : (3, nil)
            return [outcome]
        }
        committer.start()
        defer { committer.stop() }
        committer.wrote(CommitTicket(number: 2))
        #expect(throws: DiskFull.self) { try committer.waitDurable(CommitTicket(number: 1)) }
        #expect(throws: DiskFull.self) { try committer.waitDurable(CommitTicket(number: 2)) }
        committer.whenDurable(CommitTicket(number: 1)) { error in outcomes.withLock { $0.append(error == nil) } }
        committer.wrote(CommitTicket(number: 3))
        try committer.waitDurable(CommitTicket(number: 3))
        #expect(committer.isDurable(CommitTicket(number: 3)))
        #expect(!committer.isDurable(CommitTicket(number: 2)))
        #expect(outcomes.withLock { $0 } == [false])
    }
}

/// The store keeps whatever phase names a kind's table uses, and whatever documents it gives; these tests use an
/// add-on's.
extension Phase {
    static let upgrading: Phase = "upgrading", running: Phase = "running"
}
