#!/bin/bash
# End-to-end capture check, meant to run inside the kernel-matrix VM (also runs on a host):
#   Tests/kernel-matrix/vm-run.sh -- Tests/kernel-matrix/e2e.sh SENSOR OBJECT
# SENSOR is the oisp-sensor binary, OBJECT the oisp.bpf.o to test (OISP_BPF_OBJECT). It runs
# `check --load`, starts `record --raw` and local TLS servers, makes a client of every TLS stack
# send a request through it — curl and python3 (OpenSSL), node, wget (GnuTLS), an NSS client
# ($E2E_NSS_CLIENT), Go crypto/tls ($E2E_GO_CLIENT), rustls ($E2E_RUSTLS_CLIENT), curl and node's fetch (writev) to a listed
# plain-HTTP port — and checks
# that capture.ssl_data events with the request text, from the expected stack, are attributed to
# the client's pid. Prints one line per stack: "stack <client> <stack> OK|MISSING" (the kernel
# matrix reads them). Outputs go to $VM_OUT (default: a temporary directory). Exit status 0 only
# if every client that ran was captured.
set -u
sensor=${1:?usage: e2e.sh SENSOR OBJECT}
export OISP_BPF_OBJECT=${2:?usage: e2e.sh SENSOR OBJECT}
out=${VM_OUT:-$(mktemp -d)}
port=${E2E_PORT:-8443}
work=$(mktemp -d)
rm -f "$out/out.jsonl" "$out/ready" "$out/record.log"
t0=$EPOCHREALTIME
since() { local us=$(( ${EPOCHREALTIME/./} - ${t0/./} )); printf '%d.%01ds' $((us / 1000000)) $((us % 1000000 / 100000)); }
say() { echo "e2e [$(since)]: $*"; }
fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

ip link set lo up 2>/dev/null
say "kernel $(uname -r)"
if "$sensor" check --load; then say "check --load: OK"; else say "check --load: FAILED"; fail=1; fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl s_server -quiet -www -accept "$port" -cert "$work/cert.pem" -key "$work/key.pem" </dev/null >/dev/null 2>&1 &
pids+=($!)

# The test server of the Swift tests (HTTPS and, on a listed port, plain HTTP) for the other stacks.
fixtures=$(cd "$(dirname "${BASH_SOURCE[0]}")/../OISPSensorTests/Fixtures" && pwd)
python3 "$fixtures/tls_server.py" "$work/cert.pem" "$work/key.pem" "$work/tlsport" </dev/null >/dev/null 2>&1 &
pids+=($!)
python3 "$fixtures/tls_server.py" - - "$work/plainport" plain </dev/null >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/tlsport" ] && [ -s "$work/plainport" ] && break; sleep 0.1; done
tlsport=$(cat "$work/tlsport"); plainport=$(cat "$work/plainport")
# software emulation (no KVM) runs Bun's BoringSSL search ~30x slower than a machine does
printf '[capture]\nplain_http_ports = [%s]\nprobe_before_exec_timeout_ms = 60000\n' "$plainport" >"$work/record.toml"

"$sensor" record -c "$work/record.toml" --raw --output "$out/out.jsonl" --ready-file "$out/ready" >"$out/record.log" 2>&1 &
rec=$!
pids+=($rec)
for _ in $(seq 600); do [ -e "$out/ready" ] || ! kill -0 $rec 2>/dev/null && break; sleep 0.2; done
if [ ! -e "$out/ready" ]; then
    say "record did not become ready:"; tail -20 "$out/record.log"; exit 1
fi
say "record ready"

# One request per client, each with its own marker path; remember each client's pid.
declare -A client_pid
curl -sk -o /dev/null "https://127.0.0.1:$port/oisp-e2e-curl" & client_pid[curl]=$!
wait ${client_pid[curl]}; say "curl exit $?"
if command -v python3 >/dev/null; then
    python3 -c '
import ssl, sys, urllib.request
ctx = ssl._create_unverified_context()
urllib.request.urlopen("https://127.0.0.1:%s/oisp-e2e-python3" % sys.argv[1], context=ctx).read()' "$port" &
    client_pid[python3]=$!; wait ${client_pid[python3]}; say "python3 exit $?"
fi
# A 40000-byte body in one SSL_write: the kernel side splits it into OISP_CHUNK_MAX records.
python3 -c '
import socket, ssl, sys
ctx = ssl._create_unverified_context()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"POST /oisp-e2e-large HTTP/1.0\r\nContent-Length: 40000\r\n\r\n" + b"x" * 40000)
s.close()' "$port" &
large_pid=$!; wait $large_pid; say "python3 (40000-byte write) exit $?"
if command -v node >/dev/null; then
    NODE_TLS_REJECT_UNAUTHORIZED=0 node -e '
require("https").get("https://127.0.0.1:" + process.argv[1] + "/oisp-e2e-node", r => r.resume())' "$port" 2>/dev/null &
    client_pid[node]=$!; wait ${client_pid[node]}; say "node exit $?"
fi
declare -A client_stack=([curl]=openssl [python3]=openssl [node]=openssl)
declare -A client_marker
run_client() { # NAME STACK MARKER COMMAND...
    local name=$1 stack=$2 marker=$3; shift 3
    "$@" >"$out/$name.out" 2>&1 &
    client_pid[$name]=$!; client_stack[$name]=$stack; client_marker[$name]=$marker
    wait ${client_pid[$name]}; say "$name exit $?"
}
tls=https://127.0.0.1:$tlsport
command -v wget >/dev/null && run_client wget gnutls "/oisp-e2e-wget" \
    wget -q --no-check-certificate -O /dev/null --post-data '{"m":"wget"}' "$tls/oisp-e2e-wget"
