// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: every IPv4/IPv6 packet of every interface of a namespace, copied
 * in the kernel to each iptap that has raw listeners and written as a PKTAP
 * record to each PKTAP reader's ring for this CPU: its BPF ring buffer in
 * iptap_rings, or the iptap_events perf ring when a perf event sits at the
 * key (a reader with --perf-ring, bpftool map event_pipe).
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
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"
#include "iptap.h"

const volatile __u32 nr_cpus = 1;

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
#ifndef IPTAP_NO_RINGBUF
extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_copy(struct bpf_dynptr *dst_ptr, __u32 dst_off,
			   struct bpf_dynptr *src_ptr, __u32 src_off, __u32 size) __ksym;
#endif

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

#define ARPHRD_ETHER_	1
#define ARPHRD_LOOPBACK_	772

/* Bytes of link header before the IP header at tc, as the loader's if_info_fill() says. */
static __always_inline __u32 dev_l2len(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;
	__u16 type;

	if (!dev)
		return 0;
	type = dev->type;
	return type == ARPHRD_ETHER_ || type == ARPHRD_LOOPBACK_ ? 14 : 0;
}

/*
 * The record's interface fields from the device itself, by the loader's
 * rule in if_info_fill(): the name, Apple's type (Ethernet, loopback,
 * other) and the unit (the trailing number of the name, as a u16).  A few
 * loads and a loop over the name instead of a hash lookup of the
 * interface per record (~30 ns); and a renamed interface is named right.
 */
static __always_inline void dev_fill(struct __sk_buff *skb, struct pktap_header *h)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;
	__u16 type;

	if (!dev)
		return;
	{
		/* Two 8-byte loads (a byte-wise copy would be 16). */
		const __u64 *src = (const __u64 *)dev->name;
		__u64 lo = src[0], hi = src[1];

		__builtin_memcpy(h->pth_ifname, &lo, 8);
		__builtin_memcpy(h->pth_ifname + 8, &hi, 8);
	}
	type = dev->type;
	h->pth_iftype = type == ARPHRD_ETHER_ ? PKTAP_IFT_ETHER :
			type == ARPHRD_LOOPBACK_ ? PKTAP_IFT_LOOP : PKTAP_IFT_OTHER;
	/*
	 * pth_ifunit (the name's trailing digits) is left 0: the reader reads
	 * it from pth_ifname (iptap_record_decode), a 16-step loop less per record.
	 */
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPTAP_MAX_NS);
	__type(key, __u64);
	__type(value, struct iptap_ns_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_ns_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPTAP_NS_FAST);
	__type(key, __u32);
	__type(value, struct iptap_ns_fast);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_ns_fast SEC(".maps");

/* The namespace's configuration: its tagged array entry, else the hash. */
static __always_inline struct iptap_ns_cfg *ns_cfg(__u64 cookie)
{
	__u32 i = (__u32)(cookie % IPTAP_NS_FAST);
	struct iptap_ns_fast *e = bpf_map_lookup_elem(&iptap_ns_fast, &i);

	if (e && cookie && e->cookie == cookie)
		return &e->cfg;
	return bpf_map_lookup_elem(&iptap_ns_cfg, &cookie);
}

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

/*
 * The BPF ring buffers of ifkit's own readers, same keys as iptap_events
 * (slot * nr_cpus + cpu): one ring per reader per CPU, so each ring is
 * written by one CPU and is in time order, as the perf rings.  The reader
 * creates them (sized by its -B) and puts them here; the loader deletes the
 * slot's entries when the reader's LISTEN connection closes.
 */
struct iptap_ring_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);	/* a template: readers' rings have their own size */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, IPTAP_MAX_READERS);	/* the loader sets slots * nr_cpus */
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct iptap_ring_inner);
} iptap_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IPTAP_MAX_READERS);
	__type(key, __u32);
	__type(value, struct iptap_filter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_filters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IPTAP_MAX_READERS);
	__type(key, __u32);
	__type(value, struct iptap_reader_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} iptap_reader_stats SEC(".maps");

/*
 * Per reader slot: its filter translated to eBPF (user/lib/iptap_jit.c),
 * put here by the loader.  Not pinned: it belongs to this load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, IPTAP_MAX_READERS);
	__type(key, __u32);
	__type(value, __u32);
} iptap_jit SEC(".maps");

/* The cBPF interpreter's machine: packet bytes, registers, scratch memory. */
struct cbpf_vm {
	__u32 a, x, pc, len, wirelen, verdict, slot, done;
	__u32 mem[16];
	__u8  pkt[IPTAP_FILTER_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cbpf_vm);
} iptap_vm SEC(".maps");

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

