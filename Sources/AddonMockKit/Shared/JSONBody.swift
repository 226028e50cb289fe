import AddonMockCore

/// Typed reads from a decoded request body, throwing 400s that name the field and what was wrong with it.
public struct BodyReader {
    public let value: JSONValue
    public let path: String

    public init(_ value: JSONValue, path: String = "") {
        self.value = value
        self.path = path
    }

    /// An empty body reads as `{}` (control calls whose fields are all optional).
    public static func parseOptional(_ bytes: [UInt8]) throws(APIError) -> BodyReader {
        bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) ? BodyReader(.object([])) : try parse(bytes)
    }

    public static func parse(_ bytes: [UInt8]) throws(APIError) -> BodyReader {
        guard !bytes.isEmpty else { throw APIError(.badRequest, "request body is empty; a JSON object is required") }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw APIError.malformedBody(error) }
        guard value.isObject else {
            throw APIError(.badRequest, "request body must be a JSON object, got \(value.typeName)")
        }
        return BodyReader(value)
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func optional(_ key: String) -> JSONValue? {
        guard let v = value[key], v != .null else { return nil }
        return v
    }

    public func object(_ key: String) throws(APIError) -> BodyReader {
        guard let v = optional(key) else { throw APIError(.badRequest, "\(name(key)) is required") }
        guard v.isObject else { throw APIError(.badRequest, "\(name(key)) must be an object, got \(v.typeName)") }
        return BodyReader(v, path: name(key))
    }

    public func optionalObject(_ key: String) throws(APIError) -> BodyReader? {
        guard optional(key) != nil else { return nil }
        return try object(key)
    }

    public func string(_ key: String) throws(APIError) -> String {
        guard let s = try optionalString(key) else { throw APIError(.badRequest, "\(name(key)) is required") }
        guard !s.isEmpty else { throw APIError(.badRequest, "\(name(key)) must not be empty") }
        return s
    }

    public func optionalString(_ key: String) throws(APIError) -> String? {
        guard let v = optional(key) else { return nil }
        guard case .string(let s) = v else {
            throw APIError(.badRequest, "\(name(key)) must be a string, got \(v.typeName)")
        }
        return s
    }

    /// A required identifier (cluster id, template name…): see `IdentifierRule`.
    public func identifier(_ key: String) throws(APIError) -> String {
        try IdentifierRule.check(try string(key), field: name(key))
    }

    public func optionalIdentifier(_ key: String) throws(APIError) -> String? {
        guard let s = try optionalString(key) else { return nil }
        return try IdentifierRule.check(s, field: name(key))
    }

    /// An object whose values are all strings (labels, annotations).
    public func stringMap(_ key: String) throws(APIError) -> JSONValue? {
        guard let v = optional(key) else { return nil }
        guard case .object(let members) = v else {
            throw APIError(.badRequest, "\(name(key)) must be an object of strings, got \(v.typeName)")
        }
        for (k, item) in members where item.stringValue == nil {
            throw APIError(.badRequest, "\(name(key)).\(k) must be a string, got \(item.typeName)")
        }
        return v
    }

    /// Refuses fields it does not know (the control API never silently ignores a typo).
    public func allowOnly(_ keys: Set<String>) throws(APIError) {
        guard case .object(let members) = value else { return }
        for (k, _) in members where !keys.contains(k) {
            throw APIError(.badRequest, "unknown field \(name(k)); expected one of: \(keys.sorted().joined(separator: ", "))")
        }
    }

    public func optionalBool(_ key: String) throws(APIError) -> Bool? {
        guard let v = optional(key) else { return nil }
        guard case .bool(let b) = v else { throw APIError(.badRequest, "\(name(key)) must be a boolean, got \(v.typeName)") }
        return b
    }

    /// A JSON number as a Double (with the field named in the error).
    public func optionalNumber(_ key: String) throws(APIError) -> Double? {
        guard let v = optional(key) else { return nil }
        guard case .number(let n) = v, let d = Double(n) else { throw APIError(.badRequest, "\(name(key)) must be a number, got \(v.typeName)") }
        return d
    }

    /// A whole number within `range`.
    public func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let d = try optionalNumber(key) else { return nil }
        guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw APIError(.badRequest, "\(name(key)) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(d)
    }
}

/// Best-effort look into a request body for fault matching: a string at a path, or nil.
public func peekString(_ body: [UInt8], _ path: String...) -> String? {
    guard !body.isEmpty, var value = try? JSONParser.parse(body) else { return nil }
    for key in path {
        guard let next = value[key] else { return nil }
        value = next
    }
    return value.stringValue
}
