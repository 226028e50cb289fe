import AddonMockCore
import Crypto
import Synchronization

/// Random-looking, unique identifiers. Never seeded by `--seed`: a reproducible run restarted on the same
/// database must not mint the uid of an existing instance again.
///
/// Each id is a counter pushed through the SplitMix64 finaliser (a bijection on 64 bits) under two keys drawn
/// from the system generator once per process: unique within a process, unpredictable across processes, and
/// free of the `getrandom` system calls that drawing fresh randomness per request would cost.
public enum Identifiers {
    public static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static let keys: (UInt64, UInt64) = {
        var g = SystemRandomNumberGenerator()
        return (g.next(), g.next())
    }()
    private static let counter = Atomic<UInt64>(0)

    /// 128 fresh bits.
    private static func nextWords() -> (UInt64, UInt64) {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return (SeededRandom.finalize(n ^ keys.0), SeededRandom.finalize(n &+ keys.1))
    }

    /// RFC 9562 version 7 UUID, lower case: 48 bits of Unix time in milliseconds (real time, whatever the virtual
    /// clock says), then 74 random bits. Time-ordered ids make the primary-key index grow at its right edge; random
    /// (version 4) ids dirtied a random index page per insert, which every checkpoint then copied back.
    public static func uuid(unixMilliseconds: Int64 = SystemClock().now().milliseconds) -> String {
        let (a, b) = nextWords()
        let ms = UInt64(max(0, unixMilliseconds))
        return String(unsafeUninitializedCapacity: 36) { out in
            var n = 0
            for i in 0..<16 {
                let byte: UInt8
                switch i {
                case 0..<6: byte = UInt8(truncatingIfNeeded: ms >> UInt64(8 * (5 - i)))
                case 6: byte = 0x70 | UInt8(truncatingIfNeeded: a >> 8) & 0x0F
                case 7: byte = UInt8(truncatingIfNeeded: a)
                case 8: byte = 0x80 | UInt8(truncatingIfNeeded: b >> 56) & 0x3F
                default: byte = UInt8(truncatingIfNeeded: b >> UInt64(8 * (15 - i)))
                }
                if i == 4 || i == 6 || i == 8 || i == 10 { out[n] = UInt8(ascii: "-"); n += 1 }
                out[n] = hex[Int(byte >> 4)]
                out[n + 1] = hex[Int(byte & 0xF)]
                n += 2
            }
            return n
        }
    }

    /// 32 hex digits, the shape of Huawei Cloud request ids.
    public static func requestID() -> String {
        let (a, b) = nextWords()
        // Every request makes one: digits computed, not looked up in an array (no bounds checks, no lazy global).
        return String(unsafeUninitializedCapacity: 32) { out in
            for i in 0..<32 {
                let word = i < 16 ? a : b
                let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * (i & 15))) & 0xF
                out[i] = nibble < 10 ? nibble &+ 48 : nibble &+ 87
            }
            return 32
        }
    }
}

extension Identifiers {
    /// Names derived ids live under (RFC 4122's URL namespace, with `addonmock:` before the name).
    private static let namespace: [UInt8] = [0x6B, 0xA7, 0xB8, 0x11, 0x9D, 0xAD, 0x11, 0xD1, 0x80, 0xB4, 0x00, 0xC0, 0x4F, 0xD4, 0x30, 0xC8]

    /// An RFC 4122 version 5 (name-based, SHA-1) UUID of `name`: stable for the same name, so a plug-in's
    /// workloads keep their uids across reads and restarts without being stored.
    public static func derivedUUID(_ name: String) -> String {
        var bytes = Array(Insecure.SHA1.hash(data: namespace + Array("addonmock:\(name)".utf8)).prefix(16))
        bytes[6] = bytes[6] & 0x0F | 0x50
        bytes[8] = bytes[8] & 0x3F | 0x80
        var out = ""
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out += "-" }
            out += String(decoding: [hex[Int(b >> 4)], hex[Int(b & 0xF)]], as: UTF8.self)
        }
        return out
    }
}
