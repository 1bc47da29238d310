#!/bin/sh
# bench/utun.sh - ifkit-tunnel over libutun vs over Linux TUN, side by side.
#
# Two namespaces joined by a veth pair carry an IP-over-UDP tunnel
# (ifkit-tunnel, the same program with --backend utun and --backend tun);
# iperf3 runs through the tunnel: TCP (Gbit/s) and UDP with 64-byte payloads
# (packets/s received).  Runs are interleaved (utun, tun, utun, tun, ...) and
# the median of REPS runs is reported with the utun/tun ratio.
#
# Then the "wire" benchmark: ifkit-wire reads every packet of a device in
# one namespace and writes it to a device in another, and back; iperf3 runs
# across it.  One wire per device type: TUN one packet per read/write, TUN
# with IFF_VNET_HDR + TUNSETOFFLOAD (CSUM|TSO4|TSO6|USO4|USO6) -- what
# wireguard-go uses, the reference ("tun-vnet") --, utun over the descriptor
# with plain read()/write() (macOS's API, "utun-plain") and with batches
# ("utun-socket"), utun's fast path (shared AF_XDP rings, "utun") and utun's
# offload mode (AF_PACKET + vnet header on the hidden end, GSO super-packets
# with their headers, "utun-offload"); MTU 1500 and 65535, TCP both ways
# (iperf3 and iperf3 -R) and UDP-64, interleaved, medians, ratios against
# tun-vnet.
#
# Usage (root):  BUILD=build bench/utun.sh
#   DUR=10 REPS=3  seconds per run, runs per case (default BENCH_SECS, BENCH_RUNS)
#   WIRE=0         skip the wire benchmark; TUNNEL=0 skip the ifkit-tunnel one
#   WIRE_MTUS="1500 65535"
#   WIRE_CASES="tun tun-vnet utun-plain utun-socket utun utun-offload"
#   SOCKET_RELAY=1 also measure utun without the fast path (packets relayed
#                  by libutun's relay thread over the descriptor's socket)
# Everything it makes (namespaces, a private loader, pins, processes) is
# removed on exit, also on failure or Ctrl-C.  Addresses exist only inside
# its own namespaces.
set -u
BUILD=${BUILD:-build}
DUR=${DUR:-${BENCH_SECS:-10}}
REPS=${REPS:-${BENCH_RUNS:-3}}
WIRE=${WIRE:-1}
TUNNEL=${TUNNEL:-1}
WIRE_MTUS=${WIRE_MTUS:-1500 65535}
WIRE_CASES=${WIRE_CASES:-tun tun-vnet utun-plain utun-socket utun utun-offload}
ID=$$
NWA=ifkb$ID-wa
NWB=ifkb$ID-wb
NSA=ifkb$ID-a
NSB=ifkb$ID-b
PRIV=ifkb$ID-priv
PIN=/sys/fs/bpf/ifkb$ID
TMP=/tmp/ifkb$ID
SOCK=$TMP/ifkitd.sock
LOADER=
PIDS=

if [ "$(id -u)" != 0 ]; then echo "bench/utun.sh: run as root" >&2; exit 1; fi
for t in iperf3 jq; do
	command -v $t >/dev/null || { echo "bench/utun.sh: needs $t" >&2; exit 1; }
done

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for f in "$TMP"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	sleep 0.3
	if [ -n "$LOADER" ]; then kill "$LOADER" 2>/dev/null; wait "$LOADER" 2>/dev/null; fi
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	ip netns del "$NWA" 2>/dev/null
	ip netns del "$NWB" 2>/dev/null
	"$BUILD/ifkitd" -q -s "$SOCK" -p "$PIN" -n "$PRIV" --teardown 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$TMP"
"$BUILD/ifkitd" --no-config -q -s "$SOCK" -p "$PIN" -n "$PRIV" 2>"$TMP/ifkitd.log" &
LOADER=$!
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done

ip netns add "$NSA" && ip netns add "$NSB" || exit 1
ip -n "$NSA" link set lo up
ip -n "$NSB" link set lo up
ip link add bva netns "$NSA" type veth peer bvb netns "$NSB"
ip -n "$NSA" addr add 10.201.0.1/24 dev bva
ip -n "$NSB" addr add 10.201.0.2/24 dev bvb
ip -n "$NSA" link set bva up
ip -n "$NSB" link set bvb up

