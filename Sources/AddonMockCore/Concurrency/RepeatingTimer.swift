import Dispatch

/// Runs work every so many milliseconds on a serial queue of its own until stopped: the one repeating timer of the
/// process (the HTTP reaper). `@unchecked`: DispatchSourceTimer is thread-safe but not annotated Sendable, and
/// `timer` is set once, before any run.
public final class RepeatingTimer: @unchecked Sendable {
    private let queue: DispatchQueue
    private var timer: DispatchSourceTimer?

    public init(label: String) { queue = DispatchQueue(label: label) }

    public func start(everyMs ms: Int, _ work: @escaping @Sendable () -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(ms), repeating: .milliseconds(ms), leeway: .milliseconds(ms / 4))
        timer.setEventHandler(handler: work)
        self.timer = timer
        timer.resume()
    }

    /// Returns once no run is in progress and none will start; the work (and what it captured) is let go.
    public func stop() {
        timer?.cancel()
        queue.sync {}
        timer = nil
    }
}
