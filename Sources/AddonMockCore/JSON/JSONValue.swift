/// A JSON document as the emulator needs it: object keys keep their order (clients see back what they sent)
/// and numbers keep their literal text (no Double round-trip turns `1.10` into `1.1` or loses big integers).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int? {
        if case .number(let n) = self { return Int(n) }
        return nil
    }

    public var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    /// The name of the JSON type, for error messages ("must be an object, got string").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// RFC 7386 JSON merge patch: objects merge recursively, `null` removes a key, anything else replaces.
    public func applyingMergePatch(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var members: [(key: String, value: JSONValue)] = []
        if case .object(let existing) = self { members = existing }
        for (key, change) in changes {
            let i = members.firstIndex { $0.key == key }
            if change == .null {
                if let i { members.remove(at: i) }
            } else if let i {
                members[i].value = members[i].value.applyingMergePatch(change)
            } else {
                members.append((key, JSONValue.null.applyingMergePatch(change)))
            }
        }
        return .object(members)
    }

    /// Deep merge in the style of JSON merge-patch without deletion: objects merge key by key, `overlay` wins
    /// for every other type (arrays are replaced, not concatenated). Used to lay request values over template defaults.
    public func merging(_ overlay: JSONValue) -> JSONValue {
        guard case .object(var base) = self, case .object(let top) = overlay else { return overlay }
        for (key, value) in top {
            if let i = base.firstIndex(where: { $0.key == key }) {
                base[i].value = base[i].value.merging(value)
            } else {
                base.append((key, value))
            }
        }
        return .object(base)
    }
}
