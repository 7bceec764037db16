#!/bin/sh
# make demo: start a sample vfio-user device and drive it with the uvfio tool.
set -u
build=${1:-build}
sock=$(mktemp -u "${TMPDIR:-/tmp}/uvfio-demo.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$sock"; }
trap cleanup EXIT INT TERM

if [ -t 1 ]; then b='\033[1m' n='\033[0m'; else b= n=; fi
step() { printf "\n${b}== %s${n}\n" "$*"; }

step "A PCI device emulated in its own process: uvfio-dma-engine, listening on $sock"
echo "   (vfio-user lets a program use such a device over a UNIX socket, as a VM would)"
"$build/uvfio-dma-engine" --quiet "$sock" &
pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$sock" ] || { echo "demo: the device did not start"; exit 1; }

step "What the device looks like: uvfio info $sock"
"$build/uvfio" info "$sock" || exit 1

step "Give it 1 MiB of our memory (shared by file descriptor) and have it copy 64 KiB"
"$build/uvfio" dma-test "$sock" || exit 1

step "The same, with the memory reached only through DMA_READ/DMA_WRITE messages"
"$build/uvfio" dma-test --no-fd "$sock" || exit 1

step "Read the engine's counters: copies done (0x30) and bytes copied (0x38)"
"$build/uvfio" read "$sock" bar0 0x30 16 || exit 1

step "Stop the device (SIGTERM)"
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
if [ -e "$sock" ]; then
	echo "demo: the device left its socket behind"
	exit 1
fi
echo "device exited with status $status and removed its socket"
[ "$status" -eq 0 ]
