// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun offload mode in the loader (IFKIT_CMD_UTUN_OFFLOAD).
 *
 * A client that asks (libutun's utun_enable_offload, with its utun
 * descriptor attached) gets an AF_PACKET socket bound to the hidden end
 * hutunN with PACKET_VNET_HDR, and utunN gets its TSO/USO and checksum
 * offloads back: the stack's 64 KB GSO super-packets reach the client whole,
 * with their segmentation and checksum metadata (a virtio_net_hdr), and the
 * client's super-packets enter utunN the same way - what IFF_VNET_HDR +
 * TUNSETOFFLOAD gives a TUN.  Measured here (docs/utun.md) at the offloaded
 * TUN's speed, where the AF_XDP path is bound by 1500-byte segments.
 *
 * Why AF_PACKET and not AF_XDP: a native XDP program on hutunN makes veth
 * clear TSO/USO on utunN (veth_xdp_set drops NETIF_F_GSO_SOFTWARE from the
 * peer), and XDP carries no GSO metadata.  So in offload mode the XDP
 * program is detached from hutunN and veth hands utunN's skbs to hutunN's
 * receive path unchanged, where the packet socket sees them.  What keeps
 * the socket to its utun (include/utun_offload.h, one program copy per
 * utun with its constants):
 *   - a socket filter, locked (SO_LOCK_FILTER: the client can neither
 *     detach nor replace it): only IP frames that arrived on this hutunN,
 *     none under UTUN_FLAGS_NO_OUTPUT (counted as no_output);
 *   - tc ingress on hutunN drops every frame after the packet taps saw it,
 *     so nothing utunN sends enters ifkit's namespace's stack;
 *   - tc egress on hutunN passes only this socket's frames (its cookie),
 *     IPv4/IPv6 with a matching version, GSO only for TCP/UDP; under
 *     UTUN_FLAGS_NO_INPUT frames are discarded and counted after the send
 *     succeeded (as macOS's utun does).
 * The descriptor stays the life line: closing it removes the utun, and the
 * packet socket then fails with ENETDOWN.
 */
#include <arpa/inet.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/mount.h>
#include "ethtool.h"
#include "utun_int.h"
#include "utun_offload.h"
#include "utun_offload.skel.h"

#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif

struct utun_offload {
	struct utun_offload_bpf *skel;
	int pkt_fd;			/* the loader's copy of the client's packet socket */
	uint64_t cookie;
	uint64_t queue_drops;		/* PACKET_STATISTICS tp_drops, summed (reading resets them) */
};

struct utun_offload_state {
	int stats_fd;			/* utun_off_stats, shared by every copy */
	int nr_cpus;
};

static struct utun_offload_state *state_get(struct ifkitd *d)
{
	struct utun_offload_state *os = d->utun->offload;

	if (os)
		return os;
	os = calloc(1, sizeof(*os));
	if (!os)
		return NULL;
	os->nr_cpus = libbpf_num_possible_cpus();
	os->stats_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "utun_off_stats", sizeof(__u32),
				      sizeof(struct utun_off_stat), UTUN_MAX_UNITS, NULL);
	if (os->stats_fd < 0) {
		free(os);
		return NULL;
	}
	d->utun->offload = os;
	return os;
}

void utun_offload_fini(struct ifkitd *d)
{
	struct utun_offload_state *os = d->utun ? d->utun->offload : NULL;

	if (!os)
		return;
	close(os->stats_fd);
	free(os);
	d->utun->offload = NULL;
}

void utun_offload_free(struct utun_dev *u)
{
	struct utun_offload *o = u->offload;

	if (!o)
		return;
	if (o->pkt_fd >= 0)
		close(o->pkt_fd);
	/* tc programs go with hutunN (or stay harmless on a reused ifindex: their ifindex check). */
	utun_offload_bpf__destroy(o->skel);
	free(o);
	u->offload = NULL;
}

/* The namespace hutunN lives in (the one place to change if hidden ends move). */
static int hidden_ns(struct ifkitd *d, const struct utun_dev *u)
{
	(void)u;
	return d->priv_ns_fd;
}

