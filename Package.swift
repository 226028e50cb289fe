// swift-tools-version:6.0
import PackageDescription

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
        // System libraries, found through pkg-config. libmicrohttpd is the 1.0.1 that scripts/libmicrohttpd builds
        // statically (scripts/run and scripts/test put it on PKG_CONFIG_PATH); a plain `swift build` finds
        // Debian's libmicrohttpd-dev 0.9.75 instead, which works but is not what is tested (docs/api.md).
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
            dependencies: ["AddonMockCore", "AddonMockStore", "AddonMockHTTP"]),
        // One target per emulated service, each over the kit alone: its routes, wire formats, error format, catalog
        // (fixtures/, compiled in through catalog/, a link to it), lifecycle tables and OpenAPI fragment.
        .target(
            name: "CCEAddons", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockHTTP"], path: "Sources/Services/CCE",
            exclude: ["catalog/modelarts-plugin-templates.json"],
            resources: [.embedInCode("cce.openapi.json"), .embedInCode("catalog/cce-addon-templates.json")]),
        .target(
            name: "ModelArtsPlugins", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockHTTP"], path: "Sources/Services/ModelArts",
            exclude: ["catalog/cce-addon-templates.json"],
            resources: [.embedInCode("modelarts.openapi.json"), .embedInCode("catalog/modelarts-plugin-templates.json")]),
        // The application: configuration, the request pipeline, the control API, auth, wiring, and the list of
        // services it runs (BuiltInServices).
        .target(
            name: "AddonMock",
            dependencies: [
                "AddonMockCore", "AddonMockStore", "AddonMockHTTP", "AddonMockKit", "CCEAddons", "ModelArtsPlugins",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
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
        .testTarget(name: "AddonMockKitTests", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockStore"]),
        .testTarget(name: "AddonMockStoreTests", dependencies: ["AddonMockStore", "AddonMockCore"]),
        // A raw HTTP/1.1 client for tests that talk to real servers over sockets.
        .target(name: "AddonMockTestSupport", dependencies: ["AddonMockCore"], path: "Tests/TestSupport"),
        // The HTTP layer alone: router, held answers, stops, half-closed and slow clients, on a real libmicrohttpd.
        .testTarget(name: "AddonMockHTTPTests", dependencies: ["AddonMockHTTP", "AddonMockCore", "AddonMockTestSupport"]),
        // Golden/ holds the lifecycle tables' golden cases, read from the source tree.
        .testTarget(
            name: "AddonMockTests",
            dependencies: [
                "AddonMock", "AddonMockKit", "CCEAddons", "ModelArtsPlugins", "AddonMockCore", "AddonMockStore", "AddonMockHTTP",
                "AddonMockTestSupport", "addonmock",
            ],
            exclude: ["Golden"]),
        // A third, toy service: a target over the kit's public API alone (no @testable), as a new service would be.
        .target(name: "ToyWidgets", dependencies: ["AddonMockKit", "AddonMockCore", "AddonMockHTTP"], path: "Tests/ToyService"),
        // The application runs it beside the built-in services: the service boundary's proof.
        .testTarget(
            name: "ToyServiceTests",
            dependencies: [
                "ToyWidgets", "AddonMock", "AddonMockCore", "AddonMockHTTP",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)
