// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: every IPv4/IPv6 packet of every interface of a namespace, copied
 * in the kernel to each iptap that has raw listeners and written as a PKTAP
 * record to each PKTAP reader's slot of the iptap_events perf ring.
 *
 * iptap_in / iptap_out run on tc ingress / egress of every tapped interface
 * (the seed's ipf_input / ipf_output filters).  Their first step is one hash
 * lookup of the namespace's configuration; with no listener they stop there.
 * Raw copies go to the iptap with bpf_clone_redirect(): incoming packets to
 * its ingress (so tcpdump -Q in sees them; iptap_sink then drops them at the
 * iptap's tc ingress, after the packet taps, before the IP stack), outgoing
 * to its egress (the TUN behind it has no queue and drops them after the
 * taps).  The redirect to a device without link header removes the Ethernet
 * header in the kernel.
 *
 * Process attribution as the seed's pktap_fill_proc_info(): the pid and
 * command of the process owning the packet's socket, kept in socket local
 * storage by cgroup programs that run when a socket is created, bound or
 * connected (in the caller's context).  Egress reads it from skb->sk;
 * ingress (and egress packets without a full socket, e.g. a SYN-ACK) look
 * the socket up by the packet's 4-tuple.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "iptap.h"

#define TC_ACT_UNSPEC	(-1)
#define TC_ACT_SHOT	2
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define LINUX_AF_INET	2
#define LINUX_AF_INET6	10
#define PROTO_TCP	6
#define PROTO_UDP	17

const volatile __u32 nr_cpus = 1;

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/*
 * The namespace of the device the packet is on.  (bpf_get_netns_cookie()
 * answers for skb->sk, or init_net when there is no socket - useless here.)
 */
static __always_inline __u64 dev_netns_cookie(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;
	struct net *net;

	if (!dev)
		return 0;
	net = dev->nd_net.net;
	if (!net)
		return 0;
	return net->net_cookie;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPTAP_MAX_NS);
	__type(key, __u64);
	__type(value, struct iptap_ns_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_ns_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPTAP_MAX_IFACES);
	__type(key, struct iptap_if_key);
	__type(value, struct iptap_if_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IPTAP_MAX_NS);
	__type(key, __u32);
	__type(value, struct iptap_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, IPTAP_MAX_READERS);	/* the loader sets slots * nr_cpus */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct iptap_owner);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_sk_owner SEC(".maps");

struct flow {
	__u32 family;
	__u32 ipproto;
	__u32 iplen;
	__u16 sport, dport;		/* network order */
	__u32 saddr[4], daddr[4];
};

static __always_inline int parse(struct __sk_buff *skb, __u32 l2, struct flow *f)
{
	__u32 l4off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, l2, &ip, sizeof(ip)))
			return -1;
		f->family = LINUX_AF_INET;
		f->ipproto = ip.protocol;
		f->iplen = bpf_ntohs(ip.tot_len);
		f->saddr[0] = ip.saddr;
		f->daddr[0] = ip.daddr;
		if (ip.frag_off & bpf_htons(0x1fff))
			return 0;	/* not the first fragment: no ports */
		l4off = l2 + (ip.ihl & 0xf) * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, l2, &ip6, sizeof(ip6)))
			return -1;
		f->family = LINUX_AF_INET6;
		f->ipproto = ip6.nexthdr;
		f->iplen = bpf_ntohs(ip6.payload_len) + sizeof(ip6);
		__builtin_memcpy(f->saddr, &ip6.saddr, 16);
		__builtin_memcpy(f->daddr, &ip6.daddr, 16);
		l4off = l2 + sizeof(ip6);
	}
	if (f->ipproto == PROTO_TCP || f->ipproto == PROTO_UDP) {
		__u16 ports[2];

		if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)) == 0) {
			f->sport = ports[0];
			f->dport = ports[1];
		}
	}
	return 0;
}

static __always_inline void owner_copy(struct pktap_header *h, const struct iptap_owner *o)
{
	h->pth_pid = (__s32)o->pid;
	h->pth_epid = (__s32)o->pid;
	__builtin_memcpy(h->pth_comm, o->comm, 16);
	__builtin_memcpy(h->pth_ecomm, o->comm, 16);
}

/* The local socket this packet belongs to, found by its 4-tuple. */
static __always_inline void owner_lookup(struct __sk_buff *skb, const struct flow *f, int out,
					 struct pktap_header *h)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	struct iptap_owner *o;
	__u32 len;

	if ((f->ipproto != PROTO_TCP && f->ipproto != PROTO_UDP) || !f->dport)
		return;
	/* The lookup wants the tuple as the local socket receives it. */
	if (f->family == LINUX_AF_INET) {
		t.ipv4.saddr = out ? f->daddr[0] : f->saddr[0];
		t.ipv4.daddr = out ? f->saddr[0] : f->daddr[0];
		t.ipv4.sport = out ? f->dport : f->sport;
		t.ipv4.dport = out ? f->sport : f->dport;
		len = sizeof(t.ipv4);
	} else {
		if (out) {
			__builtin_memcpy(t.ipv6.saddr, f->daddr, 16);
			__builtin_memcpy(t.ipv6.daddr, f->saddr, 16);
		} else {
			__builtin_memcpy(t.ipv6.saddr, f->saddr, 16);
			__builtin_memcpy(t.ipv6.daddr, f->daddr, 16);
		}
		t.ipv6.sport = out ? f->dport : f->sport;
		t.ipv6.dport = out ? f->sport : f->dport;
		len = sizeof(t.ipv6);
	}
	if (f->ipproto == PROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return;
	o = bpf_sk_storage_get(&iptap_sk_owner, sk, 0, 0);
	if (o)
		owner_copy(h, o);
	bpf_sk_release(sk);
}

