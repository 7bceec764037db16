#!/bin/sh
# Run every test program of a build directory; print one line per test case
# and finish with "N passed, N failed".
# Usage: tests/run-tests.sh BUILDDIR [LABEL]
build=${1:-build}
label=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
export UVFIO_VECTORS="${UVFIO_VECTORS:-$here/../shared/vectors}"
export CMOCKA_MESSAGE_OUTPUT=TAP
passed=0
failed=0
log=$(mktemp)
for t in $(find "$build/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort); do
	name=$(basename "$t")
	timeout 600 "$t" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or timed out outside a test case
		echo "not ok - $name exited with status $rc"
	fi
	grep -E '^(not )?ok ' "$log" | sed "s/^/$label$name: /"
	if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
		sed -n '1,200p' "$log" | grep -v -E '^(not )?ok ' | sed "s/^/    /"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
rm -f "$log"
echo "${label}${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
