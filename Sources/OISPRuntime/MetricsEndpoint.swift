import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import OISPPluginHost
import Prometheus

/// `/metrics` (Prometheus text exposition from swift-prometheus), `/healthz` (process up) and
/// `/readyz` (probes attached, exporters loaded) over SwiftNIO's HTTP/1.1 server.
public final class MetricsEndpoint: @unchecked Sendable {
    public static let registry = PrometheusCollectorRegistry()
    private static let once: Void = {
        MetricsSystem.bootstrap(HelpfulPrometheusFactory(registry: registry))
        Gauge(label: "oisp_build_info", dimensions: [("version", OISPVersion.current), ("abi", "\(hostABIMajor).\(hostABIMinor)")]).record(1)
    }()

    /// Routes swift-metrics to the Prometheus registry (once per process).
    public static func bootstrap() { _ = once }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: Channel?
    public let boundAddress: String

    /// Binds `addr` ("host:port"); port 0 picks a free one.
    public init(addr: String, ready: @escaping @Sendable () -> Bool) throws {
        MetricsEndpoint.bootstrap()
        let (host, port) = MetricsEndpoint.split(addr)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.pipeline.configureHTTPServerPipeline().flatMap { ch.pipeline.addHandler(Handler(ready: ready)) }
            }
        do {
            let ch = try bootstrap.bind(host: host, port: port).wait()
            channel = ch
            boundAddress = "\(host):\(ch.localAddress?.port ?? port)"
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    public static func split(_ addr: String) -> (String, Int) {
        if let c = addr.lastIndex(of: ":"), let p = Int(addr[addr.index(after: c)...]) {
            var h = String(addr[..<c])
            if h.hasPrefix("[") { h = String(h.dropFirst().dropLast()) }
            return (h.isEmpty ? "0.0.0.0" : h, p)
        }
        return (addr, 9464)
    }

    public func close() {
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let ready: @Sendable () -> Bool
        var path = "/"
        var method = HTTPMethod.GET
        init(ready: @escaping @Sendable () -> Bool) { self.ready = ready }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                path = String(h.uri.split(separator: "?").first ?? "/")
                method = h.method
            case .body: break
            case .end:
                var status = HTTPResponseStatus.ok
                var body = [UInt8]()
                var type = "text/plain; charset=utf-8"
                let known = ["/metrics", "/healthz", "/readyz"].contains(path)
                var allow: String?
                switch path {
                case _ where known && method != .GET && method != .HEAD:
                    // read-only endpoints: anything but GET/HEAD is refused, never acted on
                    status = .methodNotAllowed
                    body = Array("method not allowed\n".utf8)
                    allow = "GET, HEAD"
                case "/metrics":
                    MetricsEndpoint.registry.emit(into: &body)
                    type = "text/plain; version=0.0.4; charset=utf-8"
                case "/healthz": body = Array("ok\n".utf8)
                case "/readyz":
                    if ready() { body = Array("ready\n".utf8) } else { status = .serviceUnavailable; body = Array("not ready\n".utf8) }
                default: status = .notFound; body = Array("not found\n".utf8)
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: type)
                headers.add(name: "Content-Length", value: String(body.count))
                if let allow { headers.add(name: "Allow", value: allow) }
                if method == .HEAD { body = [] }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// Help text for every series the sensor exports (`# HELP` lines; promtool requires them).
public let metricHelp: [String: String] = [
    "oisp_build_info": "Build information of the running sensor (version, exporter ABI).",
    "oisp_events_total": "Events that passed the pipeline stages, by event type.",
    "oisp_events_dropped_total": "Events dropped before export, by reason.",
    "oisp_exporter_events_received_total": "Events handed to an exporter's queue.",
    "oisp_exporter_events_exported_total": "Events the exporter's backend accepted.",
    "oisp_exporter_batches_failed_total": "Export calls that failed, by kind (retryable or permanent).",
    "oisp_exporter_retries_total": "Retry attempts made by an exporter.",
    "oisp_exporter_events_dropped_total": "Events an exporter dropped, by reason (queue_full, spool_full, permanent, rejected, retry_exhausted, shutdown).",
    "oisp_exporter_queue_length": "Events waiting in an exporter's queue.",
    "oisp_exporter_queue_capacity": "Capacity of an exporter's queue in events.",
    "oisp_exporter_batch_duration_seconds": "Time from a batch's first attempt to its final answer.",
    "oisp_plugins_loaded": "Exporters running.",
    "oisp_plugins_refused": "Enabled exporters that could not be started.",
    "oisp_ringbuffer_lost_total": "Kernel records lost because the BPF ring buffer was full.",
    "oisp_capture_tls_chunks_total": "TLS plaintext chunks captured.",
    "oisp_decode_requests_total": "HTTP requests decoded from captured plaintext.",
    "oisp_decode_responses_total": "HTTP responses decoded from captured plaintext.",
    "oisp_decode_parse_errors_total": "Connections reset after malformed HTTP input.",
    "oisp_redaction_findings_total": "Secrets and PII replaced by redaction, by type.",
    "oisp_exporter_spool_bytes": "Bytes waiting in an exporter's disk spool.",
    "oisp_spool_corrupt_records_total": "Corrupt or torn spool records skipped.",
]

/// swift-metrics → swift-prometheus with `# HELP` text and the sensor's histogram buckets.
public struct HelpfulPrometheusFactory: MetricsFactory {
    public let registry: PrometheusCollectorRegistry
    public static let buckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
                                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30)]
    public func help(_ l: String) -> String {
        if let h = metricHelp[l] { return h }
        if l.hasPrefix("oisp_plugin_") && l.hasSuffix("_total") {
            return "Counter '\(l.dropFirst(12).dropLast(6))' reported by an exporter plugin (host API callback_counter_add)."
        }
        return l.replacingOccurrences(of: "_", with: " ")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        registry.makeGauge(name: label, labels: dimensions, help: help(label))
    }
    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: help(label))
    }
    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        registry.makeDurationHistogram(name: label, labels: dimensions, buckets: Self.buckets, help: help(label))
    }
    public func destroyCounter(_ handler: CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: RecorderHandler) {}
    public func destroyMeter(_ handler: MeterHandler) {}
    public func destroyTimer(_ handler: TimerHandler) {}
}
