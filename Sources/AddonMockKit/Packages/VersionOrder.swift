import AddonMockCore

/// Orders version strings the way humans read them: `1.10.0` > `1.9.3`, numeric parts numerically,
/// other parts lexically, a leading `v` ignored.
public enum VersionOrder {
    public static func isLess(_ a: String, _ b: String) -> Bool {
        let pa = parts(a), pb = parts(b)
        for i in 0..<max(pa.count, pb.count) {
            let x = i < pa.count ? pa[i] : "0", y = i < pb.count ? pb[i] : "0"
            if x == y { continue }
            switch (Int(x), Int(y)) {
            case let (nx?, ny?): return nx < ny
            case (_?, nil): return false // 1.0.0 > 1.0.0-beta style suffixes
            case (nil, _?): return true
            default: return x < y
            }
        }
        return false
    }

    private static func parts(_ v: String) -> [Substring] {
        let trimmed = v.hasPrefix("v") || v.hasPrefix("V") ? v.dropFirst() : Substring(v)
        return trimmed.split(whereSeparator: { $0 == "." || $0 == "-" || $0 == "+" })
    }
}