/*
 * The headers a record needs.  From the linear data in place when they are
 * there (every locally sent packet, almost every received one), else
 * through the skb load helper: two helper calls less per record.
 */
static __always_inline int parse(struct __sk_buff *skb, __u32 l2, struct flow *f)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr ipb, *ip;
	struct ipv6hdr ip6b, *ip6;
	__u16 portb[2], *ports;
	__u32 l4off;

	l2 &= 63;	/* 0 or 14; bounded for the verifier */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		ip = data + l2;
		if ((void *)(ip + 1) > end) {
			if (bpf_skb_load_bytes(skb, l2, &ipb, sizeof(ipb)))
				return -1;
			ip = &ipb;
		}
		f->family = LINUX_AF_INET;
		f->ipproto = ip->protocol;
		f->iplen = bpf_ntohs(ip->tot_len);
		f->saddr[0] = ip->saddr;
		f->daddr[0] = ip->daddr;
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0;	/* not the first fragment: no ports */
		l4off = l2 + (ip->ihl & 0xf) * 4;
	} else {
		ip6 = data + l2;
		if ((void *)(ip6 + 1) > end) {
			if (bpf_skb_load_bytes(skb, l2, &ip6b, sizeof(ip6b)))
				return -1;
			ip6 = &ip6b;
		}
		f->family = LINUX_AF_INET6;
		f->ipproto = ip6->nexthdr;
		f->iplen = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(f->saddr, &ip6->saddr, 16);
		__builtin_memcpy(f->daddr, &ip6->daddr, 16);
		l4off = l2 + sizeof(*ip6);
	}
	if (f->ipproto == PROTO_TCP || f->ipproto == PROTO_UDP) {
		l4off &= 127;	/* <= 64 + 60 */
		ports = data + l4off;
		if ((void *)(ports + 2) > end) {
			if (bpf_skb_load_bytes(skb, l4off, portb, sizeof(portb)))
				return 0;
			ports = portb;
		}
		f->sport = ports[0];
		f->dport = ports[1];
	}
	return 0;
}

/* The socket owner of a packet, and its priority (for pth_svc). */
struct who {
	struct iptap_owner o;
	__u32 found;
	__u32 prio;
};

/* The local socket this packet belongs to, found by its 4-tuple. */
static __always_inline void owner_lookup(struct __sk_buff *skb, const struct flow *f, int out,
					 struct who *w)
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
	w->prio = sk->priority;
	o = bpf_sk_storage_get(&iptap_sk_owner, sk, 0, 0);
	if (o) {
		w->o = *o;
		w->found = 1;
	}
	bpf_sk_release(sk);
}

static __always_inline void owner_find(struct __sk_buff *skb, const struct flow *f, int out,
				       struct who *w)
{
	struct bpf_sock *sk = out ? skb->sk : NULL;
	struct iptap_owner *o = NULL;

	if (out)
		w->prio = skb->priority;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		o = bpf_sk_storage_get(&iptap_sk_owner, sk, 0, 0);
	if (o) {
		w->o = *o;
		w->found = 1;
	} else {
		owner_lookup(skb, f, out, w);
	}
}

/* Linux priority (TC_PRIO_*) -> Apple service class; see include/iptap.h. */
static __always_inline __u32 prio_to_svc(__u32 prio)
{
	switch (prio) {
	case 1: return PKTAP_SO_TC_BK_SYS;	/* TC_PRIO_FILLER */
	case 2: return PKTAP_SO_TC_BK;		/* TC_PRIO_BULK */
	case 4: return PKTAP_SO_TC_RD;		/* TC_PRIO_INTERACTIVE_BULK */
	case 5: return PKTAP_SO_TC_VI;
	case 6: return PKTAP_SO_TC_VO;		/* TC_PRIO_INTERACTIVE */
	case 7: return PKTAP_SO_TC_CTL;		/* TC_PRIO_CONTROL */
	default: return PKTAP_SO_TC_BE;		/* 0 BESTEFFORT, 3, and the rest */
	}
}

