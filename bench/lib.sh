#!/bin/sh
# Shared helpers for the bench scripts: namespaces with unique names that are
# always removed, iperf3 runs parsed into plain numbers, medians.
# Source it; set BENCH_TAG first.

BUILD=${BUILD:-build}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SECS=${BENCH_SECS:-5}
BENCH_NS_LIST=""
BENCH_PIDS=""

# bench_ns VAR TAG: create namespace ifkb<pid>-TAG and store its name in VAR.
# (Not a command substitution: the cleanup list must be kept in this shell.)
bench_ns() {
	_n="ifkb$$-$2"
	ip netns add "$_n" && ip -n "$_n" link set lo up
	BENCH_NS_LIST="$BENCH_NS_LIST $_n"
	eval "$1=\$_n"
}

bench_cleanup() {
	for p in $BENCH_PIDS; do kill "$p" 2>/dev/null; done
	for p in $BENCH_PIDS; do wait "$p" 2>/dev/null; done
	for n in $BENCH_NS_LIST; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	BENCH_NS_LIST=""
}

# TCP Gbit/s received, client in client_ns to an iperf3 server in server_ns
bench_tcp() {	# server_ns addr client_ns
	ip netns exec "$1" iperf3 -s -B "$2" -1 >/dev/null 2>&1 &
	s=$!
	sleep 0.4
	ip netns exec "$3" iperf3 -c "$2" -t "$BENCH_SECS" -J 2>/dev/null |
		jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 * 100 | floor / 100'
	wait $s 2>/dev/null
}

# UDP with 64-byte payloads at full rate: packets/s that arrived
bench_udp64() {	# server_ns addr client_ns
	ip netns exec "$1" iperf3 -s -B "$2" -1 >/dev/null 2>&1 &
	s=$!
	sleep 0.4
	ip netns exec "$3" iperf3 -c "$2" -u -b 0 -l 64 -t "$BENCH_SECS" -J 2>/dev/null |
		jq -r '.end.sum as $s | if $s then (($s.packets - $s.lost_packets) / $s.seconds | floor) else 0 end'
	wait $s 2>/dev/null
}

# ping RTT average in microseconds
bench_rtt() {	# ns addr
	ip netns exec "$1" ping -q -c 200 -i 0.005 "$2" 2>/dev/null |
		awk -F'/' '/rtt/{printf "%d\n", $5*1000}'
}

median() {	# numbers on stdin -> median
	sort -g | awk '{a[NR]=$1} END{if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'
}

ratio() {	# a b -> a/b with 2 decimals
	awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.2f\n", a/b }'
}
