#!/bin/sh
# `make install DESTDIR=...` installs headers, both libraries and uvfio.pc (a
# program outside the tree builds against them with pkg-config), the Python
# package, the backend descriptions and the Wireshark dissector (beside the
# libraries, under wireshark/plugins).
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
		cc "$stage/prog.c" -o "$stage/prog" $(pkg-config --cflags --libs uvfio) &&
		[ "$(LD_LIBRARY_PATH=$libdir "$stage/prog")" = "REGION_READ 1" ]; then
		ok=1
	fi
fi
passed=0
failed=0
result() { # result OK DESCRIPTION
	if [ "$1" = 1 ]; then
		echo "ok $((passed + failed + 1)) - $2"
		passed=$((passed + 1))
	else
		echo "not ok $((passed + failed + 1)) - $2"
		failed=$((failed + 1))
	fi
}
[ $ok = 1 ] || cat "$stage/log"
result $ok "install and build against uvfio.pc"

# The Wireshark dissector: LIBDIR/wireshark/plugins, Wireshark's global Lua
# plugin directory on Debian when the prefix is /usr (docs/uvfio.1).
ok=0
[ -f "$libdir/wireshark/plugins/vfio-user.lua" ] && ok=1
result $ok "the Wireshark dissector installed under LIBDIR/wireshark/plugins"

# The Python package lands where Debian's python3 looks for the prefix, and
# finds the installed library by itself.
ok=0
init=$(find "$stage" -path '*/dist-packages/uvfio/__init__.py' | head -1)
if [ -n "$init" ]; then
	pydir=$(dirname "$(dirname "$init")")
	real=${pydir#"$stage"}
	if /usr/bin/python3 -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$real" &&
		[ "$(PYTHONPATH=$pydir /usr/bin/python3 -c 'from uvfio import _paths; print(_paths.LIBDIR)')" = "${libdir#"$stage"}" ] &&
		PYTHONPATH=$pydir UVFIO_LIBRARY=$libdir/libuvfio.so.0 /usr/bin/python3 -c \
			'import uvfio; uvfio.Client' ; then
		ok=1
	fi
fi
result $ok "Python package installed where python3 finds it"

# One backend description per sample device in PREFIX/share/vfio-user, naming
# the installed binary.
ok=1
for dev in uvfio-memdev uvfio-dma-engine; do
	json=$(find "$stage" -path "*/share/vfio-user/50-$dev.json" | head -1)
	bin=$(find "$stage" -path "*/bin/$dev" | head -1)
	if [ -z "$json" ] || [ -z "$bin" ] ||
		! grep -q "\"binary\": \"${bin#"$stage"}\"" "$json"; then
		ok=0
	fi
done
result $ok "backend descriptions installed in share/vfio-user"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