/* ---- classic BPF interpreter (pcap-filter expressions in the kernel) ---- */

#define CB_CLASS(c)	((c) & 0x07)
#define CB_LD		0x00
#define CB_LDX		0x01
#define CB_ST		0x02
#define CB_STX		0x03
#define CB_ALU		0x04
#define CB_JMP		0x05
#define CB_RET		0x06
#define CB_MISC		0x07
#define CB_SIZE(c)	((c) & 0x18)
#define CB_W		0x00
#define CB_H		0x08
#define CB_B		0x10
#define CB_MODE(c)	((c) & 0xe0)
#define CB_IMM		0x00
#define CB_ABS		0x20
#define CB_IND		0x40
#define CB_MEM		0x60
#define CB_LEN		0x80
#define CB_MSH		0xa0
#define CB_OP(c)	((c) & 0xf0)
#define CB_SRC_X(c)	((c) & 0x08)
#define CB_RVAL(c)	((c) & 0x18)

#define VM_RUNNING	0
#define VM_REJECT	1
#define VM_ACCEPT	2
#define VM_UNSURE	3	/* needs bytes beyond what the kernel copied */

struct vm_ctx {
	struct cbpf_vm *vm;
	struct iptap_filter *f;
};

/* 0, or the verdict that ends the program (out of the packet, or beyond the copy). */
static __always_inline __u32 vm_load(struct cbpf_vm *vm, __u32 off, __u32 size, __u32 *val)
{
	__u32 v = 0;

	if (off >= 0x10000 || off + size > vm->wirelen)
		return VM_REJECT;		/* as the kernel's and libpcap's interpreters */
	if (off + size > vm->len)
		return VM_UNSURE;
	for (__u32 i = 0; i < 4; i++) {
		if (i >= size)
			break;
		v = (v << 8) | vm->pkt[(off + i) & (IPTAP_FILTER_BYTES - 1)];
	}
	*val = v;
	return 0;
}

static long vm_step(__u64 index, void *arg)
{
	struct vm_ctx *c = arg;
	struct cbpf_vm *vm = c->vm;
	struct iptap_filter *f = c->f;
	struct iptap_cbpf in;
	__u32 pc = vm->pc, k, v = 0, size, r, src;

	(void)index;
	if (pc >= f->len || pc >= IPTAP_FILTER_MAX) {
		vm->verdict = VM_REJECT;
		return 1;
	}
	in = f->insn[pc & (IPTAP_FILTER_MAX - 1)];
	vm->pc = pc + 1;
	k = in.k;
	size = CB_SIZE(in.code) == CB_W ? 4 : CB_SIZE(in.code) == CB_H ? 2 : 1;
	switch (CB_CLASS(in.code)) {
	case CB_LD:
		switch (CB_MODE(in.code)) {
		case CB_IMM: vm->a = k; return 0;
		case CB_LEN: vm->a = vm->wirelen; return 0;
		case CB_MEM: vm->a = vm->mem[k & 15]; return 0;
		case CB_ABS: r = vm_load(vm, k, size, &v); break;
		case CB_IND: r = vm_load(vm, k + vm->x, size, &v); break;
		default: r = VM_UNSURE; break;
		}
		if (r) {
			vm->verdict = r;
			return 1;
		}
		vm->a = v;
		return 0;
	case CB_LDX:
		switch (CB_MODE(in.code)) {
		case CB_IMM: vm->x = k; return 0;
		case CB_LEN: vm->x = vm->wirelen; return 0;
		case CB_MEM: vm->x = vm->mem[k & 15]; return 0;
		case CB_MSH:
			r = vm_load(vm, k, 1, &v);
			if (r) {
				vm->verdict = r;
				return 1;
			}
			vm->x = (v & 0xf) << 2;
			return 0;
		}
		vm->verdict = VM_UNSURE;
		return 1;
	case CB_ST:
		vm->mem[k & 15] = vm->a;
		return 0;
	case CB_STX:
		vm->mem[k & 15] = vm->x;
		return 0;
	case CB_ALU:
		src = CB_SRC_X(in.code) ? vm->x : k;
		switch (CB_OP(in.code)) {
		case 0x00: vm->a += src; break;
		case 0x10: vm->a -= src; break;
		case 0x20: vm->a *= src; break;
		case 0x30:
			if (!src) {
				vm->verdict = VM_REJECT;
				return 1;
			}
			vm->a /= src;
			break;
		case 0x40: vm->a |= src; break;
		case 0x50: vm->a &= src; break;
		case 0x60: vm->a = src < 32 ? vm->a << src : 0; break;
		case 0x70: vm->a = src < 32 ? vm->a >> src : 0; break;
		case 0x80: vm->a = -vm->a; break;
		case 0x90:
			if (!src) {
				vm->verdict = VM_REJECT;
				return 1;
			}
			vm->a %= src;
			break;
		case 0xa0: vm->a ^= src; break;
		default:
			vm->verdict = VM_UNSURE;
			return 1;
		}
		return 0;
	case CB_JMP:
		src = CB_SRC_X(in.code) ? vm->x : k;
		switch (CB_OP(in.code)) {
		case 0x00: vm->pc += k; return 0;
		case 0x10: r = vm->a == src; break;
		case 0x20: r = vm->a > src; break;
		case 0x30: r = vm->a >= src; break;
		case 0x40: r = (vm->a & src) != 0; break;
		default:
			vm->verdict = VM_UNSURE;
			return 1;
		}
		vm->pc += r ? in.jt : in.jf;
		return 0;
	case CB_RET:
		v = CB_RVAL(in.code) == 0x10 ? vm->a : k;
		vm->verdict = v ? VM_ACCEPT : VM_REJECT;
		return 1;
	case CB_MISC:
		if (in.code & 0x80)
			vm->a = vm->x;		/* TXA */
		else
			vm->x = vm->a;		/* TAX */
		return 0;
	}
	vm->verdict = VM_UNSURE;
	return 1;
}