struct off_arg {
	struct ifkitd *d;
	struct utun_dev *u;
	struct utun_offload *o;
	const char *step;
};

/* clsact on hutunN (once: a second create makes the kernel complain in the log). */
static int tc_attach(int ifindex, enum bpf_tc_attach_point where, int prog_fd, bool create)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = UTUN_OFF_TC_HANDLE,
			    .priority = UTUN_OFF_TC_PRIO, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	int err = create ? bpf_tc_hook_create(&hook) : 0;

	if (err && err != -EEXIST)
		return err;
	hook.attach_point = where;
	return bpf_tc_attach(&hook, &opts);
}

/* Undo tc_attach (after a failed setup), in the hidden end's namespace. */
static int tc_detach(void *arg)
{
	const struct utun_dev *u = arg;
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = u->hidden_ifindex,
			    .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = UTUN_OFF_TC_HANDLE,
			    .priority = UTUN_OFF_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
	hook.attach_point = BPF_TC_INGRESS;
	bpf_tc_detach(&hook, &opts);
	return 0;
}

/* In the hidden end's namespace: socket, programs, tc, XDP off. */
static int hidden_setup(void *arg)
{
	struct off_arg *a = arg;
	struct utun_dev *u = a->u;
	struct utun_offload *o = a->o;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = u->hidden_ifindex,
	};
	socklen_t len = sizeof(o->cookie);
	int one = 1, fd, sz = SOCK_BUF, err;

	/* Protocol 0: nothing is queued before the filter is in place and the bind below. */
	o->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (o->pkt_fd < 0) {
		a->step = "packet socket";
		return -errno;
	}
	if (setsockopt(o->pkt_fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
		a->step = "PACKET_VNET_HDR";
		return -errno;
	}
	if (setsockopt(o->pkt_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(o->pkt_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(o->pkt_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(o->pkt_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (getsockopt(o->pkt_fd, SOL_SOCKET, SO_COOKIE, &o->cookie, &len) < 0) {
		a->step = "SO_COOKIE";
		return -errno;
	}
	o->skel = utun_offload_bpf__open();
	if (!o->skel) {
		a->step = "open BPF object";
		return -errno;
	}
	o->skel->rodata->off_ifindex = (__u32)u->hidden_ifindex;
	o->skel->rodata->off_unit = u->unit;
	o->skel->rodata->off_cookie = o->cookie;
	if (bpf_map__reuse_fd(o->skel->maps.utun_ports, a->d->utun->ports_fd) ||
	    bpf_map__reuse_fd(o->skel->maps.utun_stats, a->d->utun->stats_fd) ||
	    bpf_map__reuse_fd(o->skel->maps.utun_off_stats, a->d->utun->offload->stats_fd)) {
		a->step = "reuse maps";
		return -errno;
	}
	if (utun_offload_bpf__load(o->skel)) {
		a->step = "load BPF object";
		return -errno;
	}
	fd = bpf_program__fd(o->skel->progs.utun_off_filter);
	if (setsockopt(o->pkt_fd, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof(fd)) < 0) {
		a->step = "SO_ATTACH_BPF";
		return -errno;
	}
	if (setsockopt(o->pkt_fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof(one)) < 0) {
		a->step = "SO_LOCK_FILTER";
		return -errno;
	}
	/* Egress first: from now on only the socket's frames reach utunN. */
	err = tc_attach(u->hidden_ifindex, BPF_TC_EGRESS,
			bpf_program__fd(o->skel->progs.utun_off_egress), true);
	if (err) {
		a->step = "tc egress on the hidden end";
		return err;
	}
	err = tc_attach(u->hidden_ifindex, BPF_TC_INGRESS,
			bpf_program__fd(o->skel->progs.utun_off_ingress), false);
	if (err) {
		a->step = "tc ingress on the hidden end";
		return err;
	}
	if (bind(o->pkt_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		a->step = "bind to the hidden end";
		return -errno;
	}
	/*
	 * No XDP on hutunN: a native program there makes veth turn TSO/USO
	 * off on utunN, and XDP would strip the GSO metadata anyway.  Either
	 * mode may be attached (the loader falls back to generic).
	 */
	bpf_xdp_detach(u->hidden_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	bpf_xdp_detach(u->hidden_ifindex, XDP_FLAGS_SKB_MODE, NULL);
	return 0;
}

/*
 * Receive packet steering on hutunN over every online CPU.  Without XDP,
 * veth hands utunN's frames to hutunN with netif_rx on the CPU that sent
 * them, and TCP sends one flow from several CPUs (the application's, and
 * the softirq that took an ACK): two per-CPU backlogs then deliver one
 * flow's segments out of order, which the peer takes for loss (measured:
 * 200-900 spurious retransmits per 5 s at MTU 1500, none with RPS).  RPS
 * steers by flow hash, so each flow goes through one backlog, in order.
 * rps_cpus is only in sysfs, and sysfs shows the devices of the namespace
 * that mounted it: a short-lived thread mounts one of its own, in ifkit's
 * namespace and a private mount namespace, as `ip netns exec` does.
 */
struct rps_arg {
	int ns_fd;
	char path[128];
	int err;
};

static void *rps_thread(void *arg)
{
	struct rps_arg *a = arg;
	char mask[300] = "", word[16];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int fd;

	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 1024)
		ncpu = 1024;
	/* "ffffffff,ffffffff" style: 32-bit words, most significant first. */
	for (long w = (ncpu - 1) / 32; w >= 0; w--) {
		long bits = ncpu - w * 32 > 32 ? 32 : ncpu - w * 32;
		unsigned int v = bits == 32 ? 0xffffffffu : (1u << bits) - 1;

		snprintf(word, sizeof(word), w ? "%08x," : "%08x", v);
		strncat(mask, word, sizeof(mask) - strlen(mask) - 1);
	}
	if (setns(a->ns_fd, CLONE_NEWNET) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) < 0) {
		a->err = -errno;
		return NULL;
	}
	fd = open(a->path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, mask, strlen(mask)) < 0)
		a->err = -errno;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int hidden_rps(struct ifkitd *d, const struct utun_dev *u)
{
	struct rps_arg a = { .ns_fd = hidden_ns(d, u) };
	char hname[IFNAMSIZ];
	pthread_t th;
	int err;

	name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
	snprintf(a.path, sizeof(a.path), "/sys/class/net/%s/queues/rx-0/rps_cpus", hname);
	err = pthread_create(&th, NULL, rps_thread, &a);
	if (err)
		return -err;
	pthread_join(th, NULL);
	return a.err;
}

/*
 * utunN's offloads back on: checksums first (TSO needs them), then the
 * segmentation features the XDP program had veth take away.
 */
static int vis_offloads_on(struct utun_dev *u)
{
	static const char *const feats[] = {
		"tx-scatter-gather", "tx-tcp-segmentation", "tx-tcp6-segmentation",
		"tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation",
		"tx-udp-segmentation", "tx-generic-segmentation", NULL,
	};
	int err = ethtool_set_tx_csum(u->ioctl_fd, u->name, true);

	if (err)
		return err;
	return ethtool_set_features(u->ioctl_fd, u->name, feats, true);
}

/* Clear a unit's counters when it is (re)used. */
static void utun_offload_stats_clear(struct ifkitd *d, uint32_t unit)
{
	struct utun_offload_state *os = d->utun ? d->utun->offload : NULL;
	struct utun_off_stat *zero;

	if (!os)
		return;
	zero = calloc((size_t)os->nr_cpus, sizeof(*zero));
	if (zero)
		bpf_map_update_elem(os->stats_fd, &unit, zero, BPF_ANY);
	free(zero);
}

int utun_offload_enable(struct ifkitd *d, struct utun_dev *u, struct reply *r)
{
	struct off_arg a = { .d = d, .u = u };
	struct utun_offload *o;
	int err;

	if (u->offload)
		return reply_error(r, -EALREADY, "%s: already in offload mode", u->name);
	if (u->fast || u->handoff_pending)
		return reply_error(r, -EBUSY, "%s: the client took the fast path", u->name);
	if (!state_get(d))
		return reply_error(r, -ENOMEM, "%s: offload statistics map", u->name);
	utun_offload_stats_clear(d, u->unit);	/* a previous utunN's counts */
	o = calloc(1, sizeof(*o));
	if (!o)
		return reply_error(r, -ENOMEM, "out of memory");
	o->pkt_fd = -1;
	a.o = o;
	pthread_mutex_lock(&u->xsk_lock);
	u->offload = o;
	pthread_mutex_unlock(&u->xsk_lock);
	err = ifkitd_in_netns(d, hidden_ns(d, u), hidden_setup, &a);
	if (err) {
		reply_error(r, err, "%s: offload: %s: %s", u->name, a.step ? a.step : "namespace",
			    strerror(-err));
		pr_warn("%s", r->hdr.msg);
		/*
		 * XDP is detached last, so the utun still works as before: take
		 * the tc programs off again and forget the attempt (a retry may
		 * succeed).
		 */
		ifkitd_in_netns(d, hidden_ns(d, u), tc_detach, u);
		pthread_mutex_lock(&u->xsk_lock);
		utun_offload_free(u);
		pthread_mutex_unlock(&u->xsk_lock);
		return err;
	}
	/* Without them the socket still works, with 1500-byte segments and checksums in software. */
	err = vis_offloads_on(u);
	if (err)
		pr_warn("%s: offload: ethtool offloads on: %s", u->name, strerror(-err));
	err = hidden_rps(d, u);
	if (err)	/* it works without, with reordering under load */
		pr_warn("%s: offload: RPS on the hidden end: %s", u->name, strerror(-err));
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
	r->fd = o->pkt_fd;		/* not owned by the reply: the loader keeps its copy */
	pr_info("%s: offload mode (AF_PACKET + vnet header on the hidden end, TSO/USO on)",
		u->name);
	return 0;
}

void utun_offload_fill(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info)
{
	struct utun_offload_state *os = d->utun->offload;
	struct utun_offload *o = u->offload;
	struct tpacket_stats ps;
	socklen_t len = sizeof(ps);
	struct utun_off_stat *pc, sum;

	if (!o || !os)
		return;
	info->mode = IFKIT_UTUN_MODE_OFFLOAD;
	if (o->pkt_fd >= 0 && getsockopt(o->pkt_fd, SOL_PACKET, PACKET_STATISTICS, &ps, &len) == 0)
		o->queue_drops += ps.tp_drops;
	memset(&sum, 0, sizeof(sum));
	pc = calloc((size_t)os->nr_cpus, sizeof(*pc));
	if (pc && bpf_map_lookup_elem(os->stats_fd, &u->unit, pc) == 0) {
		for (int i = 0; i < os->nr_cpus; i++) {
			sum.out_packets += pc[i].out_packets;
			sum.out_bytes += pc[i].out_bytes;
			sum.in_packets += pc[i].in_packets;
			sum.in_bytes += pc[i].in_bytes;
			sum.no_input += pc[i].no_input;
			sum.bad_gso += pc[i].bad_gso;
			sum.bad_frame += pc[i].bad_frame;
		}
	}
	free(pc);
	/* The filter passed them; the socket's queue then dropped queue_drops of them. */
	info->out_packets += sum.out_packets > o->queue_drops ? sum.out_packets - o->queue_drops : 0;
	info->out_bytes += sum.out_bytes;
	info->errors[UTUN_ERR_QUEUE_FULL] += o->queue_drops;
	info->out_drops += o->queue_drops;
	info->in_packets += sum.in_packets;
	info->in_bytes += sum.in_bytes;
	info->errors[UTUN_ERR_NO_INPUT] += sum.no_input;
	info->errors[UTUN_ERR_BAD_GSO] += sum.bad_gso;
	info->errors[UTUN_ERR_BAD_FAMILY] += sum.bad_frame;
	info->in_drops += sum.no_input + sum.bad_gso + sum.bad_frame;
}

