#!/bin/sh
# iptap, side by side in one run: iperf3 TCP and UDP-64 between two
# namespaces over a veth, with
#   none      no iptap (baseline)
#   idle      iptap0 exists, nobody listens (programs do one lookup)
#   raw       tcpdump -i iptap0 -w /dev/null
#   raw-B     the same with tcpdump -B 65536 (its ring, not the tap, limits raw)
#   nomatch   ifkit iptap capture 'udp port 9' -w /dev/null: a filter that matches
#             nothing, run in the kernel (no record is written)
#   pktap     ifkit iptap capture -B 32768 -w /dev/null (BPF ring buffers, PKTAP records, lost
#             counted; rings of 64 MiB in all on 2 CPUs, as any-B's tcpdump -B 65536)
#   any       tcpdump -i any -w /dev/null, no iptap (what Linux users run today)
#   any-B     the same with tcpdump -B 65536 (complete, to compare at equal completeness)
# The taps run in the sender's namespace; the iperf3 client is pinned to CPU 0
# and the server to CPU 1 (unpinned UDP-64 runs varied 2x on this 2-core VM).  Runs are interleaved so drift hits
# every mode alike; figures are medians.  Completeness = packets the listener
# got / packets that crossed the tapped veth (both directions, skbs as the
# taps see them: one per GSO packet; iptaps also see lo, hence a rare >100%).
# Usage: BUILD=build bench/iptap.sh        (as root; make bench runs it;
#        BENCH_RUNS rounds, 5 by default, of BENCH_SECS seconds each)
#        MODES="none idle nomatch" BENCH_RUNS=5 BENCH_SECS=3 bench/iptap.sh   (some modes only)
set -eu
cd "$(dirname "$0")/.."
BENCH_RUNS=${BENCH_RUNS:-5}	# more rounds than the other parts: its ratios sit near 1
. bench/lib.sh

L_SOCK=/tmp/ifkb$$.sock L_PIN=/sys/fs/bpf/ifkb$$ L_NS=ifkb$$-priv
LOADER="" LISTENER=""
T=$(mktemp -d)
cleanup() {
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
	[ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null && wait "$LOADER" 2>/dev/null
	"$BUILD/ifkitd" --teardown -s "$L_SOCK" -p "$L_PIN" -n "$L_NS" >/dev/null 2>&1 || true
	bench_cleanup
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

bench_ns na ta; bench_ns nb tb
ip link add bt0 netns "$na" type veth peer name bt1 netns "$nb"
ip -n "$na" addr add 10.212.0.1/24 dev bt0; ip -n "$na" link set bt0 up
ip -n "$nb" addr add 10.212.0.2/24 dev bt1; ip -n "$nb" link set bt1 up
ip netns exec "$na" ping -c1 -W2 10.212.0.2 >/dev/null

"$BUILD/ifkitd" -q --no-config -s "$L_SOCK" -p "$L_PIN" -n "$L_NS" &
LOADER=$!
for i in $(seq 50); do "$BUILD/ifkit" -s "$L_SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done

# bench_tcp/bench_udp64 of lib.sh with the client and server pinned.
tcp_run() {	# server_ns addr client_ns
	ip netns exec "$1" taskset -c 1 iperf3 -s -B "$2" -1 >/dev/null 2>&1 &
	s=$!
	sleep 0.4
	ip netns exec "$3" taskset -c 0 iperf3 -c "$2" -t "$BENCH_SECS" -J 2>/dev/null |
		jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 * 100 | floor / 100'
	wait $s 2>/dev/null
}
udp_run() {	# server_ns addr client_ns
	ip netns exec "$1" taskset -c 1 iperf3 -s -B "$2" -1 >/dev/null 2>&1 &
	s=$!
	sleep 0.4
	ip netns exec "$3" taskset -c 0 iperf3 -c "$2" -u -b 0 -l 64 -t "$BENCH_SECS" -J 2>/dev/null |
		jq -r '.end.sum as $s | if $s then (($s.packets - $s.lost_packets) / $s.seconds | floor) else 0 end'
	wait $s 2>/dev/null
}

ifk() { ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" "$@"; }
pkts() {	# tx+rx packets of bt0
	ip netns exec "$na" cat /sys/class/net/bt0/statistics/tx_packets \
		/sys/class/net/bt0/statistics/rx_packets | awk '{s += $1} END {print s}'
}
field() {	# iptap0 show -j field
	ifk iptap show -j iptap0 2>/dev/null | tr ',{}' '\n\n\n' | awk -F: -v k="\"$1\"" '$1 ~ k {gsub(/ /, "", $2); print $2}'
}
wait_listeners() {	# field value
	for i in $(seq 100); do [ "$(field "$1")" = "$2" ] && return 0; sleep 0.05; done
	echo "bench: $1 never reached $2" >&2
}
wait_ready() {	# text in the listener's stderr: tcpdump's "listening on", ifkit's "capturing on"
	for i in $(seq 100); do grep -q "$1" "$T/listener.err" 2>/dev/null && return 0; sleep 0.05; done
	echo "bench: the listener never said '$1'" >&2
}

# start_mode MODE: set the tap up (iptap or not, listener or not)
start_mode() {
	case "$1" in
	none|any|any-B) ifk iptap destroy iptap0 >/dev/null 2>&1 || true ;;
	*) ifk iptap show iptap0 >/dev/null 2>&1 || ifk iptap create iptap0 >/dev/null ;;
	esac
	LISTENER=""
	case "$1" in
	raw)
		ip netns exec "$na" tcpdump -n -i iptap0 -w /dev/null 2>"$T/listener.err" &
		LISTENER=$!; wait_ready "listening on"; wait_listeners raw_listeners 1 ;;
	raw-B)
		ip netns exec "$na" tcpdump -B 65536 -n -i iptap0 -w /dev/null 2>"$T/listener.err" &
		LISTENER=$!; wait_ready "listening on"; wait_listeners raw_listeners 1 ;;
	nomatch)
		ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" iptap capture -i iptap0 \
			-w /dev/null udp port 9 2>"$T/listener.err" &
		LISTENER=$!; wait_ready "capturing on" ;;
	pktap)
		# -B: the ring per CPU; 32 MiB x 2 CPUs = the 64 MiB of tcpdump -B 65536 (any-B)
		ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" iptap capture -i iptap0 \
			-B "$PKTAP_RING_KB" -w /dev/null 2>"$T/listener.err" &
		LISTENER=$!; wait_ready "capturing on" ;;
	any)
		ip netns exec "$na" tcpdump -n -i any -w /dev/null 2>"$T/listener.err" &
		LISTENER=$!; wait_ready "listening on" ;;
	any-B)
		ip netns exec "$na" tcpdump -B 65536 -n -i any -w /dev/null 2>"$T/listener.err" &
		LISTENER=$!; wait_ready "listening on" ;;
	esac
}