/*
 * Run reader slot's cBPF program on the IP packet at l2.  The packet's first
 * bytes are copied once per packet (*copied).  True when the record is to be
 * written (accepted, or undecidable here: the reader decides).
 */
static __always_inline bool filter_pass(struct __sk_buff *skb, __u32 l2,
					struct iptap_filter *f, bool *copied)
{
	__u32 zero = 0;
	__u64 len;
	struct vm_ctx c;

	c.vm = bpf_map_lookup_elem(&iptap_vm, &zero);
	c.f = f;
	if (!c.vm || !c.f->len)
		return true;
	if (!*copied) {
		if (skb->len <= l2)
			return false;
		c.vm->wirelen = skb->len - l2;
		len = c.vm->wirelen;
		if (len > IPTAP_FILTER_BYTES)
			len = IPTAP_FILTER_BYTES;
		/* Keep clang from checking one register and passing another. */
		asm volatile("" : "+r"(len));
		len &= 2 * IPTAP_FILTER_BYTES - 1;
		if (len < 1 || len > IPTAP_FILTER_BYTES)
			return true;
		if (bpf_skb_load_bytes(skb, l2, c.vm->pkt, len))
			return true;
		c.vm->len = len;
		*copied = true;
	}
	c.vm->a = 0;
	c.vm->x = 0;
	c.vm->pc = 0;
	c.vm->verdict = VM_RUNNING;
	bpf_loop(IPTAP_FILTER_MAX + 1, vm_step, &c, 0);
	return c.vm->verdict != VM_REJECT;
}

/* The owner filters of a reader slot. */
static __always_inline bool owner_pass(const struct iptap_filter *rc, const struct who *w)
{
	__u32 fl;

	if (!rc)
		return true;
	fl = rc->flags & (IPTAP_RF_PID | IPTAP_RF_UID | IPTAP_RF_COMM | IPTAP_RF_CGROUP);

	if (!fl)
		return true;
	if (!w->found)
		return false;
	if ((fl & IPTAP_RF_PID) && (__s32)w->o.pid != rc->pid)
		return false;
	if ((fl & IPTAP_RF_UID) && w->o.uid != rc->uid)
		return false;
	if ((fl & IPTAP_RF_CGROUP) && w->o.cgroup_id != rc->cgroup_id)
		return false;
	if (fl & IPTAP_RF_COMM) {
		for (int i = 0; i < 16; i++) {
			if (w->o.comm[i] != rc->comm[i])
				return false;
			if (!rc->comm[i])
				break;
		}
	}
	return true;
}

static __always_inline void reader_count(__u32 slot, int what)
{
	struct iptap_reader_stat *rs = bpf_map_lookup_elem(&iptap_reader_stats, &slot);

	if (!rs)
		return;
	switch (what) {
	case 0: rs->records++; break;
	case 1: rs->lost++; break;
	case 2: rs->unmapped++; break;
	default: rs->filtered++; break;
	}
}

