#!/bin/sh
# Run every CUnit test binary given, then print one total line.
# Usage: tests/run.sh build/tests/test_*   (as root; make test does this)
# Under CI=true a skipped test in a core suite fails the run: CI has every
# prerequisite, so a skip there means something is broken.  Binaries named in
# IFKIT_OPTIONAL_TESTS (space-separated basenames) may skip.
set -u
passed=0; failed=0; skipped=0; status=0
optional=" ${IFKIT_OPTIONAL_TESTS:-} "
for t in "$@"; do
	echo "=== $t"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	line=$(grep '^IFKIT-RESULT ' "$out" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $2}'); f=$(echo "$line" | awk '{print $3}')
		s=$(echo "$line" | awk '{print ($4 == "" ? 0 : $4)}')
		passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
		[ "$f" -eq 0 ] || status=1
		name=$(basename "$t")
		if [ "$s" -gt 0 ] && [ "${CI:-}" = true ] && [ "${optional#* $name }" = "$optional" ]; then
			echo "$t: $s test(s) skipped in a core suite under CI: counted as failed"
			failed=$((failed + s)); skipped=$((skipped - s)); status=1
		fi
	else
		echo "$t: crashed or printed no result"
		failed=$((failed + 1)); status=1
	fi
	rm -f "$out"
done
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