# stop_mode MODE: stop the listener; GOT = packets it got (or "-" if none),
# LOST = packets it says it lost (tcpdump: dropped by kernel; ifkit: the
# kernel's count of records it could not write)
stop_mode() {
	GOT=- LOST=-
	[ -n "$LISTENER" ] || return 0
	# tcpdump does not drain its ring on SIGINT: give it a moment; ifkit drains itself
	case "$1" in raw*|any*) sleep 0.5 ;; esac
	kill -INT "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null || true
	LISTENER=""
	[ "$1" = nomatch ] && return 0
	# tcpdump: received by filter - dropped by kernel; ifkit: captured
	GOT=$(awk '/packets received by filter/ {r = $1} /packets dropped by kernel/ {d = $1}
	     /packets captured, / {c = $1}
	     END { if (r != "") print r - d; else print c + 0 }' "$T/listener.err")
	LOST=$(awk '/packets dropped by kernel/ {print $1} /packets captured, / {print $4}' \
		"$T/listener.err" | tail -1)
}

MODES=${MODES:-"none idle nomatch raw raw-B pktap any any-B"}
PKTAP_RING_KB=$((65536 / $(nproc)))
for r in $(seq "$BENCH_RUNS"); do
	for m in $MODES; do
		for kind in tcp udp; do
			start_mode "$m"
			before=$(pkts)
			if [ "$kind" = tcp ]; then
				tcp_run "$nb" 10.212.0.2 "$na" >> "$T/$m.$kind"
			else
				udp_run "$nb" 10.212.0.2 "$na" >> "$T/$m.$kind"
			fi
			sent=$(( $(pkts) - before ))
			stop_mode "$m"
			if [ "$GOT" != "-" ]; then
				awk -v g="$GOT" -v s="$sent" 'BEGIN { printf "%.4f\n", s ? 100 * g / s : 0 }' \
					>> "$T/$m.$kind.complete"
				echo "${LOST:-0}" >> "$T/$m.$kind.lost"
			fi
		done
	done
done

# Per-packet cost of a tap program with nobody listening (BPF_PROG_TEST_RUN of
# iptap_in on a 42-byte IPv4 frame in the tapped namespace, minus the cost of
# running the 2-instruction iptap_sink the same way).
ifk iptap show iptap0 >/dev/null 2>&1 || ifk iptap create iptap0 >/dev/null
cfg_id=$(bpftool map show pinned "$L_PIN/iptap_ns_cfg" -j | jq '.id')
prog_id() {
	bpftool prog show -j | jq --argjson m "$cfg_id" --arg n "$1" \
		'[.[] | select(.name == $n and ((.map_ids // []) | index($m)))][0].id // empty'
}
printf '\002\000\000\000\000\002\002\000\000\000\000\001\010\000\105\000\000\034\000\001\000\000\100\021\000\000\012\011\000\001\012\011\000\002\037\220\037\221\000\010\000\000' > "$T/frame"
prog_ns() {	# prog id -> average ns per run, median of 5
	for i in 1 2 3 4 5; do
		ip netns exec "$na" bpftool prog run id "$1" data_in "$T/frame" repeat 1000000 |
			sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p'
	done | median
}
in_id=$(prog_id iptap_in)
btf=$(bpftool prog show id "$in_id" -j | jq '.btf_id')
sink_id=$(bpftool prog show -j | jq --argjson b "$btf" \
	'[.[] | select(.name == "iptap_sink" and .btf_id == $b)][0].id // empty')