/*
 * One reader slot's packet filter in the interpreter (verified once as a
 * global function, so eight slots do not multiply the verifier's paths).
 * 1: write the record.
 */
__noinline int iptap_slot_filter(struct __sk_buff *skb, __u32 l2, __u32 slot)
{
	struct iptap_filter *flt;
	bool copied = false;

	if (!skb || slot >= IPTAP_MAX_READERS)
		return 0;
	flt = bpf_map_lookup_elem(&iptap_filters, &slot);
	if (!flt || !(flt->flags & IPTAP_RF_BPF))
		return 1;
	return l2 > 64 || filter_pass(skb, l2, flt, &copied);
}

/*
 * Each slot's filter entry point.  A reader's pcap-filter program,
 * translated to eBPF in user space (user/lib/iptap_jit.c), sits in
 * iptap_jit[slot] and is tail-called from here: a tail call from a
 * subprogram runs the target in the subprogram's place and returns to its
 * caller, so the translation's return value is this function's (non-zero:
 * the record is wanted).  It finds l2 in skb->cb[0].  Without one
 * (translation or load failed) the tail call falls through to the
 * interpreter.
 */
#define SLOT_FILTER(n)								\
__noinline int iptap_slot_filter##n(struct __sk_buff *skb, __u32 l2)		\
{										\
	if (!skb)								\
		return 0;							\
	bpf_tail_call(skb, &iptap_jit, n);					\
	return iptap_slot_filter(skb, l2, n);					\
}
SLOT_FILTER(0)
SLOT_FILTER(1)
SLOT_FILTER(2)
SLOT_FILTER(3)
SLOT_FILTER(4)
SLOT_FILTER(5)
SLOT_FILTER(6)
SLOT_FILTER(7)

static __always_inline int slot_filter(struct __sk_buff *skb, __u32 l2, __u32 s)
{
	switch (s) {
	case 0: return iptap_slot_filter0(skb, l2);
	case 1: return iptap_slot_filter1(skb, l2);
	case 2: return iptap_slot_filter2(skb, l2);
	case 3: return iptap_slot_filter3(skb, l2);
	case 4: return iptap_slot_filter4(skb, l2);
	case 5: return iptap_slot_filter5(skb, l2);
	case 6: return iptap_slot_filter6(skb, l2);
	default: return iptap_slot_filter7(skb, l2);
	}
}

/*
 * The record into the slot's BPF ring buffer for this CPU: reserved at its
 * size, the header stored, the packet copied from the skb (paged data
 * too), committed.  0, -ENOENT (no ring at the key) or another error (the
 * ring is full: lost).  The reader is woken once per 1/32 of the ring
 * written (it also drains every 100 ms): a wake-up per record would cost
 * more than the record.
 */
#ifdef IPTAP_NO_RINGBUF
/* iptap_compat.bpf.o, for kernels without bpf_dynptr_copy: never a ring buffer. */
static __always_inline long ring_output(struct __sk_buff *skb, struct pktap_header *h,
					__u32 cap, __u32 key)
{
	return -2;
}
#else
/*
 * The wake-up decision: as the perf ring's watermark, a wake-up each time
 * the producer passes another 1/32 of the ring (not when the unread data
 * crosses it: the reader keeps the newest records of each round in the
 * ring, so that would rarely happen again).  Called before the submit:
 * prod is already after this record, which takes (size + 8 + 7) & ~7.
 * The producer position and the ring's size are read from the ring's
 * kernel structures (CO-RE), not asked with two bpf_ringbuf_query() calls:
 * 8-16 ns less per record (the query's values: producer_pos was just
 * stored by this CPU's reservation, max_entries is the data size).  A
 * kernel whose structures lack the fields gets the queries.
 */
