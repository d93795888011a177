#!/bin/bash
# Boot Debian 12's own kernel (linux-image-amd64, 6.1) under virtme-ng with this machine's root
# filesystem (read-only) and run one command in it as root. The command's stdout, stderr and
# exit status are passed through; the boot time is printed on stderr.
#
#   Tests/kernel-matrix/vm-run.sh [options] [--] COMMAND [ARGS...]
#     -k, --kernel PKG   kernel package (default: what linux-image-amd64 depends on, from apt)
#     -o, --out DIR      directory writable from the guest, same path inside
#                        (default .build/kernels/out); exported to the command as $VM_OUT
#     -m, --memory SIZE  guest memory (default 2G: enough for the Swift binary)
#     -c, --cpus N       guest CPUs (default 2)
#   Environment: VM_KVM=1 uses KVM (default off: nested KVM stops on an MSR with -cpu host, so
#   the guest runs under TCG, slower but portable).
#
# The kernel .deb is fetched with `apt-get download` and extracted (vmlinuz + modules) into
# .build/kernels/<release>/ once; later calls reuse it. Only the generic -amd64 flavour works:
# the -cloud-amd64 flavour has no 9p (CONFIG_NET_9P unset), so it cannot mount the host root
# over 9p as done here (--force-9p); it has virtiofs, which would need virtiofsd on the host.
#
# Needs: qemu-system-x86 and busybox-static (apt), virtme-ng (PyPI, installed here into
# .build/venv if missing). Run from anywhere; paths are relative to the repository root.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$repo/.build/venv
VIRTME_NG_VERSION=1.42
pkg="" out="$repo/.build/kernels/out" mem=2G cpus=2

while [ $# -gt 0 ]; do
    case $1 in
        -k|--kernel) pkg=$2; shift 2 ;;
        -o|--out) out=$2; shift 2 ;;
        -m|--memory) mem=$2; shift 2 ;;
        -c|--cpus) cpus=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "vm-run: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [options] [--] COMMAND [ARGS...]  (--help)" >&2; exit 2; }

say() { echo "vm-run: $*" >&2; }
since() { local us=$(( ${EPOCHREALTIME/./} - ${1/./} )); printf '%d.%01d' $((us / 1000000)) $((us % 1000000 / 100000)); }
die() { say "$*"; exit 2; }

for b in qemu-system-x86_64 busybox dpkg-deb apt-get; do
    command -v $b >/dev/null || die "$b not found (apt-get install qemu-system-x86 busybox-static)"
done
if [ ! -x "$VENV/bin/vng" ]; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "virtme-ng==$VIRTME_NG_VERSION"
fi

# --- (a) the kernel, cached under .build/kernels/<release>/ ---
if [ -z "$pkg" ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || die "apt knows no linux-image-amd64 dependency (apt-get update?)"
fi
case $pkg in
    *-cloud-amd64) die "$pkg: the cloud flavour has no 9p and cannot boot the host root this way" ;;
    linux-image-6.1.*) ;;
    *) say "warning: $pkg is not Debian 12's 6.1 kernel (check the apt sources)" ;;
esac
kver=${pkg#linux-image-}
kdir=$repo/.build/kernels/$kver
kimg=$kdir/boot/vmlinuz-$kver
if [ ! -s "$kimg" ] || [ ! -d "$kdir/lib/modules/$kver" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    say "downloading $pkg"
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    mkdir -p "$tmp/x"
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    rm -rf "$kdir" && mkdir -p "$kdir"
    mv "$tmp/x/boot" "$tmp/x/lib" "$kdir/"
    dpkg-deb -f "$tmp"/*.deb Version >"$kdir/package-version"
    rm -rf "$tmp"; trap - EXIT
fi
say "kernel $kver (package $pkg $(cat "$kdir/package-version" 2>/dev/null))"

# --- (b) boot it and run the command ---
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/.vm-started"
kvm=--disable-kvm
[ "${VM_KVM:-0}" = 1 ] && kvm=""
cmd="$(printf '%q ' "$repo/Tests/kernel-matrix/vm-guest.sh" "$out" "$@")"
# the guest starts with a clean environment: E2E_* and OISP_* variables are handed over in a file
env | grep -E '^(E2E|OISP)_[A-Z0-9_]*=' | sed 's/^\([^=]*\)=\(.*\)$/export \1=\x27\2\x27/' >"$out/.vm-env" || true

t0=$EPOCHREALTIME
# (c) the boot time: from launch until the guest runs the command (it touches .vm-started)
( while [ ! -e "$out/.vm-started" ]; do sleep 0.2; done
  say "booted in $(since $t0) s" ) &
timer=$!
stdin=/dev/stdin
[ -t 0 ] && stdin=/dev/null
# qemu opens the guest's output ports as files on /proc/self/fd/{1,2}, truncating a regular
# file there; pipes (the two cats) keep redirected output intact.
set +e
PATH=$VENV/bin:$PATH vng --run "$kimg" $kvm --force-9p --memory "$mem" --cpus "$cpus" --rwdir "$out" --exec "$cmd" \
    <$stdin 2> >(cat >&2) | cat
rc=${PIPESTATUS[0]}
wait $! 2>/dev/null
set -e
kill $timer 2>/dev/null || true; wait $timer 2>/dev/null || true
[ -e "$out/.vm-started" ] || say "the guest never started the command"
say "exit status $rc after $(since $t0) s in total"
exit $rc
