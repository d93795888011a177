"""Counting and reporting for `Benchmarks/run.sh record`.
  record_report.py count sensor OUT.jsonl STDERR    -> JSON: ai.response/ai.request per pid, events,
                                                       ring-buffer loss and decode drops from the log
  record_report.py count sslsniff OUT.txt STDERR    -> JSON: per pid, requests written (POST) and
                                                       complete answers read, samples BCC lost
  record_report.py report RESULTS.jsonl INST.jsonl  -> the table and RATIO lines"""
import collections, json, re, statistics, sys


def count_sensor(out, err):
    by = collections.defaultdict(lambda: {"seen": 0, "requests": 0})
    events = collections.Counter()
    with open(out, "rb") as f:
        for line in f:
            if b'"ai.re' not in line:
                events["other"] += 1
                continue
            e = json.loads(line)
            t = e.get("event_type")
            events[t] += 1
            pid = str((e.get("process") or {}).get("pid"))
            if t == "ai.response":
                by[pid]["seen"] += 1
            elif t == "ai.request":
                by[pid]["requests"] += 1
    log = open(err, errors="replace").read()
    fin = re.findall(r"record finished.*?ring_buffer_lost=(\d+)", log)
    dropped = [int(x) for x in re.findall(r"dropped_total=(\d+)", log)]
    return {"by_pid": by, "events": sum(events.values()), "event_types": events,
            "lost": int(fin[-1]) if fin else None, "dropped": max(dropped, default=0), "clean_exit": bool(fin)}


HDR = re.compile(r"^(READ/RECV|WRITE/SEND|HANDSHAKE)\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\d+)")


def count_sslsniff(out, err):
    by = collections.defaultdict(lambda: {"seen": 0, "requests": 0, "records": 0})
    cur, data, in_data = None, [], False
    def done():
        if cur is None:
            return
        func, pid = cur
        d = "".join(data)
        by[pid]["records"] += 1
        if func == "WRITE/SEND" and d.startswith("POST "):
            by[pid]["requests"] += 1
        if func == "READ/RECV" and ("data: [DONE]" in d or '"chat.completion"' in d):
            by[pid]["seen"] += 1
    with open(out, errors="replace") as f:
        for line in f:
            if in_data:
                if line.startswith("----- END DATA"):
                    in_data = False
                else:
                    data.append(line)
                continue
            m = HDR.match(line)
            if m:
                done()
                cur, data = (m.group(1), m.group(3)), []
            elif line.startswith("----- DATA -----"):
                in_data = True
        done()
    lost = sum(int(x) for x in re.findall(r"Possibly lost (\d+) samples", open(err, errors="replace").read()))
    return {"by_pid": by, "lost": lost}