static __always_inline __u64 ring_wakeup(void *ring, __u64 size)
{
	struct bpf_ringbuf_map *rbm = ring;
	__u64 prod, mark;

	if (bpf_core_field_exists(rbm->rb) && bpf_core_field_exists(rbm->rb->producer_pos) &&
	    bpf_core_field_exists(rbm->map.max_entries)) {
		prod = rbm->rb->producer_pos;
		mark = ~(((__u64)rbm->map.max_entries >> 5) - 1);
	} else {
		prod = bpf_ringbuf_query(ring, BPF_RB_PROD_POS);
		mark = ~((bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) >> 5) - 1);
	}
	return (prod & mark) != ((prod - ((size + 8 + 7) & ~7ULL)) & mark) ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/*
 * Reservation of a record with room for n packet bytes: bpf_ringbuf_reserve()
 * takes only a constant size, hence one call per 8-byte size class.  The
 * classes are n = 4 + 8 j: 8 (the ring's record header) + 156 + n is a
 * multiple of 8, so a record takes as much of the ring as one reserved at
 * its exact size would (and the ring is as soon full).
 */
#define SMALL_CLASS(n)								\
	if (cap <= (n)) {							\
		rec = bpf_ringbuf_reserve(ring, sizeof(struct pktap_header) + (n), 0); \
		len = cap;							\
		/* bounds the verifier sees in the register the helper gets */	\
		barrier_var(len);						\
		if (len > (n))							\
			len = (n);						\
		if (len < 1)							\
			len = 1;						\
		goto reserved;							\
	}

/*
 * The first len bytes of the frame into dst: from the linear data by 8-byte
 * loads and stores (the last word overlapping the one before), or by
 * bpf_skb_load_bytes() when they are not all linear or len < 8.  len must
 * be bounded by dst's room for the verifier.
 */
static __always_inline long copy_small(struct __sk_buff *skb, __u8 *dst, __u64 len)
{
	__u8 *data = (__u8 *)(long)skb->data, *end = (__u8 *)(long)skb->data_end, *p;
	__u64 t;

	if (len < 8)
		goto slow;
#pragma unroll
	for (__u32 i = 0; i < IPTAP_SMALL_RECORD / 8; i++) {
		if (i * 8 + 8 > len)
			break;
		if (data + i * 8 + 8 > end)
			goto slow;
		*(__u64 *)(dst + i * 8) = *(__u64 *)(data + i * 8);
	}
	t = len - 8;
	barrier_var(t);		/* the last word's offset, not data + len with -8 */
	p = data + t;
	if (p + 8 > end)
		goto slow;
	*(__u64 *)(dst + t) = *(__u64 *)p;
	return 0;
slow:
	barrier_var(len);	/* the verifier wants len >= 1 in this very register */
	if (len < 1)
		len = 1;
	return bpf_skb_load_bytes(skb, 0, dst, len);
}

/*
 * A record of at most IPTAP_SMALL_RECORD packet bytes without dynptrs
 * (the dynptr reservation, data slice and copy cost ~100 ns more per record):
 * reserved in 8-byte size classes, the packet by copy_small().  The record
 * may end in up to 7 bytes of padding: pth_ifunit (which the reader fills
 * from the interface name) carries the packet bytes in the record.
 */
static __always_inline long ring_output_small(struct __sk_buff *skb, void *ring,
					      struct pktap_header *h, __u32 cap)
{
	struct pktap_header *rec;
	__u64 size = sizeof(*h) + cap, len;

	if (cap <= 124) {
		if (cap <= 60) {
			SMALL_CLASS(4) SMALL_CLASS(12) SMALL_CLASS(20) SMALL_CLASS(28)
			SMALL_CLASS(36) SMALL_CLASS(44) SMALL_CLASS(52) SMALL_CLASS(60)
		}
		SMALL_CLASS(68) SMALL_CLASS(76) SMALL_CLASS(84) SMALL_CLASS(92)
		SMALL_CLASS(100) SMALL_CLASS(108) SMALL_CLASS(116) SMALL_CLASS(124)
	}
	if (cap <= 188) {
		SMALL_CLASS(132) SMALL_CLASS(140) SMALL_CLASS(148) SMALL_CLASS(156)
		SMALL_CLASS(164) SMALL_CLASS(172) SMALL_CLASS(180) SMALL_CLASS(188)
	}
	SMALL_CLASS(196) SMALL_CLASS(204) SMALL_CLASS(212) SMALL_CLASS(220)
	SMALL_CLASS(228) SMALL_CLASS(236) SMALL_CLASS(244) SMALL_CLASS(252)
	return -22;
reserved:
	if (!rec)
		return -28;	/* ENOSPC */
	{
		/*
		 * By 8-byte words (h is 8-aligned in iptap_records(), the record
		 * in the ring): the 4-byte moves of the memcpy cost ~2-6 ns more.
		 */
		__u64 *d = (__u64 *)rec;
		const __u64 *src = (const __u64 *)h;

#pragma unroll
		for (int i = 0; i < (int)(sizeof(*h) / 8); i++)
			d[i] = src[i];
		((__u32 *)rec)[sizeof(*h) / 4 - 1] = ((const __u32 *)h)[sizeof(*h) / 4 - 1];
	}
	rec->pth_ifunit = (__u16)cap;
	if (copy_small(skb, (__u8 *)(rec + 1), len)) {
		bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
		return -22;
	}
	bpf_ringbuf_submit(rec, ring_wakeup(ring, size));
	return 0;
}

