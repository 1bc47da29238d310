#!/bin/sh
# feth vs veth, side by side in one run: iperf3 TCP, UDP-64 and ping RTT
# between two namespaces.  Runs are interleaved (veth, feth, veth, feth...)
# so drift on the machine hits both alike; each figure is a median.
# Usage: BUILD=build bench/feth.sh        (as root; make bench runs it)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

L_SOCK=/tmp/ifkb$$.sock L_PIN=/sys/fs/bpf/ifkb$$ L_NS=ifkb$$-priv
LOADER=""
cleanup() {
	[ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null && wait "$LOADER" 2>/dev/null
	"$BUILD/ifkitd" --teardown -s "$L_SOCK" -p "$L_PIN" -n "$L_NS" >/dev/null 2>&1 || true
	bench_cleanup
}
trap cleanup EXIT INT TERM

bench_ns va va; bench_ns vb vb; bench_ns fa fa; bench_ns fb fb

ip link add bv0 netns "$va" type veth peer name bv1 netns "$vb"
ip -n "$va" addr add 10.210.0.1/24 dev bv0; ip -n "$va" link set bv0 up
ip -n "$vb" addr add 10.210.0.2/24 dev bv1; ip -n "$vb" link set bv1 up

"$BUILD/ifkitd" -q --no-config -s "$L_SOCK" -p "$L_PIN" -n "$L_NS" &
LOADER=$!
for i in $(seq 50); do "$BUILD/ifkit" -s "$L_SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$fa" "$BUILD/ifkit" -s "$L_SOCK" feth create feth0 >/dev/null
ip netns exec "$fb" "$BUILD/ifkit" -s "$L_SOCK" feth create feth1 >/dev/null
"$BUILD/ifkit" -s "$L_SOCK" feth peer feth0 feth1
ip -n "$fa" addr add 10.211.0.1/24 dev feth0
ip -n "$fb" addr add 10.211.0.2/24 dev feth1
ip netns exec "$va" ping -c1 -W2 10.210.0.2 >/dev/null
ip netns exec "$fa" ping -c1 -W2 10.211.0.2 >/dev/null

T=$(mktemp -d)
for r in $(seq "$BENCH_RUNS"); do
	bench_tcp "$vb" 10.210.0.2 "$va" >> "$T/veth.tcp"
	bench_tcp "$fb" 10.211.0.2 "$fa" >> "$T/feth.tcp"
	bench_udp64 "$vb" 10.210.0.2 "$va" >> "$T/veth.udp"
	bench_udp64 "$fb" 10.211.0.2 "$fa" >> "$T/feth.udp"
	bench_rtt "$va" 10.210.0.2 >> "$T/veth.rtt"
	bench_rtt "$fa" 10.211.0.2 >> "$T/feth.rtt"
done
vt=$(median < "$T/veth.tcp"); ft=$(median < "$T/feth.tcp")
vu=$(median < "$T/veth.udp"); fu=$(median < "$T/feth.udp")
vr=$(median < "$T/veth.rtt"); fr=$(median < "$T/feth.rtt")
rm -rf "$T"

echo "feth vs veth ($BENCH_RUNS interleaved runs of ${BENCH_SECS}s, medians)"
printf '%-22s %12s %12s %8s\n' "metric" "veth" "feth" "feth/veth"
printf '%-22s %12s %12s %8s\n' "TCP Gbit/s" "$vt" "$ft" "$(ratio "$ft" "$vt")"
printf '%-22s %12s %12s %8s\n' "UDP 64B pps received" "$vu" "$fu" "$(ratio "$fu" "$vu")"
printf '%-22s %12s %12s %8s\n' "ping RTT us" "$vr" "$fr" "$(ratio "$fr" "$vr")"
