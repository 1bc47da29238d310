#!/bin/sh
# iptap: what the hook costs, clsact + cls_bpf against tcx links, one build.
# UDP-64 with iperf3 over a veth between two namespaces (client on CPU 0,
# server on CPU 1, taps in the sender's namespace), for each hook in HOOKS
# (the loader restarted with IFKITD_IPTAP_HOOK=HOOK) and each mode:
#   none     no iptap (the baseline of the same round)
#   idle     iptap0 exists, nobody listens
#   nomatch  ifkit iptap capture -w /dev/null udp port 9 (a filter that matches nothing)
# Hooks and modes alternate within each of BENCH_RUNS rounds, so drift hits
# all alike; figures are medians with min-max, the ratio of the medians to
# "none" of the same hook, and (r:) the median of the per-round ratios (each
# run against the "none" run of its own round and hook, seconds apart: less
# exposed to a load that comes and goes).  bench/iptap_cost.sh measures the program alone
# (BPF_PROG_TEST_RUN); this measures the hook around it.
# Usage: BENCH_RUNS=5 BENCH_SECS=3 BUILD=build bench/iptap_hook.sh   (as root;
#        SHOW_RUNS=1 also prints every run, in round order)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

HOOKS=${HOOKS:-"clsact tcx"}
MODES=${MODES:-"none idle nomatch"}
L_SOCK=/tmp/ifkh$$.sock L_PIN=/sys/fs/bpf/ifkh$$ L_NS=ifkh$$-priv
LOADER="" LISTENER=""
T=$(mktemp -d)
loader_stop() {
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
	LISTENER=""
	[ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null && wait "$LOADER" 2>/dev/null
	LOADER=""
	"$BUILD/ifkitd" --teardown -s "$L_SOCK" -p "$L_PIN" -n "$L_NS" >/dev/null 2>&1 || true
}
cleanup() {
	loader_stop
	bench_cleanup
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

bench_ns na ta; bench_ns nb tb
ip link add bh0 netns "$na" type veth peer name bh1 netns "$nb"
ip -n "$na" addr add 10.213.0.1/24 dev bh0; ip -n "$na" link set bh0 up
ip -n "$nb" addr add 10.213.0.2/24 dev bh1; ip -n "$nb" link set bh1 up
ip netns exec "$na" ping -c1 -W2 10.213.0.2 >/dev/null

loader_start() {	# hook
	IFKITD_IPTAP_HOOK=$1 "$BUILD/ifkitd" -q --no-config -s "$L_SOCK" -p "$L_PIN" -n "$L_NS" &
	LOADER=$!
	for i in $(seq 50); do "$BUILD/ifkit" -s "$L_SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
}
ifk() { ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" "$@"; }
udp_run() {
	ip netns exec "$nb" taskset -c 1 iperf3 -s -B 10.213.0.2 -1 >/dev/null 2>&1 &
	s=$!
	sleep 0.4
	# pps that arrived, and the sender's CPU (its process, with the softirq work it
	# does: the egress tap, the veth and the peer's receive) per packet sent, in ns
	ip netns exec "$na" taskset -c 0 iperf3 -c 10.213.0.2 -u -b 0 -l 64 -t "$BENCH_SECS" -J \
		2>/dev/null |
		jq -r '.end.sum as $s | .end.cpu_utilization_percent.host_total as $c |
		       if $s then "\(($s.packets - $s.lost_packets) / $s.seconds | floor) \(
		       $c / 100 * $s.seconds * 1e9 / $s.packets | floor)" else "0 0" end'
	wait $s 2>/dev/null
}
wait_ready() {
	for i in $(seq 100); do grep -q "$1" "$T/listener.err" 2>/dev/null && return 0; sleep 0.05; done
	echo "bench: the listener never said '$1'" >&2
}

for r in $(seq "$BENCH_RUNS"); do
	for h in $HOOKS; do
		loader_start "$h"
		for m in $MODES; do
			case "$m" in
			none) ifk iptap destroy iptap0 >/dev/null 2>&1 || true ;;
			*) ifk iptap show iptap0 >/dev/null 2>&1 || ifk iptap create iptap0 >/dev/null ;;
			esac
			if [ "$m" = idle ] || [ "$m" = nomatch ]; then
				ifk iptap show iptap0 | grep -q "($h)" ||
					{ echo "bench: iptap0 is not on $h" >&2; exit 1; }
			fi
			if [ "$m" = nomatch ]; then
				ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" iptap capture -i iptap0 \
					-w /dev/null udp port 9 2>"$T/listener.err" &
				LISTENER=$!; wait_ready "capturing on"
			fi
			udp_run > "$T/run"
			cut -d' ' -f1 "$T/run" >> "$T/$h.$m"
			cut -d' ' -f2 "$T/run" >> "$T/$h.$m.cpu"
			if [ -n "$LISTENER" ]; then
				kill -INT "$LISTENER"; wait "$LISTENER" 2>/dev/null || true; LISTENER=""
			fi
		done
		loader_stop
	done
done

echo "iptap hook: UDP-64 pps over veth, taps in the sender's namespace" \
	"($BENCH_RUNS interleaved rounds of ${BENCH_SECS}s; median [min-max], /none of the same hook)"
printf '%-8s' mode
for h in $HOOKS; do printf ' %32s' "$h"; done
echo
for m in $MODES; do
	printf '%-8s' "$m"
	for h in $HOOKS; do
		med=$(median < "$T/$h.$m")
		lo=$(sort -g "$T/$h.$m" | head -1); hi=$(sort -g "$T/$h.$m" | tail -1)
		pr=$(paste "$T/$h.$m" "$T/$h.none" | awk '{ printf "%.4f\n", $2 ? $1 / $2 : 0 }' | median)
		printf ' %7s [%6s-%6s] %4s r:%5.3f' "$med" "$lo" "$hi" \
			"$(ratio "$med" "$(median < "$T/$h.none")")" "$pr"
	done
	echo
done
echo "sender CPU per packet sent, ns (iperf3 client's user+sys incl. the softirq it runs;" \
	"median [min-max], /none of the same hook; less sensitive to other load than pps)"
for m in $MODES; do
	printf '%-8s' "$m"
	for h in $HOOKS; do
		med=$(median < "$T/$h.$m.cpu")
		lo=$(sort -g "$T/$h.$m.cpu" | head -1); hi=$(sort -g "$T/$h.$m.cpu" | tail -1)
		printf ' %7s [%6s-%6s] %4s' "$med" "$lo" "$hi" \
			"$(ratio "$med" "$(median < "$T/$h.none.cpu")")"
	done
	echo
done
[ -n "${SHOW_RUNS:-}" ] && for f in "$T"/*.*none* "$T"/*.*idle* "$T"/*.*nomatch*; do printf '%s: %s\n' "${f##*/}" "$(tr '\n' ' ' < "$f")"; done
true
