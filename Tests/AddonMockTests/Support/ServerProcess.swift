import AddonMockTestSupport
import Foundation

/// The built `addonmock` executable, run as a child process: for what only a real process shows
/// (the ready line, signals, exit codes, SIGKILL and restart).
final class ServerProcess {
    let process: Process
    let port: UInt16
    let readyLine: String
    private let stdoutPipe: Pipe
    private let stderrPipe: Pipe
    /// stderr as read so far: drained as it comes (one access line per request would otherwise fill the pipe and
    /// stall the server).
    private let stderrText = Collected()

    /// Next to the test bundle in the build folder (the test target depends on the executable).
    static var executable: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("addonmock").path
    }

    static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ADDONMOCK_") }
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Starts the server and waits for its one stdout line.
    init(_ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        process.environment = Self.environment(extra)
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        stdoutPipe = Pipe()
        stderrPipe = Pipe()
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        stderrPipe.fileHandleForReading.readabilityHandler = { [stderrText] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } // end of file
            stderrText.append(data)
        }
        try process.run()
        guard let line = Self.readLine(stdoutPipe.fileHandleForReading.fileDescriptor, timeoutMs: 10_000) else {
            process.terminate()
            process.waitUntilExit()
            stderrPipe.fileHandleForReading.readabilityHandler = nil
            stderrText.append(stderrPipe.fileHandleForReading.readDataToEndOfFile())
            throw TestHTTPError(description: "server did not print its ready line; stderr: \(stderrText.text)")
        }
        readyLine = line
        guard let portText = line.split(separator: ":").last, let port = UInt16(portText) else {
            throw TestHTTPError(description: "unexpected ready line: \(line)")
        }
        self.port = port
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for the process to end; returns its exit status (or 128 + signal).
    func waitForExit() -> Int32 {
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    var remainingStdout: String { String(decoding: stdoutPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
    /// What the server wrote to stderr so far (all of it once it has exited).
    var stderr: String {
        if !process.isRunning {
            stderrPipe.fileHandleForReading.readabilityHandler = nil
            let rest = stderrPipe.fileHandleForReading.readDataToEndOfFile()
            stderrText.append(rest)
        }
        return stderrText.text
    }

    /// A body goes as JSON, as every client sends it (the control API refuses anything else from a page).
    func request(_ method: String, _ target: String, body: String? = nil) throws -> HTTPResult {
        try RawHTTPConnection(port: port).send(
            method, target, headers: body == nil ? [] : [("Content-Type", "application/json")], body: body.map { Array($0.utf8) }, close: true)
    }

    /// Runs the executable to completion (for start-up failures), with a time limit.
    static func run(
        _ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = environment(extra)
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            // A server that started instead of failing: stop it and report.
            p.terminate()
            p.waitUntilExit()
            return (-1, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "still running after 10 s")
        }
        return (
            p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    private static func readLine(_ fd: Int32, timeoutMs: Int32) -> String? {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var b: UInt8 = 0
            guard read(fd, &b, 1) == 1 else { return nil }
            if b == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(b)
        }
        return nil
    }
}

/// A private temporary directory, removed with everything in it.
final class TempDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("addonmock-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
}

/// Text appended from a pipe's reader thread and read from the test's.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()

    func append(_ data: Data) { lock.withLock { bytes.append(data) } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}