static __always_inline int tap(struct __sk_buff *skb, int out)
{
	__u64 cookie = dev_netns_cookie(skb);
	struct iptap_ns_cfg *cfg;
	struct iptap_if_key ikey = {};
	struct iptap_if_info *info;
	struct iptap_stat *st;
	struct pktap_header h;
	struct flow f = {};
	__u32 n_raw, mask, l2 = 0, cpu, idx;

	cfg = bpf_map_lookup_elem(&iptap_ns_cfg, &cookie);
	if (!cfg)
		return TC_ACT_UNSPEC;
	n_raw = cfg->n_raw;
	mask = cfg->reader_mask;
	if (!n_raw && !mask)
		return TC_ACT_UNSPEC;	/* nobody listens: one lookup, nothing else */
	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6))
		return TC_ACT_UNSPEC;
	idx = cfg->idx;
	st = bpf_map_lookup_elem(&iptap_stats, &idx);
	if (st) {
		st->packets++;
		st->bytes += skb->len;
	}
	for (int i = 0; i < IPTAP_MAX_PER_NS; i++) {
		if (i >= n_raw)
			break;
		if (bpf_clone_redirect(skb, cfg->raw_ifindex[i], out ? 0 : BPF_F_INGRESS) == 0) {
			if (st)
				st->copies++;
		} else if (st) {
			st->copy_errors++;
		}
	}
	if (!mask)
		return TC_ACT_UNSPEC;

	__builtin_memset(&h, 0, sizeof(h));
	ikey.netns_cookie = cookie;
	ikey.ifindex = skb->ifindex;
	info = bpf_map_lookup_elem(&iptap_ifaces, &ikey);
	if (!info)	/* not (or no longer) tapped: its link header length is unknown */
		return TC_ACT_UNSPEC;
	l2 = info->l2len;
	__builtin_memcpy(h.pth_ifname, info->name, 16);
	h.pth_iftype = info->iftype;
	h.pth_ifunit = info->unit;
	if (l2 > 64)
		l2 = 64;
	if (parse(skb, l2, &f))
		return TC_ACT_UNSPEC;
	h.pth_length = sizeof(h) + l2;
	h.pth_type_next = PTH_TYPE_PACKET;
	h.pth_dlt = PKTAP_DLT_RAW;
	h.pth_flags = out ? PTH_FLAG_DIR_OUT : PTH_FLAG_DIR_IN;
	h.pth_protocol_family = f.family;
	h.pth_frame_pre_length = l2;
	h.pth_ipproto = f.ipproto;
	{
		__u64 now = bpf_ktime_get_tai_ns();

		h.pth_tstamp.tv_sec = (__s32)(now / 1000000000ULL);
		h.pth_tstamp.tv_usec = (__s32)((now % 1000000000ULL) / 1000);
	}
	{
		struct bpf_sock *sk = out ? skb->sk : NULL;
		struct iptap_owner *o = NULL;

		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk)
			o = bpf_sk_storage_get(&iptap_sk_owner, sk, 0, 0);
		if (o)
			owner_copy(&h, o);
		else
			owner_lookup(skb, &f, out, &h);
	}

	cpu = bpf_get_smp_processor_id();
	for (__u32 s = 0; s < IPTAP_MAX_READERS; s++) {
		__u64 cap, len = skb->len;

		if (!(mask & (1u << s)))
			continue;
		cap = l2 + cfg->snaplen[s];
		if (cap > IPTAP_MAX_RECORD_DATA)
			cap = IPTAP_MAX_RECORD_DATA;
		if (cap >= len)
			cap = len;
		else	/* keep the sample 8-byte aligned so no padding follows a cut packet */
			cap = ((4 + sizeof(h) + cap) & ~7ULL) - 4 - sizeof(h);
		if (bpf_perf_event_output(skb, &iptap_events, (cap << 32) | (s * nr_cpus + cpu),
					  &h, sizeof(h)) == 0) {
			if (st)
				st->records++;
		} else if (st) {
			st->record_errors++;
		}
	}
	return TC_ACT_UNSPEC;
}

SEC("tc")
int iptap_in(struct __sk_buff *skb)
{
	return tap(skb, 0);
}

SEC("tc")
int iptap_out(struct __sk_buff *skb)
{
	return tap(skb, 1);
}

/* On each iptap's own tc ingress: copies were seen by its listeners; drop them. */
SEC("tc")
int iptap_sink(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

/*
 * The iptap TUN's queue steering: always queue 0 (there is none; the copy is
 * dropped after the taps).  Cheaper than the flow hash TUN computes otherwise.
 */
SEC("socket")
int iptap_steer(struct __sk_buff *skb)
{
	return 0;
}

static __always_inline void remember(struct bpf_sock *sk)
{
	struct iptap_owner *o;

	o = bpf_sk_storage_get(&iptap_sk_owner, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return;
	o->pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

SEC("cgroup/sock_create")
int iptap_sock_create(struct bpf_sock *ctx)
{
	remember(ctx);
	return 1;
}

SEC("cgroup/post_bind4")
int iptap_post_bind4(struct bpf_sock *ctx)
{
	remember(ctx);
	return 1;
}

SEC("cgroup/post_bind6")
int iptap_post_bind6(struct bpf_sock *ctx)
{
	remember(ctx);
	return 1;
}

SEC("cgroup/connect4")
int iptap_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->sk)
		remember(ctx->sk);
	return 1;
}

SEC("cgroup/connect6")
int iptap_connect6(struct bpf_sock_addr *ctx)
{
	if (ctx->sk)
		remember(ctx->sk);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