# start_tunnel CASE -> sets PIDS; device addresses 10.202.0.1 <-> 10.202.0.2
# Wait until ADDR answers from namespace NS; else say WHAT did not come up, show LOGS.
wait_ping() {	# NS ADDR WHAT LOG...
	ns=$1 addr=$2 what=$3
	shift 3
	for i in $(seq 50); do
		ip netns exec "$ns" ping -c 1 -W 1 "$addr" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench/utun.sh: $what did not come up" >&2
	cat "$@" >&2
	return 1
}

start_tunnel() {
	case $1 in
	utun) opts="--backend utun" ;;
	utun-socket) opts="--backend utun --no-fastpath" ;;
	*) opts="--backend $1" ;;
	esac
	ip netns exec "$NSA" "$BUILD/ifkit-tunnel" -q $opts --socket "$SOCK" \
		--local 10.201.0.1:7100 --remote 10.201.0.2:7100 \
		--addr 10.202.0.1 --peer 10.202.0.2 >"$TMP/ta.log" 2>&1 &
	TA=$!
	ip netns exec "$NSB" "$BUILD/ifkit-tunnel" -q $opts --socket "$SOCK" \
		--local 10.201.0.2:7100 --remote 10.201.0.1:7100 \
		--addr 10.202.0.2 --peer 10.202.0.1 >"$TMP/tb.log" 2>&1 &
	TB=$!
	PIDS="$TA $TB"
	wait_ping "$NSA" 10.202.0.2 "$1 tunnel" "$TMP/ta.log" "$TMP/tb.log"
}

stop_tunnel() {
	kill $PIDS 2>/dev/null
	wait $PIDS 2>/dev/null
	PIDS=
}

server() {
	ip netns exec "$NSB" iperf3 -s -B 10.202.0.2 -D -I "$TMP/iperf3.pid" >/dev/null 2>&1
	sleep 0.3
}

server_stop() {
	[ -f "$TMP/iperf3.pid" ] && kill "$(cat "$TMP/iperf3.pid")" 2>/dev/null
	rm -f "$TMP/iperf3.pid"
	sleep 0.2
}

tcp_gbps() {
	ip netns exec "$NSA" iperf3 -c 10.202.0.2 -t "$DUR" -J 2>/dev/null |
		jq -r '.end.sum_received.bits_per_second // 0 | . / 1e9 * 100 | round / 100'
}

udp_kpps() {
	ip netns exec "$NSA" iperf3 -c 10.202.0.2 -u -l 64 -b 0 -t "$DUR" -J 2>/dev/null |
		jq -r '.end.sum as $s | if $s.seconds > 0 then
			(($s.packets - $s.lost_packets) / $s.seconds / 1000 | round) else 0 end'
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else print a[int((NR+1)/2)]}'; }

CASES="utun tun"
[ "${SOCKET_RELAY:-0}" = 1 ] && CASES="$CASES utun-socket"
[ "$TUNNEL" = 1 ] || CASES=
for rep in $(seq "$REPS"); do
	for b in $CASES; do
		start_tunnel "$b" || exit 1
		server
		t=$(tcp_gbps)
		u=$(udp_kpps)
		server_stop
		stop_tunnel
		echo "$t" >>"$TMP/$b.tcp"
		echo "$u" >>"$TMP/$b.udp"
		echo "run $rep $b: TCP $t Gbit/s, UDP-64 $u kpps"
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
if [ "$TUNNEL" = 1 ]; then
	ut=$(median <"$TMP/utun.tcp"); tt=$(median <"$TMP/tun.tcp")
	uu=$(median <"$TMP/utun.udp"); tu=$(median <"$TMP/tun.udp")
	echo
	echo "ifkit-tunnel, median of $REPS x ${DUR}s (utun = libutun fast path, tun = /dev/net/tun)"
	printf '%-14s %10s %10s %8s\n' "" utun tun "utun/tun"
	printf '%-14s %10s %10s %8s\n' "TCP Gbit/s" "$ut" "$tt" "$(ratio "$ut" "$tt")"
	printf '%-14s %10s %10s %8s\n' "UDP-64 kpps" "$uu" "$tu" "$(ratio "$uu" "$tu")"
	if [ -f "$TMP/utun-socket.tcp" ]; then
		st=$(median <"$TMP/utun-socket.tcp"); su=$(median <"$TMP/utun-socket.udp")
		echo "utun-socket (relay thread, no fast path): TCP $st Gbit/s ($(ratio "$st" "$tt")x tun)," \
			"UDP-64 $su kpps ($(ratio "$su" "$tu")x tun)"
	fi