[ -x "${E2E_NSS_CLIENT:-}" ] && run_client nss nss "/oisp-e2e-nss" "$E2E_NSS_CLIENT" "$tlsport" /oisp-e2e-nss '{"m":"nss"}'
# A binary probed on exec (Go, static BoringSSL) waits at its first exec until probed (the exec
# gate), so each client runs once. Where the kernel has no fanotify permission events, a first
# exec teaches the sensor the binary, and the record log says when its probes are in place.
gated=0
grep -q "new executables held at exec until probed" "$out/record.log" && gated=1
say "exec gate: $([ $gated = 1 ] && echo "on: first runs are checked" || echo "off: binaries warmed up first")"
warm() { # NAME STACK COMMAND...
    [ $gated = 1 ] && return
    local name=$1 stack=$2; shift 2
    "$@" >/dev/null 2>&1
    for _ in $(seq 300); do
        grep -q "probes attached.*$name.*stack=$stack\|static BoringSSL in .*$name\|Go program .*$name.* not covered\|rustls in .*$name.* not covered" "$out/record.log" && return
        sleep 0.2
    done
}
if [ -x "${E2E_GO_CLIENT:-}" ]; then
    warm go_client go "$E2E_GO_CLIENT" "$tlsport" h1
    run_client go go_tls "/v1/chat/completions" "$E2E_GO_CLIENT" "$tlsport" h1
fi
# rustls in a Rust program with its symbols ($E2E_RUSTLS_CLIENT: ureq on rustls).
if [ -x "${E2E_RUSTLS_CLIENT:-}" ]; then
    warm rustls_client rustls "$E2E_RUSTLS_CLIENT"
    run_client rustls rustls "/oisp-e2e-rustls" "$E2E_RUSTLS_CLIENT" "$tls/oisp-e2e-rustls" '{"m":"rustls"}' none
fi
# Static, stripped BoringSSL ($E2E_BUN, $E2E_CHROMIUM).
if [ -x "${E2E_BUN:-}" ]; then
    warm bun boringssl "$E2E_BUN" --version
    NODE_TLS_REJECT_UNAUTHORIZED=0 run_client bun boringssl "/oisp-e2e-bun" "$E2E_BUN" -e \
        "await fetch('$tls/oisp-e2e-bun', {method: 'POST', body: '{\"m\":\"bun\"}'})"
fi
if [ -x "${E2E_CHROMIUM:-}" ]; then
    warm chromium boringssl "$E2E_CHROMIUM" --headless --no-sandbox --version
    run_client chromium boringssl "/oisp-e2e-chromium" "$E2E_CHROMIUM" --headless --no-sandbox --disable-gpu \
        --ignore-certificate-errors --user-data-dir="$work/chromium" --dump-dom "$tls/oisp-e2e-chromium"
fi
run_client plain plain_http "/oisp-e2e-plain" curl -s -o /dev/null -d '{"m":"plain"}' "http://127.0.0.1:$plainport/oisp-e2e-plain"
# Node's fetch writes head and body with one writev: the marker is in the body (the second buffer).
command -v node >/dev/null && run_client plain-node plain_http "oisp-e2e-plain-node-body" node -e \
    "fetch('http://127.0.0.1:$plainport/v1/chat', {method: 'POST', body: '{\"m\":\"oisp-e2e-plain-node-body\"}'}).then(r => r.text())"
sleep 2   # let the sensor drain the ring buffer
kill -INT $rec; wait $rec; say "record exit $?"

for client in "${!client_pid[@]}"; do
    python3 - "$out/out.jsonl" "$client" "${client_pid[$client]}" "${client_stack[$client]}" "${client_marker[$client]:-/oisp-e2e-$client}" <<'PY'
import json, sys
path, client, pid, stack, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
hits, other, stacks = 0, [], set()
for line in open(path):
    e = json.loads(line)
    if e.get("event_type") != "capture.ssl_data": continue
    d = e.get("data") or {}
    if d.get("direction") != "write" or marker not in (d.get("text") or ""): continue
    proc = e.get("process") or {}
    p = proc.get("pid")
    # Chromium sends from its network service, a child process of the same binary
    if p == pid or (client == "chromium" and (proc.get("exe") or "").endswith("/chromium")):
        hits += 1
        stacks.add(d.get("stack"))
    else: other.append(p)
ok = hits > 0 and stacks == {stack}
print(f"e2e: {client} pid {pid}: {hits} capture.ssl_data write(s) with '{marker}' from {sorted(s or '?' for s in stacks)} -> {'OK' if ok else 'MISSING'}"
      + (f" (seen under other pids {other})" if other else ""))
print(f"stack {client} {stack} {'OK' if ok else 'MISSING'}")
sys.exit(0 if ok else 1)
PY
    [ $? != 0 ] && fail=1
done
python3 - "$out/out.jsonl" "$large_pid" <<'PY' || fail=1
import json, sys
pid = int(sys.argv[2])
lens = [e["data"]["length"] for e in map(json.loads, open(sys.argv[1]))
        if e.get("event_type") == "capture.ssl_data" and (e.get("process") or {}).get("pid") == pid
        and e["data"]["direction"] == "write"]
ok = sum(lens) == 40056 and max(lens, default=0) == 16384   # 56 bytes of header
print(f"e2e: 40000-byte write: chunks {lens} -> {'OK' if ok else 'WRONG'}")
sys.exit(0 if ok else 1)
PY
say "events by type: $(python3 -c '
import collections, json, sys
c = collections.Counter(json.loads(l).get("event_type") for l in open(sys.argv[1]))
print(", ".join(f"{k} {v}" for k, v in sorted(c.items())))' "$out/out.jsonl")"
grep -iE "error|warn|fail" "$out/record.log" | head -10
say "done, status $fail"
exit $fail
