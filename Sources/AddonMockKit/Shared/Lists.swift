extension Array where Element == String {
    /// "a", "a or b", "a, b or c": how messages list choices.
    public var orList: String {
        count < 2 ? joined() : dropLast().joined(separator: ", ") + " or " + last!
    }
}

extension Array where Element: Hashable {
    /// Each element once, where it first appears (names several phases share, choices several kinds offer).
    public var uniqued: [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

extension String {
    /// "a delete", "an upgrade": the word with its indefinite article, by its first letter.
    public var withArticle: String {
        let startsWithVowel = first.map { "aeiou".contains($0) } ?? false
        return (startsWithVowel ? "an " : "a ") + self
    }
}

extension StringProtocol {
    /// Without the spaces at either end (comma-separated flag values, label selector terms).
    public func trimmingSpaces() -> String {
        var s = self[...]
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