fi

[ "$WIRE" = 1 ] || exit 0

# ---- the wire: device A in NWA <-> ifkit-wire <-> device B in NWB ----
ip netns add "$NWA" && ip netns add "$NWB" || exit 1
ip -n "$NWA" link set lo up
ip -n "$NWB" link set lo up

start_wire() {	# CASE MTU
	"$BUILD/ifkit-wire" -q --backend "$1" --ns-a "$NWA" --ns-b "$NWB" --mtu "$2" \
		--socket "$SOCK" >"$TMP/wire.log" 2>&1 &
	WP=$!
	PIDS="$WP"
	wait_ping "$NWA" 10.80.0.2 "wire $1 mtu $2" "$TMP/wire.log"
}

wire_tcp() {	# [-R]: the server in NWB sends
	ip netns exec "$NWB" iperf3 -s -B 10.80.0.2 -1 >/dev/null 2>&1 &
	s=$!
	for i in $(seq 30); do
		ip netns exec "$NWB" ss -Hltn 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	ip netns exec "$NWA" iperf3 -c 10.80.0.2 -t "$DUR" ${1:-} -J 2>/dev/null |
		jq -r '.end.sum_received.bits_per_second // 0 | . / 1e9 * 100 | round / 100'
	wait $s 2>/dev/null
}

wire_udp() {
	ip netns exec "$NWB" iperf3 -s -B 10.80.0.2 -1 >/dev/null 2>&1 &
	s=$!
	for i in $(seq 30); do
		ip netns exec "$NWB" ss -Hltn 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	ip netns exec "$NWA" iperf3 -c 10.80.0.2 -u -l 64 -b 0 -t "$DUR" -J 2>/dev/null |
		jq -r '.end.sum as $s | if $s.seconds > 0 then
			(($s.packets - $s.lost_packets) / $s.seconds / 1000 | round) else 0 end'
	wait $s 2>/dev/null
}

for rep in $(seq "$REPS"); do
	for mtu in $WIRE_MTUS; do
		for c in $WIRE_CASES; do
			start_wire "$c" "$mtu" || { kill $PIDS 2>/dev/null; wait $PIDS 2>/dev/null; continue; }
			t=$(wire_tcp)
			r=$(wire_tcp -R)
			u=$(wire_udp)
			kill $PIDS 2>/dev/null
			wait $PIDS 2>/dev/null
			PIDS=
			echo "$t" >>"$TMP/wire-$c-$mtu.tcp"
			echo "$r" >>"$TMP/wire-$c-$mtu.tcpr"
			echo "$u" >>"$TMP/wire-$c-$mtu.udp"
			echo "wire run $rep mtu $mtu $c: TCP $t Gbit/s, TCP -R $r Gbit/s, UDP-64 $u kpps"
		done
	done
done

echo
echo "wire (ifkit-wire between two namespaces), median of $REPS x ${DUR}s; ratios to tun-vnet"
printf '%-6s %-12s %10s %6s %10s %6s %12s %6s\n' mtu device "TCP Gbit/s" "/vnet" \
	"TCP -R" "/vnet" "UDP-64 kpps" "/vnet"
for mtu in $WIRE_MTUS; do
	rt=$(median <"$TMP/wire-tun-vnet-$mtu.tcp" 2>/dev/null)
	rr=$(median <"$TMP/wire-tun-vnet-$mtu.tcpr" 2>/dev/null)
	ru=$(median <"$TMP/wire-tun-vnet-$mtu.udp" 2>/dev/null)
	for c in $WIRE_CASES; do
		[ -f "$TMP/wire-$c-$mtu.tcp" ] || continue
		t=$(median <"$TMP/wire-$c-$mtu.tcp"); r=$(median <"$TMP/wire-$c-$mtu.tcpr")
		u=$(median <"$TMP/wire-$c-$mtu.udp")
		printf '%-6s %-12s %10s %6s %10s %6s %12s %6s\n' "$mtu" "$c" "$t" \
			"$(ratio "$t" "${rt:-0}")" "$r" "$(ratio "$r" "${rr:-0}")" \
			"$u" "$(ratio "$u" "${ru:-0}")"
	done
done
