#!/bin/sh
# Run every CUnit test binary given, then print one total line.
# Usage: tests/run.sh build/tests/test_*   (as root; make test does this)
set -u
passed=0; failed=0; status=0
for t in "$@"; do
	echo "=== $t"
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	line=$(grep '^IFKIT-RESULT ' "$out" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $2}'); f=$(echo "$line" | awk '{print $3}')
		passed=$((passed + p)); failed=$((failed + f))
		[ "$f" -eq 0 ] || status=1
	else
		echo "$t: crashed or printed no result"
		failed=$((failed + 1)); status=1
	fi
	rm -f "$out"
done
echo
echo "tests: $passed passed, $failed failed"
exit $status
