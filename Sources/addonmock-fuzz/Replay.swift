#if !FUZZING
#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stderr (Swift 6 rejects the C `stderr` global).
func printError(_ line: String) {
    var s = line + "\n"
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Runs saved inputs (files, or every file in a directory) through the fuzz checks; exits 1 on the first failure.
@main
struct Replay {
    static func main() {
        var files: [String] = []
        for argument in CommandLine.arguments.dropFirst() {
            if let dir = opendir(argument) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                    if !name.hasPrefix(".") { files.append(argument + "/" + name) }
                }
                closedir(dir)
            } else {
                files.append(argument)
            }
        }
        guard !files.isEmpty else {
            printError("usage: addonmock-fuzz FILE|DIR...")
            exit(2)
        }
        for file in files.sorted() {
            guard let f = fopen(file, "rb") else {
                printError("cannot read \(file)")
                exit(2)
            }
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while case let n = fread(&buffer, 1, buffer.count, f), n > 0 { data += buffer[..<n] }
            fclose(f)
            do {
                try FuzzHarness.check(data)
            } catch {
                printError("\(file): \(error)")
                exit(1)
            }
        }
        print("replayed \(files.count) inputs: no crash, no 5xx, every JSON answer well formed")
    }
}
#endif
