#!/bin/sh
# make demo: start a sample vfio-user device and drive it with the uvfio tool,
# then migrate a running memory device to a second process.
set -u
build=${1:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uvfio-demo.XXXXXX")
sock=$tmp/engine.sock
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if [ -t 1 ]; then b='\033[1m' n='\033[0m'; else b= n=; fi
step() { printf "\n${b}== %s${n}\n" "$*"; }

# start PROGRAM SOCKET [ARG]: run a device in the background until its socket is there
start() {
	"$build/$1" --quiet "$2" ${3:+"$3"} &
	last=$!
	pids="$pids $last"
	i=0
	while [ ! -S "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$2" ] || { echo "demo: $1 did not start"; exit 1; }
}

step "A PCI device emulated in its own process: uvfio-dma-engine, listening on $sock"
echo "   (vfio-user lets a program use such a device over a UNIX socket, as a VM would)"
start uvfio-dma-engine "$sock"
pid=$last

step "What the device looks like: uvfio info $sock"
"$build/uvfio" info "$sock" || exit 1

step "Give it 1 MiB of our memory (shared by file descriptor) and have it copy 64 KiB"
"$build/uvfio" dma-test "$sock" || exit 1

step "The same, with the memory reached only through DMA_READ/DMA_WRITE messages"
"$build/uvfio" dma-test --no-fd "$sock" || exit 1

step "Read the engine's counters: copies done (0x30) and bytes copied (0x38)"
"$build/uvfio" read "$sock" bar0 0x30 16 || exit 1

step "Dirty-page logging: the pages the engine wrote against the bitmap it reports"
"$build/uvfio" dirty-test "$sock" || exit 1

step "Stop the device (SIGTERM)"
kill -TERM "$pid"
wait "$pid"
status=$?
pids=
if [ -e "$sock" ]; then
	echo "demo: the device left its socket behind"
	exit 1
fi
echo "device exited with status $status and removed its socket"
[ "$status" -eq 0 ] || exit 1

src=$tmp/memdev-a.sock
dst=$tmp/memdev-b.sock
step "Live migration: a running uvfio-memdev moves to a second process"
start uvfio-memdev "$src"
start uvfio-memdev "$dst"
head -c 1048576 /dev/urandom >"$tmp/ram"
"$build/uvfio" write "$src" bar2 0 --file "$tmp/ram" >/dev/null || exit 1
"$build/uvfio" write "$src" bar0 4 0x600dcafe >/dev/null || exit 1
before=$("$build/uvfio" read "$src" bar2 0 1048576 | cksum)
echo "   the first process holds 1 MiB of random data in its RAM BAR (checksum ${before% *})"
echo "   and 0x600dcafe in its scratch register; the second one is empty"
echo "   uvfio migrate $src $dst"
"$build/uvfio" migrate "$src" "$dst" || exit 1

step "The device runs in the second process, its RAM intact"
after=$("$build/uvfio" read "$dst" bar2 0 1048576 | cksum)
echo "   RAM checksum in the second process: ${after% *}"
"$build/uvfio" read "$dst" bar0 4 || exit 1
if [ "$before" != "$after" ]; then
	echo "demo: the RAM differs after migration"
	exit 1
fi
echo "   RAM and registers came across; the downtime above is how long the device was stopped"


# The NVMe controller, when it is built
if [ -x "$build/uvfio-nvme" ]; then
	disk=$tmp/disk.img
	nsock=$tmp/nvme.sock
	step "An NVMe controller in its own process: uvfio-nvme serving a 16 MiB image file"
	truncate -s 16M "$disk"
	start uvfio-nvme "$nsock" "--file=$disk"
	npid=$last
	echo "   uvfio lspci $nsock"
	"$build/uvfio" lspci "$nsock" || exit 1

	step "uvfio's userspace NVMe driver enables it and asks Identify: uvfio nvme identify"
	"$build/uvfio" nvme identify "$nsock" || exit 1

	msg="Hello from uvfio's userspace NVMe driver"
	step "Write a block through an I/O queue, then read it back: uvfio nvme write / read"
	"$build/uvfio" nvme write "$nsock" 8 "$msg" || exit 1
	"$build/uvfio" nvme read "$nsock" 8 | head -4 || exit 1

	step "The same bytes in the image file, at LBA 8 (offset 4096)"
	od -A d -j 4096 -N 48 -c "$disk"
	if [ "$(dd if="$disk" bs=1 skip=4096 count=${#msg} status=none)" != "$msg" ]; then
		echo "demo: the image file does not hold what was written"
		exit 1
	fi
	kill -TERM "$npid"
	wait "$npid" || exit 1
fi
