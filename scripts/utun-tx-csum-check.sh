#!/bin/bash
# scripts/utun-tx-csum-check.sh - why tx checksumming stays off on utunN on
# the AF_XDP paths (docs/utun.md, "Not done"): turn it on for the sending
# utun of an ifkit-wire and count what the receiving stack refuses.
# Root; everything it makes (two namespaces, a private loader, its pins) is
# removed on exit.  Usage: BUILD=build scripts/utun-tx-csum-check.sh
set -u
BUILD=${BUILD:-build}
A=ifkx$$-a B=ifkx$$-b PRIV=ifkx$$-priv PIN=/sys/fs/bpf/ifkx$$ TMP=/tmp/ifkx$$
SOCK=$TMP/ifkitd.sock L= WP=
mkdir -p "$TMP"
cleanup() {
	[ -n "$WP" ] && { kill "$WP"; wait "$WP"; } 2>/dev/null
	[ -n "$L" ] && { kill "$L"; wait "$L"; } 2>/dev/null
	ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
	"$BUILD/ifkitd" -q -s "$SOCK" -p "$PIN" -n "$PRIV" --teardown 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
"$BUILD/ifkitd" --no-config -q -s "$SOCK" -p "$PIN" -n "$PRIV" 2>"$TMP/ifkitd.log" &
L=$!
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
ip netns add "$A" && ip netns add "$B" || exit 1
ip -n "$A" link set lo up; ip -n "$B" link set lo up
for backend in utun utun-plain; do
	"$BUILD/ifkit-wire" -q --backend "$backend" --ns-a "$A" --ns-b "$B" --socket "$SOCK" \
		>"$TMP/wire.log" 2>&1 &
	WP=$!
	for i in $(seq 50); do
		ip netns exec "$A" ping -c1 -W1 10.80.0.2 >/dev/null 2>&1 && break
		sleep 0.1
	done
	dev=$(ip -n "$A" -o link 2>/dev/null | awk -F': ' '/utun/ { sub(/@.*/, "", $2); print $2; exit }')
	ip netns exec "$A" ethtool -K "$dev" tx on >/dev/null 2>&1
	ip netns exec "$B" nstat -n
	ip netns exec "$B" timeout 3 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.80.0.2", 9999)); s.settimeout(1)
n = 0
try:
    while True: s.recv(2000); n += 1
except OSError: pass
print(n)' >"$TMP/got" &
	R=$!
	sleep 0.3
	ip netns exec "$A" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(100): s.sendto(b"x" * 1000, ("10.80.0.2", 9999))'
	wait "$R"
	errs=$(ip netns exec "$B" nstat -az UdpInCsumErrors | awk '/UdpInCsumErrors/ { print $2 }')
	echo "$backend: $dev $(ip netns exec "$A" ethtool -k "$dev" | grep '^tx-checksumming'):" \
		"100 sent, $(cat "$TMP/got") delivered, UdpInCsumErrors $errs"
	kill "$WP"; wait "$WP" 2>/dev/null; WP=
done
