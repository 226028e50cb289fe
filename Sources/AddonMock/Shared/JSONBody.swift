import AddonMockCore

/// Typed reads from a decoded request body, throwing 400s that name the field and what was wrong with it.
struct BodyReader {
    let value: JSONValue
    let path: String

    init(_ value: JSONValue, path: String = "") {
        self.value = value
        self.path = path
    }

    static func parse(_ bytes: [UInt8]) throws(APIError) -> BodyReader {
        guard !bytes.isEmpty else { throw APIError(.badRequest, "request body is empty; a JSON object is required") }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw APIError.malformedBody(error) }
        guard value.isObject else {
            throw APIError(.badRequest, "request body must be a JSON object, got \(value.typeName)")
        }
        return BodyReader(value)
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func optional(_ key: String) -> JSONValue? {
        guard let v = value[key], v != .null else { return nil }
        return v
    }

    func object(_ key: String) throws(APIError) -> BodyReader {
        guard let v = optional(key) else { throw APIError(.badRequest, "\(name(key)) is required") }
        guard v.isObject else { throw APIError(.badRequest, "\(name(key)) must be an object, got \(v.typeName)") }
        return BodyReader(v, path: name(key))
    }

    func optionalObject(_ key: String) throws(APIError) -> BodyReader? {
        guard optional(key) != nil else { return nil }
        return try object(key)
    }

    func string(_ key: String) throws(APIError) -> String {
        guard let s = try optionalString(key) else { throw APIError(.badRequest, "\(name(key)) is required") }
        guard !s.isEmpty else { throw APIError(.badRequest, "\(name(key)) must not be empty") }
        return s
    }

    func optionalString(_ key: String) throws(APIError) -> String? {
        guard let v = optional(key) else { return nil }
        guard case .string(let s) = v else {
            throw APIError(.badRequest, "\(name(key)) must be a string, got \(v.typeName)")
        }
        return s
    }

    /// An object whose values are all strings (labels, annotations).
    func stringMap(_ key: String) throws(APIError) -> JSONValue? {
        guard let v = optional(key) else { return nil }
        guard case .object(let members) = v else {
            throw APIError(.badRequest, "\(name(key)) must be an object of strings, got \(v.typeName)")
        }
        for (k, item) in members where item.stringValue == nil {
            throw APIError(.badRequest, "\(name(key)).\(k) must be a string, got \(item.typeName)")
        }
        return v
    }

    /// A fixed-value field such as `kind: "Addon"`.
    func constant(_ key: String, _ expected: String) throws(APIError) {
        let s = try string(key)
        guard s == expected else { throw APIError(.badRequest, "\(name(key)) must be \"\(expected)\", got \"\(s)\"") }
    }
}