static __always_inline long ring_output(struct __sk_buff *skb, struct pktap_header *h,
					__u32 cap, __u32 key)
{
	struct bpf_dynptr rec, pkt;
	void *ring;
	__u64 size = sizeof(*h) + cap;
	long err;

	ring = bpf_map_lookup_elem(&iptap_rings, &key);
	if (!ring)
		return -2;
	if (cap && cap <= IPTAP_SMALL_RECORD)
		return ring_output_small(skb, ring, h, cap);
	if (bpf_ringbuf_reserve_dynptr(ring, size, 0, &rec)) {
		bpf_ringbuf_discard_dynptr(&rec, 0);
		return -28;	/* ENOSPC */
	}
	{
		/* The header by plain stores into the record (bpf_dynptr_write: ~13 ns more). */
		void *p = bpf_dynptr_data(&rec, 0, sizeof(*h));

		err = p ? 0 : -22;
		if (p)
			__builtin_memcpy(p, h, sizeof(*h));
	}
	if (!err)
		err = bpf_dynptr_from_skb(skb, 0, &pkt);
	if (!err)
		err = bpf_dynptr_copy(&rec, sizeof(*h), &pkt, 0, cap);
	if (err) {
		bpf_ringbuf_discard_dynptr(&rec, BPF_RB_NO_WAKEUP);
		return err;
	}
	bpf_ringbuf_submit_dynptr(&rec, ring_wakeup(ring, size));
	return 0;
}
#endif

/* One reader slot's owner filters and record.  1 written, 0 filtered, -1 not written. */
__noinline int iptap_slot_output(struct __sk_buff *skb, struct pktap_header *h, struct who *w,
				 __u32 snaplen, __u32 slot)
{
	__u64 cap, len, key;
	__u32 l2;
	long err;

	if (!skb || !h || !w || slot >= IPTAP_MAX_READERS)
		return -1;
	len = skb->len;
	l2 = h->pth_frame_pre_length;	/* the link header the record carries */
	key = slot * nr_cpus + bpf_get_smp_processor_id();
	if (!owner_pass(bpf_map_lookup_elem(&iptap_filters, &slot), w)) {
		reader_count(slot, 3);
		return 0;
	}
	cap = (__u64)l2 + snaplen;
	if (cap > IPTAP_MAX_RECORD_DATA)
		cap = IPTAP_MAX_RECORD_DATA;
	if (cap >= len)
		cap = len;
	else	/* keep the sample 8-byte aligned so no padding follows a cut packet */
		cap = ((4 + sizeof(*h) + cap) & ~7ULL) - 4 - sizeof(*h);
	/*
	 * A perf ring at the key first (a reader without ring buffer, or
	 * `bpftool map event_pipe` taking the slot over): with none there the
	 * helper returns ENOENT (~18 ns) and the slot's BPF ring buffer is
	 * tried.
	 */
	err = bpf_perf_event_output(skb, &iptap_events, (cap << 32) | key, h, sizeof(*h));
	if (err == -2)
		err = ring_output(skb, h, (__u32)cap, (__u32)key);
	if (err == 0) {
		reader_count(slot, 0);
		return 1;
	}
	/* ENOENT: no ring in the slot (not mapped yet, or unmapped at the end). */
	reader_count(slot, err == -2 ? 2 : 1);
	return -1;
}

/*
 * The PKTAP header and one record per wanting reader slot.  A global
 * function of its own so that tap()'s stack stays small: the slot filters'
 * tail calls are allowed only under less than 256 bytes of callers' stack.
 * arg: want (bits 0-7), l2 (bits 8-15), out (bit 16).
 */
