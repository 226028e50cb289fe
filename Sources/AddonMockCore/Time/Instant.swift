/// A point in time as milliseconds since the Unix epoch: what SQLite stores and what the engine compares.
public struct Instant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (a: Instant, b: Instant) -> Bool { a.milliseconds < b.milliseconds }

    /// The last instant RFC 3339 can write (four-digit years): 9999-12-31T23:59:59.999Z.
    public static let latest = Instant(milliseconds: 253_402_300_799_999)

    /// Saturates at `latest`: a due time or a clock past it would be written with a five-digit year, which no
    /// client (and no import) reads back.
    public func adding(milliseconds ms: Int64) -> Instant {
        let (sum, overflow) = milliseconds.addingReportingOverflow(ms)
        return Instant(milliseconds: overflow || sum > Self.latest.milliseconds ? Self.latest.milliseconds : sum)
    }

    /// RFC 3339 in UTC with second precision, as the Huawei APIs print it: `2026-11-22T10:00:00Z`.
    public var rfc3339: String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = Self.civilDate(daysSinceEpoch: days)
        guard (0...9999).contains(y) else {
            return
                "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2))Z"
        }
        // Two of these are written per instance in every response: digits straight into the string's storage.
        return String(unsafeUninitializedCapacity: 20) { out in
            func put(_ v: Int64, _ width: Int, at i: Int) {
                var v = v
                for k in stride(from: i + width - 1, through: i, by: -1) { out[k] = UInt8(48 + v % 10); v /= 10 }
            }
            put(y, 4, at: 0); out[4] = 45
            put(m, 2, at: 5); out[7] = 45
            put(d, 2, at: 8); out[10] = 84
            put(secondOfDay / 3600, 2, at: 11); out[13] = 58
            put(secondOfDay % 3600 / 60, 2, at: 14); out[16] = 58
            put(secondOfDay % 60, 2, at: 17); out[19] = 90
            return 20
        }
    }

    public var description: String { rfc3339 }

    /// `rfc3339` with milliseconds (`2026-11-30T07:14:05.123Z`): for logs and exports, where they matter.
    public var rfc3339Milliseconds: String {
        let ms = milliseconds % 1000
        return String(rfc3339.dropLast()) + "." + String((ms < 0 ? ms + 1000 : ms) + 1000).dropFirst() + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int64? {
            guard from + len <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<from + len {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
            let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
            (1...12).contains(mo), (1...Self.daysIn(month: mo, year: y)).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19
        var millis: Int64 = 0
        if b[i] == 46 {
            i += 1
            var scale: Int64 = 100
            let start = i
            while i < b.count, b[i] >= 48 && b[i] <= 57 { millis += Int64(b[i] - 48) * scale; scale /= 10; i += 1 }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset: Int64 = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = Self.daysSinceEpoch(year: y, month: mo, day: d)
        self.milliseconds = ((days * 86_400 + h * 3600 + mi * 60 + s) - offset) * 1000 + millis
    }

    // Howard Hinnant's civil-date algorithms (proleptic Gregorian calendar).
    /// 28–31: the Gregorian calendar's month lengths, so 31 February or 29 February 2025 is not a time.
    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func civilDate(daysSinceEpoch z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysSinceEpoch(year y0: Int64, month m: Int64, day d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

private func pad(_ v: Int64, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}
