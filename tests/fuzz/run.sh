#!/bin/sh
# Build the libFuzzer harnesses (clang, ASan, UBSan) and run each for
# SECONDS (default 60) from the seed corpora in tests/fuzz/corpus.
# Usage: tests/fuzz/run.sh [SECONDS] [BUILDDIR]
set -u
secs=${1:-60}
dir=${2:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$dir/build.ninja" ]; then
	CC=clang meson setup "$dir" --buildtype=debugoptimized -Dtests=false -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >"$dir.log" 2>&1 ||
		{ cat "$dir.log"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$dir" >"$dir.log" 2>&1 || { tail -30 "$dir.log"; echo "0 passed, 1 failed"; exit 1; }
passed=0
failed=0
n=0
for f in caps server client config mig decode nvme; do
	n=$((n + 1))
	work=$(mktemp -d)
	cp "$here/corpus/$f"/* "$work/" 2>/dev/null
	log=$(mktemp)
	ASAN_OPTIONS=detect_leaks=1 "$dir/fuzz_$f" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -max_len=65536 "$work" >"$log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
	if [ $rc -eq 0 ]; then
		echo "ok $n - fuzz_$f: ${execs:-?} executions, coverage ${cov:-?} edges, corpus $(ls "$work" | wc -l)"
		passed=$((passed + 1))
	else
		echo "not ok $n - fuzz_$f (exit $rc)"
		grep -E 'ERROR|SUMMARY|Test unit written|#0|#1|#2|#3' "$log" | head -20 | sed 's/^/    /'
		cp "$dir"/crash-* "$dir"/leak-* . 2>/dev/null
		failed=$((failed + 1))
	fi
	rm -rf "$work" "$log"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