__noinline int iptap_records(struct __sk_buff *skb, const struct iptap_ns_cfg *cfg, __u32 arg)
{
	__u32 want = arg & 0xff, l2 = (arg >> 8) & 0xff, out = (arg >> 16) & 1, idx;
	__u64 recs = 0, errs = 0;
	struct iptap_stat *st;
	struct pktap_header h __attribute__((aligned(8)));	/* ring_output_small() */
	struct flow f = {};
	struct who w = {};

	if (!skb || !cfg)
		return 0;
	if (l2 > 64)
		l2 = 64;
	idx = cfg->idx;
	__builtin_memset(&h, 0, sizeof(h));
	dev_fill(skb, &h);
	if (parse(skb, l2, &f))
		return 0;
	h.pth_length = sizeof(h) + l2;
	h.pth_type_next = PTH_TYPE_PACKET;
	h.pth_dlt = PKTAP_DLT_RAW;
	h.pth_flags = out ? PTH_FLAG_DIR_OUT : PTH_FLAG_DIR_IN;
	h.pth_protocol_family = f.family;
	h.pth_frame_pre_length = l2;
	h.pth_ipproto = f.ipproto;
	{
		__u64 now = bpf_ktime_get_tai_ns(), sec = now / 1000000000ULL;
		/* One 64-bit division; the rest fits 32 bits (a cheaper one). */
		__u32 ns = (__u32)(now - sec * 1000000000ULL);

		h.pth_tstamp.tv_sec = (__s32)sec;
		h.pth_tstamp.tv_usec = (__s32)(ns / 1000);
	}
	owner_find(skb, &f, out, &w);
	if (w.found) {
		h.pth_pid = (__s32)w.o.pid;
		h.pth_epid = (__s32)w.o.pid;
		__builtin_memcpy(h.pth_comm, w.o.comm, 16);
		__builtin_memcpy(h.pth_ecomm, w.o.comm, 16);
	} else {
		/* XNU's "no process": pid 0 would read as kernel_task on macOS. */
		h.pth_pid = -1;
		h.pth_epid = -1;
	}
	h.pth_svc = prio_to_svc(w.prio);

	for (__u32 s = 0; s < IPTAP_MAX_READERS; s++) {
		int r;

		if (!(want & (1u << s)))
			continue;
		r = iptap_slot_output(skb, &h, &w, cfg->snaplen[s], s);
		if (r > 0)
			recs++;
		else if (r < 0)
			errs++;
	}
	st = bpf_map_lookup_elem(&iptap_stats, &idx);
	if (st) {
		st->records += recs;
		st->record_errors += errs;
	}
	return 0;
}

static __always_inline int tap(struct __sk_buff *skb, int out)
{
	__u64 cookie = dev_netns_cookie(skb);
	struct iptap_ns_cfg *cfg;
	struct iptap_stat *st;
	__u32 n_raw, mask, want = 0, l2 = 0, idx;

	cfg = ns_cfg(cookie);
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

	/*
	 * Packet filters first: a record nobody wants costs no interface
	 * lookup, no header and no socket lookup.  The link header length
	 * comes from the device itself (the loader's rule in if_info_fill():
	 * Ethernet and loopback have 14 bytes, the rest none).
	 */
	l2 = dev_l2len(skb);
	for (__u32 s = 0; s < IPTAP_MAX_READERS; s++) {
		struct iptap_filter *flt;
		__u32 cb0, key = s;	/* s itself stays a bounded register */
		int r;

		if (!(mask & (1u << s)))
			continue;
		/* No packet filter (a full capture): no slot function, no tail call. */
		flt = bpf_map_lookup_elem(&iptap_filters, &key);
		if (!flt || !(flt->flags & IPTAP_RF_BPF)) {
			want |= 1u << s;
			continue;
		}
		/* The translated filter takes l2 from cb[0]: lend it, give it back. */
		cb0 = skb->cb[0];
		skb->cb[0] = l2;
		r = slot_filter(skb, l2, s);
		skb->cb[0] = cb0;
		if (r)
			want |= 1u << s;
		else
			reader_count(s, 3);
	}
	if (!want)
		return TC_ACT_UNSPEC;
	iptap_records(skb, cfg, want | l2 << 8 | (out ? 1u << 16 : 0));
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
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->cgroup_id = bpf_get_current_cgroup_id();
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
