/// Random identifiers. Never seeded: a reproducible run restarted on the same database must not mint
/// the uid of an existing instance again.
enum Identifiers {
    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// RFC 4122 version 4 UUID, lower case.
    static func uuid() -> String {
        var g = SystemRandomNumberGenerator()
        let words = [g.next(), g.next()]   // two system calls, not sixteen
        var bytes = words.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// 32 hex digits, the shape of Huawei Cloud request ids.
    static func requestID() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next(), b = g.next()
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [a, b] {
            for shift in stride(from: 60, through: 0, by: -4) { out.append(hex[Int((word >> UInt64(shift)) & 0xF)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Identifiers {
    /// A UUID-shaped id derived from `name` (FNV-1a, two seeds): stable for the same name, so a plug-in's
    /// workloads keep their uids across reads and restarts without being stored.
    static func derivedUUID(_ name: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            var h = seed
            for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            return h
        }
        let words = [fnv(0xCBF2_9CE4_8422_2325), fnv(0x8422_2325_CBF2_9CE4)]
        var bytes = words.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (56 - 8 * UInt64($0))) } }
        bytes[6] = bytes[6] & 0x0F | 0x50   // version 5 layout: name-based
        bytes[8] = bytes[8] & 0x3F | 0x80
        var out = ""
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out += "-" }
            out += String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xF)]], as: UTF8.self)
        }
        return out
    }
}