idle_ns=$(prog_ns "$in_id")
base_ns=$(prog_ns "$sink_id")
# The same with a reader whose expression matches nothing (the program runs in the kernel, as eBPF).
ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" iptap capture -i iptap0 -w /dev/null \
	udp port 9 2>"$T/listener.err" &
LISTENER=$!; wait_ready "capturing on"
nomatch_ns=$(prog_ns "$in_id")
kill -INT "$LISTENER"; wait "$LISTENER" 2>/dev/null || true; LISTENER=""
# And with a full PKTAP reader (every run writes a record into its ring).
ip netns exec "$na" "$BUILD/ifkit" -s "$L_SOCK" iptap capture -i iptap0 -B "$PKTAP_RING_KB" \
	-w /dev/null 2>"$T/listener.err" &
LISTENER=$!; wait_ready "capturing on"
pktap_ns=$(prog_ns "$in_id")
kill -INT "$LISTENER"; wait "$LISTENER" 2>/dev/null || true; LISTENER=""

# Ratios are paired: round by round, a mode's figure over the baseline's in
# the same round (the runs of one round are a minute apart; the VM drifts over
# the 10+ minutes of a whole bench), then the median of those ratios, with the
# lowest and highest round in brackets.
pratio() {	# file base_file -> "median [min-max]" of per-round ratios
	[ -f "$1" ] && [ -f "$2" ] || { echo "n/a"; return; }	# a mode left out of MODES
	paste "$1" "$2" | awk '$2 > 0 { printf "%.4f\n", $1 / $2 }' > "$T/pr"
	[ -s "$T/pr" ] || { echo "n/a"; return; }
	printf '%.2f [%s-%s]' "$(median < "$T/pr")" \
		"$(sort -g "$T/pr" | head -1 | awk '{printf "%.2f", $1}')" \
		"$(sort -g "$T/pr" | tail -1 | awk '{printf "%.2f", $1}')"
}
echo "iptap: iperf3 over veth, taps in the sender's namespace ($BENCH_RUNS interleaved runs of ${BENCH_SECS}s, medians)"
echo "ratios: /none = against no tap, /any = against tcpdump -i any (default buffer), /any-B = against"
echo "tcpdump -i any -B 65536 (complete, as pktap), each the median of per-round ratios"
echo "[lowest-highest round]; lost = median of what the listener reported lost"
echo "(tcpdump: dropped by kernel; ifkit: counted by the kernel)"
printf '%-8s %8s %-16s %-16s %-16s %9s %8s %10s %-16s %-16s %-16s %9s %8s\n' mode "TCP Gb/s" \
	/none /any /any-B "complete%" lost "UDP64 pps" /none /any /any-B "complete%" lost
for m in $MODES; do
	t=$(median < "$T/$m.tcp"); u=$(median < "$T/$m.udp")
	ct=-; cu=-; lt=-; lu=-
	[ -f "$T/$m.tcp.complete" ] && ct=$(median < "$T/$m.tcp.complete")
	[ -f "$T/$m.udp.complete" ] && cu=$(median < "$T/$m.udp.complete")
	[ -f "$T/$m.tcp.lost" ] && lt=$(median < "$T/$m.tcp.lost")
	[ -f "$T/$m.udp.lost" ] && lu=$(median < "$T/$m.udp.lost")
	printf '%-8s %8s %-16s %-16s %-16s %9s %8s %10s %-16s %-16s %-16s %9s %8s\n' "$m" "$t" \
		"$(pratio "$T/$m.tcp" "$T/none.tcp")" "$(pratio "$T/$m.tcp" "$T/any.tcp")" \
		"$(pratio "$T/$m.tcp" "$T/any-B.tcp")" "$ct" "$lt" \
		"$u" "$(pratio "$T/$m.udp" "$T/none.udp")" "$(pratio "$T/$m.udp" "$T/any.udp")" \
		"$(pratio "$T/$m.udp" "$T/any-B.udp")" "$cu" "$lu"
done
echo "idle tap program: $idle_ns ns per run vs $base_ns ns for a 2-instruction program" \
	"(BPF_PROG_TEST_RUN): ~$((idle_ns - base_ns)) ns per packet with nobody listening"
echo "a reader filtering 'udp port 9' (matches nothing): $nomatch_ns ns per run," \
	"~$((nomatch_ns - idle_ns)) ns per packet for the in-kernel filter (eBPF, tail-called)"
echo "a full PKTAP reader: $pktap_ns ns per run, ~$((pktap_ns - idle_ns)) ns per record" \
	"(parse, socket owner, header, ring write)"
