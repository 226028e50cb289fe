/// Schema history, applied in order and recorded in `PRAGMA user_version`. Never edit a shipped step:
/// add a new one, so every existing database upgrades the same way.
public enum Migrations {
    public static let steps: [String] = [
        // 1: service-neutral instances with their pending transition.
        """
        CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            scope TEXT NOT NULL,
            template TEXT NOT NULL,
            version TEXT NOT NULL,
            values_json TEXT NOT NULL,
            previous_version TEXT,
            previous_values_json TEXT,
            annotations_json TEXT NOT NULL DEFAULT '{}',
            phase TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            pending_operation TEXT,
            pending_due INTEGER,
            pending_outcome TEXT,
            pending_reason TEXT,
            pending_message TEXT,
            pending_target_version TEXT,
            pending_target_values_json TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (service, scope, template)
        );
        CREATE INDEX instances_by_scope ON instances (service, scope, created_at);
        CREATE INDEX instances_due ON instances (pending_due) WHERE pending_due IS NOT NULL;
        """,
        // 2: listing a scope uses the (service, scope, template) unique index and sorts the few rows it finds;
        // a second index on the same prefix only cost every insert another page write.
        """
        DROP INDEX instances_by_scope;
        """,
        // 3: the file says it is an addonmock database (`DatabaseIdentity`), so start-up can tell it from another
        // application's SQLite file before writing anything.
        """
        PRAGMA application_id = \(DatabaseIdentity.applicationID);
        """,
        // 4: the version before the last upgrade or rollback, which outlives the kept revision (CCE's
        // status.previousVersion after a rollback). NULL on older rows: the kept revision's version stands in.
        """
        ALTER TABLE instances ADD COLUMN previous_version_shown TEXT;
        """,
        // 5: one row shape for every kind of resource: its name and its documents (spec, status) as JSON, instead of
        // an add-on's template, version, values and kept revision in columns of their own. Add-ons and plug-ins
        // (and add-on checks) keep theirs in their spec: {"version", "values", "annotations"?, "previous"?,
        // "previousVersion"?}, values spliced in as stored; an add-on check keeps {"targetVersion", "task"}, and its
        // run is named `run`.
        """
        CREATE TABLE resources (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            scope TEXT NOT NULL,
            name TEXT NOT NULL,
            spec_json TEXT NOT NULL DEFAULT '{}',
            status_json TEXT NOT NULL DEFAULT '{}',
            phase TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            pending_operation TEXT,
            pending_due INTEGER,
            pending_outcome TEXT,
            pending_reason TEXT,
            pending_message TEXT,
            pending_target_json TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (service, scope, name)
        );
        INSERT INTO resources (id, service, scope, name, spec_json, status_json, phase, reason, message, pending_operation,
            pending_due, pending_outcome, pending_reason, pending_message, pending_target_json, created_at, updated_at)
        SELECT id, service, scope, template,
            CASE WHEN service = 'addoncheck' THEN '{"targetVersion":' || json_quote(version) || ',"task":' || values_json || '}' ELSE
            '{"version":' || json_quote(version) || ',"values":' || values_json
                || CASE WHEN annotations_json != '{}' THEN ',"annotations":' || annotations_json ELSE '' END
                || CASE WHEN previous_version IS NOT NULL
                    THEN ',"previous":{"version":' || json_quote(previous_version) || ',"values":' || coalesce(previous_values_json, '{}') || '}'
                    ELSE '' END
                || CASE WHEN previous_version_shown IS NOT NULL THEN ',"previousVersion":' || json_quote(previous_version_shown) ELSE '' END
                || '}' END,
            '{}', phase, reason, message,
            CASE WHEN service = 'addoncheck' AND pending_operation = 'install' THEN 'run' ELSE pending_operation END,
            pending_due, pending_outcome, pending_reason, pending_message,
            CASE WHEN pending_target_version IS NOT NULL
                THEN '{"version":' || json_quote(pending_target_version) || ',"values":' || coalesce(pending_target_values_json, '{}') || '}'
                ELSE NULL END,
            created_at, updated_at
        FROM instances;
        DROP TABLE instances;
        CREATE INDEX resources_due ON resources (pending_due) WHERE pending_due IS NOT NULL;
        """,
        // 6: one index over every record with an operation in flight, due or not (the manual profile's have no due
        // time), instead of one over the due ones: start-up counts what is in flight per service and scope, which
        // scanned the whole table without it (121M instructions, ~40 ms, at 100k records). Keyed by due time first,
        // so finding what is due stays a range scan; service and scope are there for the count, which walks this
        // index and the in-flight rows behind it rather than every row.
        """
        DROP INDEX resources_due;
        CREATE INDEX resources_pending ON resources (pending_due, service, scope) WHERE pending_operation IS NOT NULL;
        """,
    ]

    public static var latest: Int { steps.count }

    public struct TooNew: Error, CustomStringConvertible {
        public let found: Int
        public var description: String {
            "database schema version \(found) is newer than this addonmock supports (\(Migrations.latest)); use a newer addonmock or another --db"
        }
    }

    static func apply(on conn: Connection, from version: Int) throws {
        guard version <= latest else { throw TooNew(found: version) }
        for (i, sql) in steps.enumerated() where i + 1 > version {
            try conn.transaction { c in
                try c.execute(sql)
                try c.execute("PRAGMA user_version = \(i + 1)")
            }
        }
    }
}
