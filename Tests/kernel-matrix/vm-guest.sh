#!/bin/bash
# Runs inside the virtme-ng guest (started by vm-run.sh): prepares the kernel interfaces the
# sensor needs, then runs the given command as root and reports its exit status to the host.
# Usage (inside the guest only): vm-guest.sh OUTDIR COMMAND [ARGS...]
out=$1; shift

# virtme-ng routes the script's stdin/stdout/stderr/exit status over virtio-serial ports that
# udev names /dev/virtio-ports/virtme.*. Without udev on the host root, virtme-ng-init falls
# back to the serial console (stdout lost, exit status 255). Then name the ports ourselves and
# attach to them; virtme-ng-init writes the exit status to virtme.ret once the link exists.
if [ ! -e /dev/virtio-ports/virtme.stdout ] && [ -d /sys/class/virtio-ports ]; then
    mkdir -p /dev/virtio-ports
    for p in /sys/class/virtio-ports/*; do
        [ -r "$p/name" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
    done
    if [ -e /dev/virtio-ports/virtme.stdout ]; then
        exec </dev/virtio-ports/virtme.stdin >/dev/virtio-ports/virtme.stdout 2>/dev/virtio-ports/virtme.stderr
    fi
fi
touch "$out/.vm-started" 2>/dev/null   # the host times the boot by this file

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
ulimit -l unlimited

export VM_OUT=$out
[ -r "$out/.vm-env" ] && . "$out/.vm-env"   # E2E_* / OISP_* from the host (vm-run.sh)
exec "$@"
