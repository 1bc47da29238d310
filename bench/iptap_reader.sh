#!/bin/sh
# Reader CPU per record of a full PKTAP capture (ifkit iptap capture -B 32768
# -w /dev/null) during a UDP-64 flood between two namespaces, for one or more
# ifkit binaries run alternately (old and new on the same loaded machine).
# Prints, per run: binary, records captured, lost, user+sys CPU of the reader
# (from /usr/bin/time), ns of reader CPU per record.  As root:
#   bench/iptap_reader.sh /tmp/ifkit.old build/ifkit
#   bench/iptap_reader.sh none build/ifkit tcpdump  # 'none': untapped; 'tcpdump': -i any -B 65536
#   ROUNDS=5 SECS=3 PERF=1 bench/iptap_reader.sh build/ifkit   # PERF=1: perf record -g too
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
[ $# -gt 0 ] || set -- "$BUILD/ifkit"
T=$(mktemp -d)
na=ifkrd$$-a nb=ifkrd$$-b
SOCK=/tmp/ifkrd$$.sock PIN=/sys/fs/bpf/ifkrd$$ PNS=ifkrd$$-priv
LOADER=""
cleanup() {
	[ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null && wait "$LOADER" 2>/dev/null
	"$BUILD/ifkitd" --teardown -s "$SOCK" -p "$PIN" -n "$PNS" >/dev/null 2>&1 || true
	for n in $na $nb; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
ip netns add $na; ip netns add $nb
ip -n $na link set lo up; ip -n $nb link set lo up
ip link add rt0 netns $na type veth peer name rt1 netns $nb
ip -n $na addr add 10.213.0.1/24 dev rt0; ip -n $na link set rt0 up
ip -n $nb addr add 10.213.0.2/24 dev rt1; ip -n $nb link set rt1 up
ip netns exec $na ping -c1 -W2 10.213.0.2 >/dev/null
"$BUILD/ifkitd" -q --no-config -s "$SOCK" -p "$PIN" -n "$PNS" &
LOADER=$!
for i in $(seq 50); do "$BUILD/ifkit" -s "$SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec $na "$BUILD/ifkit" -s "$SOCK" iptap create iptap0 >/dev/null
for r in $(seq "$ROUNDS"); do
	for bin in "$@"; do
		pre="" cap=""
		if [ "$bin" = none ]; then	# no capture: the untapped rate, for the ratio
			ip netns exec $nb taskset -c 1 iperf3 -s -B 10.213.0.2 -1 >/dev/null 2>&1 &
			s=$!
			sleep 0.3
			ip netns exec $na taskset -c 0 iperf3 -c 10.213.0.2 -u -b 0 -l 64 -t "$SECS" -J 2>/dev/null |
				jq -r '.end.sum as $s | if $s then (($s.packets - $s.lost_packets) / $s.seconds | floor) else 0 end' |
				awk '{ printf "%-22s pps %8d\n", "none", $1 }'
			wait $s 2>/dev/null || true
			continue
		fi
		[ "${PERF:-0}" = 1 ] && pre="perf record -g -o $T/perf.data.$r.$(basename "$bin")"
		if [ "$bin" = tcpdump ]; then	# tcpdump -i any at equal completeness, as bench/iptap.sh's any-B
			ip netns exec $na /usr/bin/time -f 'cpu %U %S' $pre tcpdump -B 65536 -n -i any \
				-w /dev/null 2>"$T/err" &
			ready="listening on"
		else
			ip netns exec $na /usr/bin/time -f 'cpu %U %S' $pre "$bin" -s "$SOCK" iptap capture \
				-i iptap0 -B 32768 -w /dev/null 2>"$T/err" &
			ready="capturing on"
		fi
		cap=$!
		for i in $(seq 100); do grep -q "$ready" "$T/err" 2>/dev/null && break; sleep 0.05; done
		ip netns exec $nb taskset -c 1 iperf3 -s -B 10.213.0.2 -1 >/dev/null 2>&1 &
		s=$!
		sleep 0.3
		pps=$(ip netns exec $na taskset -c 0 iperf3 -c 10.213.0.2 -u -b 0 -l 64 -t "$SECS" -J 2>/dev/null |
			jq -r '.end.sum as $s | if $s then (($s.packets - $s.lost_packets) / $s.seconds | floor) else 0 end')
		wait $s 2>/dev/null || true
		# time(1) ignores SIGINT: the reader (its child, or perf's child) gets it
		for p in $(pgrep -P "$cap"); do
			[ -n "$pre" ] && p=$(pgrep -P "$p")
			kill -INT $p 2>/dev/null || true
		done
		wait "$cap" 2>/dev/null || true
		# ifkit: captured, lost; tcpdump: received by filter - dropped by kernel, dropped
		awk -v b="$bin" -v pps="$pps" '/packets captured/ {c = $1; l = $4}
		     /packets received by filter/ {r = $1} /packets dropped by kernel/ {c = r - $1; l = $1}
		     /^cpu / {u = $2; s = $3}
		     END { printf "%-22s pps %8d records %9d lost %6d cpu %5.2f s  %5.0f ns/record\n",
			   b, pps, c, l, u + s, c ? (u + s) * 1e9 / c : 0 }' "$T/err"
		[ "${PERF:-0}" = 1 ] && cp "$T/perf.data.$r.$(basename "$bin")" /tmp/ 2>/dev/null || true
	done
done
