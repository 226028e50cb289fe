/// SplitMix64: small, fast and reproducible, so `--seed N` repeats the same jitter (and, later, the same
/// probabilistic faults) run after run. Not for anything security-related.
public final class SeededRandom: Sendable {
    private let state: Locked<UInt64>

    public init(seed: UInt64) { state = Locked(seed) }

    public func next() -> UInt64 {
        state.withLock { s in
            s &+= 0x9E37_79B9_7F4A_7C15
            return Self.finalize(s)
        }
    }

    /// SplitMix64's output function: a bijection on 64 bits that scatters neighbouring inputs.
    public static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `range` (inclusive).
    public func next(in range: ClosedRange<Int64>) -> Int64 {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        return span == 0 ? Int64(bitPattern: next()) : range.lowerBound + Int64(next() % span)
    }
}