def report(results, insts):
    inst = {}
    for l in open(insts):
        j = json.loads(l)
        inst[j["inst"]] = j
    rows = collections.defaultdict(list)
    for l in open(results):
        r = json.loads(l)
        i = inst.get(r.get("inst"))
        if i:  # what this watcher saw of these clients' calls
            r["seen"] = sum(i["by_pid"].get(str(p), {}).get("seen", 0) for p in r["client_pids"])
            r["lost"] = i["lost"]
            r["dropped"] = i.get("dropped", 0)
        rows[(r["load"], r["watcher"])].append(r)
    med = statistics.median

    def per_call(rs, key):
        return med(1000 * (sum(x[key]) if isinstance(x[key], list) else x[key]) / x["window_calls"] for x in rs)

    def watched(rs):
        return med(1000 * (x["client_cpu_s"] + x["server_cpu_s"]) / x["window_calls"] for x in rs)

    names = {"none": "none", "off": "sensor streaming_chunks=false", "on": "sensor streaming_chunks=true",
             "otlp": "sensor + OTLP traces (rotel)", "sslsniff": "BCC sslsniff"}
    loads = [l for l in ("py-stream", "py-plain", "curl-stream", "curl-plain", "h2-stream", "h2-plain") if any(k[0] == l for k in rows)]
    nrounds = max(len(v) for v in rows.values())
    print(f"record: CPU per call in ms (utime+stime from /proc/<pid>/stat over the load window, median of {nrounds} round(s));"
          " watched = the client and the server; + = watched under the watcher minus watched alone")
    fmt = "  {:<12} {:<30} {:>8} {:>8} {:>8} {:>9} {:>17} {:>8} {:>13} {:>9}"
    print(fmt.format("load", "watcher", "watched", "watcher", "+", "watcher/", "client p50/p99", "calls/s", "seen/sent", "lost"))
    print(fmt.format("", "", "ms/call", "ms/call", "ms/call", "alone", "ms", "", "", ""))
    ratios = {}
    for load in loads:
        base = rows.get((load, "none"))
        b = watched(base) if base else None
        for w in ("none", "off", "on", "otlp", "sslsniff"):
            rs = rows.get((load, w))
            if not rs:
                continue
            wd = watched(rs)
            own = per_call(rs, "watcher_cpu_s") if w != "none" else None
            p50, p99 = med(x["p50_ms"] for x in rs), med(x["p99_ms"] for x in rs)
            rate = med(x["window_calls"] / x["window_s"] for x in rs if x.get("window_s"))
            sent = sum(x["sent"] for x in rs)
            seen = "—" if w == "none" else f"{sum(x.get('seen', 0) for x in rs)}/{sent}"
            if w == "none":
                lost = "—"
            elif w == "sslsniff":
                lost = f"{sum(x['lost'] for x in rs)} smp"
            else:
                lost = "?" if any(x["lost"] is None for x in rs) else str(sum(x["lost"] for x in rs))
                if any(x.get("dropped") for x in rs):
                    lost += f" +{sum(x['dropped'] for x in rs)}dq"
            ratio = own / b if own is not None and b else None
            ratios[(load, w)] = (own, ratio)
            print(fmt.format(load if w == "none" or not base else "", names[w], f"{wd:.3f}",
                             "—" if own is None else f"{own:.3f}",
                             "—" if w == "none" or b is None else f"{wd - b:+.3f}",
                             "—" if ratio is None else f"{ratio:.3f}",
                             f"{p50:.2f}/{p99:.2f}", f"{rate:.0f}", seen, lost))
    print("  seen = ai.response events for the load's client pids (sensor) / answers read in full, i.e. a READ holding"
          " 'data: [DONE]' or the JSON completion (sslsniff); sent includes each python connection's warm-up call;"
          " lost = ring_buffer_lost summed over the sensor runs (+N dq: records dropped by a full decode queue) /"
          " perf-buffer samples sslsniff reported lost; calls/s = the load's rate over its window (the load runs"
          " as fast as client and server go: the rate a zero loss was seen at)")
    for w in ("off", "on", "otlp"):
        if ("py-stream", w) in ratios and ratios[("py-stream", w)][1] is not None:
            print(f"RATIO record sensor/watched ({names[w]}, streamed, python) = {ratios[('py-stream', w)][1]:.3f} (target <= 0.10)")
        if ("py-plain", w) in ratios and ratios[("py-plain", w)][1] is not None:
            print(f"RATIO record sensor/watched ({names[w]}, not streamed, python) = {ratios[('py-plain', w)][1]:.3f}")
    for load, what in (("h2-stream", "streamed, HTTP/2, curl + nginx"), ("h2-plain", "not streamed, HTTP/2, curl + nginx")):
        if (load, "off") in ratios and ratios[(load, "off")][1] is not None:
            print(f"RATIO record sensor/watched ({names['off']}, {what}) = {ratios[(load, 'off')][1]:.3f}")
    for load in ("curl-stream", "curl-plain"):
        a, b = ratios.get((load, "off")), ratios.get((load, "sslsniff"))
        if a and b and a[0] is not None and b[0]:
            print(f"RATIO record sensor/sslsniff ({load}, own CPU per call) = {a[0] / b[0]:.2f} (target: well under 1)")


if __name__ == "__main__":
    if sys.argv[1] == "count":
        f = count_sensor if sys.argv[2] == "sensor" else count_sslsniff
        print(json.dumps(f(sys.argv[3], sys.argv[4])))
    else:
        report(sys.argv[2], sys.argv[3])
