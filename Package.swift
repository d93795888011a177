// swift-tools-version:6.1
//
// oisp-sensor — an OISP sensor in Swift.
// Targets are layered by stage of the data path; a lower stage never imports a higher one:
//   OISPEvent → OISPConfig → OISPCapture / OISPKubernetes → OISPPipeline → OISPPluginHost → OISPRuntime → OISPCLI → executables
// Exporter plugins (Plugins/) see only the C header in sdk/include/oisp (target COISPExporterABI).
import PackageDescription

let swift5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "oisp-sensor",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "oisp-sensor", targets: ["oisp-sensor"]),
        .executable(name: "oisp", targets: ["oisp"]),
        .library(name: "oisp-exporter-file", type: .dynamic, targets: ["FileExporter"]),
        .library(name: "oisp-exporter-kafka", type: .dynamic, targets: ["KafkaExporter"]),
        .library(name: "oisp-exporter-otlp", type: .dynamic, targets: ["OTLPExporter"]),
        .library(name: "oisp-exporter-http", type: .dynamic, targets: ["HTTPExporter"]),
        .library(name: "oisp-exporter-elasticsearch", type: .dynamic, targets: ["ElasticsearchExporter"]),
        .library(name: "oisp-exporter-loki", type: .dynamic, targets: ["LokiExporter"]),
        .library(name: "oisp-exporter-s3", type: .dynamic, targets: ["S3Exporter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The stable C ABI for exporters: the very header vendors compile against.
        .target(name: "COISPExporterABI", path: "sdk", sources: ["src"], publicHeadersPath: "include"),
        // libltdl (GNU libtool's portable dlopen wrapper) from libltdl-dev.
        .systemLibrary(name: "CLTDL", path: "Sources/CLTDL"),
        // libbpf loader for bpf/oisp.bpf.c (libbpf-dev, libelf-dev); Go TLS discovery disassembles with capstone (libcapstone-dev).
        .target(name: "COISPBPF", linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z"), .linkedLibrary("capstone"), .linkedLibrary("dw")]),

        // The JSON model (ordered objects, strict parser, compact writer): part of the SDK, so the
        // core and Swift exporter plugins share it without a plugin ever importing the core.
        .target(name: "OISPJSON", path: "sdk/swift/OISPJSON", swiftSettings: swift5),
        .target(name: "OISPEvent", dependencies: ["OISPJSON", "CZlibCrypto"], swiftSettings: swift5),
        .target(name: "OISPConfig", dependencies: ["OISPEvent", "TOMLKit"], swiftSettings: swift5),
        .target(name: "OISPCapture", dependencies: ["OISPEvent", "OISPConfig", "COISPBPF"], swiftSettings: swift5),
        // Kubernetes attribution (capture stage): the kubelet's /pods over libcurl (libcurl4-openssl-dev).
        .target(name: "COISPHTTP", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "OISPKubernetes", dependencies: ["OISPEvent", "OISPConfig", "COISPHTTP"], swiftSettings: swift5),
        // zlib + libcrypto (SHA-256/HMAC) from zlib1g-dev and libssl-dev.
        .systemLibrary(name: "CZlibCrypto", path: "Sources/CZlibCrypto"),
        .target(name: "OISPDecode", dependencies: ["OISPEvent", "OISPConfig", "CZlibCrypto",
                                                 .product(name: "NIOHPACK", package: "swift-nio-http2"),
                                                 .product(name: "NIOCore", package: "swift-nio")],
                swiftSettings: swift5),
        .target(name: "OISPRedact", dependencies: ["OISPEvent", "OISPConfig"], swiftSettings: swift5),
        .target(name: "OISPPipeline", dependencies: ["OISPEvent", "OISPConfig", "CZlibCrypto", "COISPExporterABI", // record flag constants
                                                   .product(name: "Logging", package: "swift-log"),
                                                   .product(name: "Metrics", package: "swift-metrics")],
                swiftSettings: swift5),
        // Cost per call (price table from LiteLLM's list + [cost] prices_file) and the GenAI metrics:
        // a stage between decode and redaction.
        .target(name: "OISPGenAI", dependencies: ["OISPEvent", "OISPConfig", "OISPPipeline",
                                                .product(name: "Logging", package: "swift-log"),
                                                .product(name: "Prometheus", package: "swift-prometheus")],
                exclude: ["regenerate-prices.py"], swiftSettings: swift5),
        .target(name: "OISPPluginHost", dependencies: ["OISPEvent", "OISPConfig", "OISPPipeline",
                                                     "COISPExporterABI", "CLTDL",
                                                     .product(name: "Logging", package: "swift-log"),
                                                     .product(name: "Metrics", package: "swift-metrics")],
                swiftSettings: swift5),
        // The data path wired for a front end (capture glue, decoder set-up, redaction stage, the
        // pipeline and its exporters, the line reader, the record/replay/redact sessions): what a
        // test or another front end uses; the CLI above it only parses arguments.
        .target(name: "OISPRuntime", dependencies: ["OISPEvent", "OISPConfig", "OISPCapture", "OISPKubernetes", "OISPDecode", "OISPRedact", "OISPPipeline", "OISPPluginHost", "OISPGenAI",
                                                  .product(name: "Metrics", package: "swift-metrics"),
                                                  .product(name: "Prometheus", package: "swift-prometheus"),
                                                  .product(name: "NIOPosix", package: "swift-nio"),
                                                  .product(name: "NIOHTTP1", package: "swift-nio"),
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: swift5),
        .target(name: "OISPCLI", dependencies: ["OISPEvent", "OISPConfig", "OISPCapture", "OISPKubernetes", "OISPDecode", "OISPRedact", "OISPPipeline", "OISPPluginHost", "OISPGenAI", "OISPRuntime",
                                              .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                              .product(name: "Metrics", package: "swift-metrics"),
                                              .product(name: "Logging", package: "swift-log")],
                swiftSettings: swift5),
        .executableTarget(name: "oisp-sensor", dependencies: ["OISPCLI"], swiftSettings: swift5),
        .executableTarget(name: "oisp", dependencies: ["OISPCLI"], swiftSettings: swift5),

        // Reference exporter written in Swift against the C header and the plugin-side kit.
        .target(name: "FileExporter", dependencies: ["COISPExporterABI", "OISPExporterKit"], path: "Plugins/FileExporter",
                swiftSettings: swift5),

        // Kafka exporter in plain C on librdkafka (librdkafka-dev).
        .target(name: "KafkaExporter", dependencies: ["COISPExporterABI"], path: "Plugins/KafkaExporter",
                linkerSettings: [.linkedLibrary("rdkafka")]),

        // libcurl wrapper shared by the HTTP-based plugins (libcurl4-openssl-dev).
        // OTLP exporter (traces/logs over gRPC or HTTP), Swift on swift-protobuf + libcurl.
        .target(name: "OTLPExporter", dependencies: ["COISPExporterABI", "COISPHTTP", "CZlibCrypto", "OISPExporterKit", "OISPJSON",
                                                   .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                path: "Plugins/OTLPExporter", exclude: ["proto", "regenerate.sh"], swiftSettings: swift5),

        // Plugin-side kit (C table glue, libcurl client, config helpers) linked into each Swift plugin.
        .target(name: "OISPExporterKit", dependencies: ["OISPJSON", "COISPExporterABI", "COISPHTTP", "CZlibCrypto"],
                path: "Plugins/Shared/ExporterKit", swiftSettings: swift5),
        .target(name: "HTTPExporter", dependencies: ["OISPExporterKit", "COISPExporterABI"], path: "Plugins/HTTPExporter", swiftSettings: swift5),
        .target(name: "ElasticsearchExporter", dependencies: ["OISPExporterKit", "COISPExporterABI"], path: "Plugins/ElasticsearchExporter", swiftSettings: swift5),
        .target(name: "S3Exporter", dependencies: ["OISPExporterKit", "COISPExporterABI", "CZlibCrypto"], path: "Plugins/S3Exporter", swiftSettings: swift5),
        .target(name: "LokiExporter", dependencies: ["OISPExporterKit", "COISPExporterABI"], path: "Plugins/LokiExporter", swiftSettings: swift5),

        .testTarget(name: "OISPSensorTests",
                    dependencies: ["OISPEvent", "OISPConfig", "OISPCapture", "OISPKubernetes", "OISPDecode", "OISPRedact", "OISPPipeline", "OISPPluginHost", "OISPCLI", "OISPGenAI",
                                   "OISPExporterKit"], // the plugins' shared kit, for its pure helpers
                    exclude: ["Fixtures"],
                    swiftSettings: swift5),
    ]
)
