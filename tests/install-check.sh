#!/bin/sh
# `make install DESTDIR=...` installs headers, both libraries, uvfio.pc and the
# Wireshark dissector (beside the libraries, under wireshark/plugins), and
# a program outside the tree builds against them with pkg-config.
set -u
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ok=0
if make -s install DESTDIR="$stage" >"$stage/log" 2>&1; then
	pc=$(find "$stage" -name uvfio.pc | head -1)
	libdir=$(dirname "$(dirname "$pc")")
	export PKG_CONFIG_PATH="$(dirname "$pc")"
	export PKG_CONFIG_SYSROOT_DIR="$stage"
	cat >"$stage/prog.c" <<'C'
#include <stdio.h>
#include <uvfio/protocol.h>
#include <uvfio/client.h>
int main(void)
{
	struct uvfio_caps c;
	uvfio_caps_default(&c);
	printf("%s %u\n", uvfio_cmd_name(UVFIO_CMD_REGION_READ), c.max_msg_fds);
	return 0;
}
C
	if [ -f "$libdir/libuvfio.a" ] && ls "$libdir"/libuvfio.so.0 >/dev/null 2>&1 &&
		[ -f "$libdir/wireshark/plugins/vfio-user.lua" ] &&
		cc "$stage/prog.c" -o "$stage/prog" $(pkg-config --cflags --libs uvfio) &&
		[ "$(LD_LIBRARY_PATH=$libdir "$stage/prog")" = "REGION_READ 1" ]; then
		ok=1
	fi
fi
if [ $ok = 1 ]; then
	echo "ok 1 - install and build against uvfio.pc"
	echo "1 passed, 0 failed"
else
	cat "$stage/log"
	echo "not ok 1 - install and build against uvfio.pc"
	echo "0 passed, 1 failed"
	exit 1
fi
