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
    /// Linear in the sizes of both objects (one pass over each, keys looked up by hash): a patch of 80,000 keys
    /// must not cost 80,000 searches of the document.
    public func applyingMergePatch(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        guard case .object(let existing) = self, !existing.isEmpty else {
            return .object(changes.compactMap { $0.value == .null ? nil : ($0.key, JSONValue.null.applyingMergePatch($0.value)) })
        }
        var changeByKey = [String: JSONValue](minimumCapacity: changes.count)
        for (key, change) in changes { changeByKey[key] = change }
        var members: [(key: String, value: JSONValue)] = []
        members.reserveCapacity(existing.count + changes.count)
        for (key, value) in existing {
            guard let change = changeByKey.removeValue(forKey: key) else {
                members.append((key, value))
                continue
            }
            if change != .null { members.append((key, value.applyingMergePatch(change))) }
        }
        // New keys, in the patch's order.
        for (key, change) in changes where change != .null && changeByKey.removeValue(forKey: key) != nil {
            members.append((key, JSONValue.null.applyingMergePatch(change)))
        }
        return .object(members)
    }

    /// Deep merge in the style of JSON merge-patch without deletion: objects merge key by key, `overlay` wins
    /// for every other type (arrays are replaced, not concatenated). Used to lay request values over template defaults.
    public func merging(_ overlay: JSONValue) -> JSONValue {
        guard case .object(var base) = self, case .object(let top) = overlay else { return overlay }
        // Small objects (template defaults, most values): a scan beats hashing. Past that, an index of the keys
        // keeps the merge linear.
        if base.count * top.count <= 256 {
            for (key, value) in top {
                if let i = base.firstIndex(where: { $0.key == key }) {
                    base[i].value = base[i].value.merging(value)
                } else {
                    base.append((key, value))
                }
            }
            return .object(base)
        }
        var position = [String: Int](minimumCapacity: base.count + top.count)
        for (i, member) in base.enumerated() where position[member.key] == nil { position[member.key] = i }
        for (key, value) in top {
            if let i = position[key] {
                base[i].value = base[i].value.merging(value)
            } else {
                position[key] = base.count
                base.append((key, value))
            }
        }
        return .object(base)
    }
}
