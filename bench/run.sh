#!/bin/sh
# make bench: every device against its Linux peer, side by side, as ratios.
# Results go to stdout; copy them into bench/RESULTS.md with the machine.
# BENCH_PARTS="iptap" (make bench BENCH_PARTS=iptap) runs only the parts named.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
echo "machine: $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
status=0
for part in ${BENCH_PARTS:-feth utun iptap}; do
	[ -x "bench/$part.sh" ] || { echo "bench: no part $part (feth utun iptap)"; status=1; continue; }
	echo
	echo "== $part"
	"bench/$part.sh" || { echo "bench/$part.sh failed"; status=1; }
done
exit $status
