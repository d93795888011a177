import ArgumentParser
import Foundation
import OISPCapture
import OISPRuntime
import Logging
import OISPConfig
import OISPEvent
import OISPGenAI
import OISPPipeline
import OISPRedact

/// `bench pipeline`: events/s on one core through JSON decode → redaction (safe) → JSONL
/// encode + write, for ~1 KiB AI events; plus allocations per event and peak RSS. The peer run
/// (orjson) is done by Benchmarks/run.sh on the same input file.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (see Benchmarks/run.sh for the side-by-side runs).",
        subcommands: [Pipeline.self, Decode.self, Exporter.self, MakeInput.self])

    struct MakeInput: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "make-input", abstract: "Write N ~1 KiB AI events as JSONL.")
        @Option(name: .shortAndLong, help: "Output file.") var output: String
        @Option(name: .shortAndLong, help: "Number of events.") var count: Int = 200_000

        func run() throws {
            var gen = DemoEventGenerator(hostname: "bench-node", sensorName: "bench")
            var out = [UInt8]()
            var n = 0
            var i = 0
            while n < count {
                for var e in gen.scenario(i) where e.eventType.hasPrefix("ai.") && n < count {
                    // pad prompts/answers to ~1 KiB with text that holds a secret and an email now and then
                    let filler = String(repeating: "The quarterly report covers revenue, churn and hiring plans. ", count: 10)
                    let secret = n % 10 == 0 ? " key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34 mail ops@example.com" : ""
                    e.data["note"] = .string(String((filler + secret).prefix(200)) + (n % 10 == 0 ? secret : ""))
                    out += e.jsonBytes(); out.append(10); n += 1
                }
                i += 1
            }
            FileManager.default.createFile(atPath: output, contents: Data(out))
            print("wrote \(n) events, \(out.count / max(1, n)) bytes/event on average")
        }
    }

    /// `--pause-ms`: before the timed part (announced on stderr, so a profiler can attach) and
    /// after it (so the profiler sees no teardown).
    static func pause(_ ms: Int, announce: Bool) {
        guard ms > 0 else { return }
        if announce { FileHandle.standardError.write(Data("timed part starts in \(ms) ms\n".utf8)) }
        usleep(UInt32(ms) * 1000)
    }

    struct Pipeline: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pipeline", abstract: "Decode → redact → JSONL throughput on one core.")
        @Option(name: .shortAndLong, help: "Input JSONL (from `bench make-input`).") var input: String
        @Option(name: .long, help: "Redaction mode.") var redaction: String = "safe"
        @Option(name: .long, help: "Where the JSONL goes.") var output: String = "/dev/null"
        @Option(name: .long, help: "Pause before and after the timed part, in ms (to profile only that part).") var pauseMs: Int = 0

        func run() throws {
            let fd = open(input, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ValidationError("cannot read \(input): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            // the input in one buffer, lines as ranges into it, read by replay's line reader (not timed)
            var all = [UInt8](), lines: [Range<Int>] = []
            let reader = LineReader(fd: fd)
            while let block = try reader.next() {
                LineReader.forEachLine(in: block) { l in
                    guard !LineReader.isBlank(l) else { return }
                    lines.append(all.count..<(all.count + l.count))
                    all += l
                    all.append(10)
                }
            }
            var cfg = SensorConfig.Redaction()
            cfg.mode = SensorConfig.Redaction.Mode(rawValue: redaction) ?? .safe
            cfg.hashSalt = "bench"
            let redactor = try Redactor(config: cfg)
            let sink = try JSONLSink(path: output)
            var batch = [ExportRecord]()
            batch.reserveCapacity(512)
            BenchCommand.pause(pauseMs, announce: true)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var n = 0, bytes = 0
            // as `replay`: parse, the GenAI stage (cost), then the redacting writer
            let genai = GenAIStage(prices: PriceTable(), metrics: nil, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
            let writer = RedactionStage(redactor)
            try all.withUnsafeBufferPointer { buffer in
              for range in lines {
                var e = try OISPEvent(jsonBytes: UnsafeBufferPointer(rebasing: buffer[range]))
                _ = genai.process(&e)
                let r = writer.record(for: e)
                bytes += r.json.count
                batch.append(r)
                n += 1
                if batch.count == 512 { _ = sink.export(ExportBatch(id: 0, attempt: 1, records: batch[...])); batch.removeAll(keepingCapacity: true) }
              }
            }
            if !batch.isEmpty { _ = sink.export(ExportBatch(id: 0, attempt: 1, records: batch[...])) }
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            BenchCommand.pause(pauseMs, announce: false)
            var ru = rusage()
            getrusage(RUSAGE_SELF.rawValue, &ru)
            let rate = Double(n) / secs
            print(String(format: "pipeline: %d events (%.0f B avg) in %.3f s = %.0f events/s; peak RSS %.1f MiB (the whole input is held in memory: see `replay` for the streaming figure); redaction=%@",
                         n, Double(bytes) / Double(max(1, n)), secs, rate, Double(ru.ru_maxrss) / 1024, redaction))
        }
    }

    /// `bench decode`: `record`'s own work after the ring buffer, without the kernel — capture
    /// records of OpenAI-style calls as the python load makes them (the client's side: one write
    /// of the request; the answer's head, then one read a chunk when streamed) through the same
    /// capture stage, decoder, GenAI stage, redacting writer and JSONL exporter as `record`, on
    /// one decode thread. Prints CPU per call (the process's, exporter thread included): the
    /// deterministic half of `Benchmarks/run.sh record`, for comparing builds.
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "decode", abstract: "record's path after the ring buffer, without the kernel: CPU per AI call.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "AI calls.") var calls: Int = 20_000
        @Flag(name: .long, help: "Streamed answers (SSE).") var stream = false
        @Option(name: .long, help: "Content chunks a streamed answer has.") var chunks: Int = 50
        @Option(name: .long, help: "Keep-alive connections the calls are spread over.") var conns: Int = 4
        @Option(name: .long, help: "Where the JSONL goes.") var output: String = "/dev/null"
        @Option(name: .long, help: "Pause before and after the timed part, in ms (to profile only that part).") var pauseMs: Int = 0

        func run() throws {
            var config = try global.loadConfig()
            config.decode.threads = 1
            let logger = global.logger(for: config)
            let runtime = try SensorRuntime(config: config, logger: logger, output: output)
            let builder = CaptureEventBuilder(hostname: "bench", sensorName: config.sensor.name, version: OISPVersion.current)
            let stage = CaptureStage(builder: builder, pipeline: runtime.pipeline, emitRaw: false, config: config, logger: logger)
            let pid = UInt32(getpid())
            let body = #"{"model": "gpt-4o-mini", "stream": \#(stream), "temperature": 0.2, "messages": [{"role": "system", "content": "You are a helpful assistant. Be brief."}, {"role": "user", "content": "Write a short answer about load testing TLS agents."}]}"#
            let request = Array("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAccept-Encoding: identity\r\nContent-Length: \(body.utf8.count)\r\nAuthorization: Bearer sk-proj-BENCHKEY1234567890abcdefghijkl\r\nContent-Type: application/json\r\nX-Chunks: \(chunks)\r\n\r\n\(body)".utf8)
            // the answer as the fixture server sends it, one read a write
            var reads: [[UInt8]] = []
            let words = (0..<chunks).map { "word\($0)" }
            if stream {
                reads.append(Array("HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nx-request-id: req_stream_1\r\n\r\n".utf8))
                var events = [#"{"id": "chatcmpl-s1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}"#]
                events += words.map { #"{"id": "chatcmpl-s1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "\#($0) "}}]}"# }
                events.append(#"{"id": "chatcmpl-s1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}"#)
                events.append(#"{"id": "chatcmpl-s1", "model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": \#(chunks), "total_tokens": \#(11 + chunks)}}"#)
                events.append("[DONE]")
                for e in events {
                    let data = "data: \(e)\n\n"
                    reads.append(Array((String(data.utf8.count, radix: 16) + "\r\n" + data + "\r\n").utf8))
                }
                reads.append(Array("0\r\n\r\n".utf8))
            } else {
                let answer = #"{"id": "chatcmpl-t1", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "\#(words.joined(separator: " "))"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 11, "completion_tokens": \#(chunks), "total_tokens": \#(11 + chunks)}}"#
                reads.append(Array("HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\nx-request-id: req-test-1\r\n\r\n".utf8))
                reads.append(Array(answer.utf8))
            }
            var ts = DispatchTime.now().uptimeNanoseconds
            func record(_ conn: Int, _ write: Bool, _ b: [UInt8]) -> CaptureRecord {
                ts += 20_000
                return .sslData(.init(pid: pid, tid: pid + UInt32(conn), uid: 0, tsMono: ts, comm: "python3.11", ssl: 0x5500_0000 + UInt64(conn) * 0x1000,
                                      isWrite: write, stack: 0, totalLength: b.count, bytes: b))
            }
            var batch: [CaptureRecord] = []
            batch.reserveCapacity(256)
            BenchCommand.pause(pauseMs, announce: true)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var ru0 = rusage()
            getrusage(RUSAGE_SELF.rawValue, &ru0)
            for i in 0..<calls {
                let c = i % max(1, conns)
                batch.append(record(c, true, request))
                for r in reads { batch.append(record(c, false, r)) }
                if batch.count >= 200 { stage.handle(batch); batch.removeAll(keepingCapacity: true) }
            }
            if !batch.isEmpty { stage.handle(batch) }
            stage.finish()
            let stats = runtime.finish(budget: 60)
            var ru1 = rusage()
            getrusage(RUSAGE_SELF.rawValue, &ru1)
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            BenchCommand.pause(pauseMs, announce: false)
            func cpu(_ r: rusage) -> Double { Double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + Double(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6 }
            let exported = stats.exporters.values.reduce(0) { $0 + $1.exported }
            print(String(format: "decode: %d %@ calls in %.3f s, CPU %.1f µs a call; %d events written; decoder: %d responses",
                         calls, stream ? "streamed (\(chunks) chunks)" : "non-streamed", secs, (cpu(ru1) - cpu(ru0)) * 1e6 / Double(max(1, calls)),
                         exported, stage.decoderStats.responses))
        }
    }

    /// `bench exporter`: the exporters alone. The input is parsed and redacted first (not timed);
    /// the timed part is hand-off → exporter plugin → backend → the backend's acknowledgement, for
    /// every record, through the same pipeline workers, batching and ABI as `record`/`replay`.
    struct Exporter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exporter",
            abstract: "Events/s through the enabled exporters only (input redacted beforehand, not timed).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .shortAndLong, help: "Input JSONL (from `bench make-input`).") var input: String
        @Option(name: .long, help: "Seconds to wait for the exporters to deliver everything.") var timeout: Double = 120
        @Option(name: .long, help: "Pause before and after the timed part, in ms (to profile only that part).") var pauseMs: Int = 0

        func run() throws {
            let config = try global.loadConfig()
            let logger = global.logger(for: config)
            guard let data = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read \(input)") }
            let runtime = try SensorRuntime(config: config, logger: logger, output: nil)
            guard !runtime.pipeline.exporterNames.isEmpty else { throw ValidationError("no exporter is enabled in the configuration") }
            var records: [ExportRecord] = []
            let all = [UInt8](data)
            all.withUnsafeBufferPointer { b in
                var start = 0
                for i in b.indices where b[i] == 10 {
                    let l = UnsafeBufferPointer(rebasing: b[start..<i])
                    start = i + 1
                    if var e = try? OISPEvent(jsonBytes: l), let r = runtime.pipeline.record(for: &e) { records.append(r) }
                }
            }
            BenchCommand.pause(pauseMs, announce: true)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var i = 0
            while i < records.count {
                let j = min(records.count, i + 512)
                runtime.pipeline.submit(records: records[i..<j], block: true)
                i = j
            }
            let stats = runtime.finish(budget: timeout)
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            BenchCommand.pause(pauseMs, announce: false)
            for (name, st) in stats.exporters.sorted(by: { $0.key < $1.key }) {
                print(String(format: "exporter %@: %d events handed over, %d acknowledged by the backend, %d dropped in %.3f s = %.0f events/s",
                             name, records.count, st.exported, st.droppedTotal, secs, Double(st.exported) / secs))
            }
        }
    }
}

