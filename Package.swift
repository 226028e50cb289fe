// swift-tools-version:6.0
import PackageDescription

/// Release builds check exclusive access statically only: the dynamic check costs a GET 660 instructions (of ~70k;
/// `swift_beginAccess` on the per-request classes). Debug builds, which every test suite runs, keep it.
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "addonmock",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "addonmock", targets: ["addonmock"])
    ],
    // Exact versions: an application builds the same code wherever it is built. Package.resolved records the
    // revisions too, but only of the package mirror it was resolved against (see docs/docker.md).
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
    ],
    targets: [
        // System libraries, found through pkg-config. libmicrohttpd is the system's when it is 1.0 or newer, else the
        // 1.0.1 that scripts/libmicrohttpd builds statically (scripts/run and scripts/test put the one chosen on
        // PKG_CONFIG_PATH); a plain `swift build` on Debian 12 finds its 0.9.75, which works but is not what is tested.
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"]), .brew(["libmicrohttpd"])]),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        // Non-variadic wrappers for the variadic libmicrohttpd calls Swift cannot import.
        .target(name: "CMHDShim", dependencies: ["CMicroHTTPD"]),

        // Pure domain: JSON, time, resources and the lifecycle engine that runs any kind's table. No I/O.
        .target(name: "AddonMockCore"),
        // SQLite persistence: connection wrapper, migrations, the resource repository.
        .target(name: "AddonMockStore", dependencies: ["AddonMockCore", "CSQLite"]),
        // HTTP over libmicrohttpd: request, response, router. Knows nothing of the emulated services.
        .target(name: "AddonMockHTTP", dependencies: ["AddonMockCore", "CMicroHTTPD", "CMHDShim"]),
        // The kit every emulated service is built on, and all a service sees of the application: the service
        // boundary (ServiceDefinition, ResourceKind, RequestContext), the resource manager (owners and what they
        // own), managed packages (catalogs, revisions, their lifecycle), the request helpers (bodies, identifiers,
        // errors). Names no service.
        .target(
            name: "AddonMockKit",
            dependencies: ["AddonMockCore", "AddonMockStore", "AddonMockHTTP", .product(name: "Crypto", package: "swift-crypto")]),
        // What every Huawei Cloud API shares, over the kit: the SDKs' request signature (SDK-HMAC-SHA256), token and
        // AK/SK authentication, project-scoped credentials, the headers the SDKs send. Names no service.
        .target(
            name: "HuaweiCloud", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockHTTP", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Clouds/HuaweiCloud"),
        // One target per emulated service, each over the kit alone: its routes, wire formats, error format, catalog
        // (fixtures/, compiled in through catalog/, a link to it), lifecycle tables and OpenAPI fragment.
        .target(
            name: "CCEAddons", dependencies: ["AddonMockKit", "HuaweiCloud", "AddonMockCore", "AddonMockHTTP"], path: "Sources/Services/CCE",
            exclude: ["catalog/modelarts-plugin-templates.json"],
            resources: [.embedInCode("cce.openapi.json"), .embedInCode("catalog/cce-addon-templates.json")]),
        .target(
            name: "ModelArtsPlugins", dependencies: ["AddonMockKit", "HuaweiCloud", "AddonMockCore", "AddonMockHTTP"],
            path: "Sources/Services/ModelArts",
            exclude: ["catalog/cce-addon-templates.json"],
            resources: [.embedInCode("modelarts.openapi.json"), .embedInCode("catalog/modelarts-plugin-templates.json")]),
        // The application: configuration, the request pipeline, the control API, wiring, and the list of
        // services it runs (BuiltInServices).
        .target(
            name: "AddonMock",
            dependencies: [
                "AddonMockCore", "AddonMockStore", "AddonMockHTTP", "AddonMockKit", "CCEAddons", "ModelArtsPlugins",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [
                .embedInCode("Control/openapi.base.json"),
                .embedInCode("Control/control.openapi.json"),
                .embedInCode("Control/console.html"),
            ]),
        .executableTarget(
            name: "addonmock",
            dependencies: [
                "AddonMock", "AddonMockHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The fuzz target: with `-D FUZZING -sanitize=fuzzer` a libFuzzer binary (scripts/fuzz); otherwise a
        // replayer that runs saved inputs (the corpus in Fuzz/corpus) through the same checks, as the tests do.
        .executableTarget(
            name: "addonmock-fuzz",
            dependencies: [
                "AddonMock", "AddonMockCore", "AddonMockHTTP",
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "AddonMockCoreTests", dependencies: ["AddonMockCore"]),
        // The kit alone: the package lifecycle, catalogs, the resource cache and manager (owners and what they own).
        .testTarget(
            name: "AddonMockKitTests", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockStore", "AddonMockTestSupport"],
            exclude: ["Golden"]),
        .testTarget(name: "AddonMockStoreTests", dependencies: ["AddonMockStore", "AddonMockCore"]),
        // Huawei Cloud's request signature against the official SDK's vectors, and its project scoping.
        .testTarget(name: "HuaweiCloudTests", dependencies: ["HuaweiCloud", "AddonMockKit", "AddonMockCore", "AddonMockHTTP"]),
        // A raw HTTP/1.1 client for tests that talk to real servers over sockets; the lifecycle golden-case runner.
        .target(name: "AddonMockTestSupport", dependencies: ["AddonMockCore", "AddonMockKit"], path: "Tests/TestSupport"),
        // Each service's own tests: its lifecycle tables' golden cases (Golden/<table>.json). Tests that run a service
        // inside the whole application over sockets are in AddonMockTests.
        .testTarget(name: "CCEAddonsTests", dependencies: ["CCEAddons", "AddonMockCore", "AddonMockTestSupport"], exclude: ["Golden"]),
        .testTarget(
            name: "ModelArtsPluginsTests", dependencies: ["ModelArtsPlugins", "AddonMockCore", "AddonMockTestSupport"], exclude: ["Golden"]),
        // The HTTP layer alone: router, held answers, stops, half-closed and slow clients, on a real libmicrohttpd.
        .testTarget(name: "AddonMockHTTPTests", dependencies: ["AddonMockHTTP", "AddonMockCore", "AddonMockTestSupport"]),
        .testTarget(
            name: "AddonMockTests",
            dependencies: [
                "AddonMock", "AddonMockKit", "CCEAddons", "ModelArtsPlugins", "AddonMockCore", "AddonMockStore", "AddonMockHTTP",
                "AddonMockTestSupport", "addonmock",
            ]),
        // A third, toy service: a target over the kit's public API alone (no @testable), as a new service would be.
        .target(name: "ToyWidgets", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockHTTP"], path: "Tests/ToyService"),
        // The application runs it beside the built-in services: the service boundary's proof.
        .testTarget(
            name: "ToyServiceTests",
            dependencies: [
                "ToyWidgets", "AddonMock", "AddonMockCore", "AddonMockHTTP", "AddonMockTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Golden"]),
    ]
)

for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? []) + releaseSettings
}
