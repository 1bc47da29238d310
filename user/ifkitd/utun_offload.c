// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun offload mode in the loader (IFKIT_CMD_UTUN_OFFLOAD).
 *
 * A client that asks (libutun's utun_enable_offload, with the utun's
 * AF_XDP socket attached) gets an AF_PACKET socket bound to the hidden end
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
 *     so nothing utunN sends enters the stack of hutunN's namespace;
 *   - tc egress on hutunN passes only this socket's frames (its cookie),
 *     IPv4/IPv6 with a matching version, GSO only for TCP/UDP; under
 *     UTUN_FLAGS_NO_INPUT frames are discarded and counted after the send
 *     succeeded (as macOS's utun does).
 *
 * Lifetime: hutunN lives alone in its own anonymous namespace, kept alive
 * only by the client's sockets (utun_setup.c); the loader has no descriptor
 * of it after the hand-off.  So libutun attaches the utun's AF_XDP socket
 * to the request: it names the utun (by inode), and SIOCGSKNS on it gives
 * the loader that namespace for the length of the request.  The packet
 * socket is made there and handed over; the loader's copy closes once the
 * answer left, the namespace descriptor at the end of the request, the BPF
 * objects once attached (tc and the socket filter hold the programs;
 * programs and maps hold no namespace).  Nothing the loader keeps pins the
 * namespace: the client's sockets are still its only life line, and close
 * or kill -9 removes the utun, loader or no loader.
 *
 * What must outlive a loader restart lives in two maps pinned beside
 * utun_registry: utun_off_stats (the programs' counters) and utun_off_reg
 * (which utuns are in offload mode, the packet socket's inode, the queue
 * drops counted so far), so a restarted loader adopts an offloaded utun
 * with its mode and counts, and offload mode can be enabled on an adopted
 * utun as on any other.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <linux/sockios.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/mount.h>
#include "ethtool.h"
#include "utun_int.h"
#include "utun_offload.h"
#include "utun_offload.skel.h"

/* Socket buffers of the packet socket: a burst of 64 KB super-packets. */
#define SOCK_BUF	(4 << 20)

#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif

/* utun_off_reg: hash keyed by unit, one entry per utun in offload mode. */
struct utun_off_reg {
	__u64 xsk_ino;			/* the utun it belongs to (a reused unit is another) */
	__u64 pkt_ino;			/* the packet socket handed over */
	__u64 queue_drops;		/* PACKET_STATISTICS tp_drops, summed (reading resets them) */
};

struct utun_offload {
	struct utun_offload_bpf *skel;	/* only during the request */
	int pkt_fd;			/* the loader's copy, until the answer left */
	uint64_t cookie;
	struct utun_off_reg reg;	/* as in utun_off_reg */
};

struct utun_offload_state {
	int stats_fd;			/* utun_off_stats, shared by every copy */
	int reg_fd;			/* utun_off_reg */
	int nr_cpus;
};

/*
 * A map pinned as pin_dir/name, made if missing (or of another layout: an
 * older loader's; the programs still using it keep it).
 */
static int pinned_map(struct ifkitd *d, const char *name, enum bpf_map_type type,
		      __u32 value_size)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == type &&
		    info.value_size == value_size && info.max_entries == UTUN_MAX_UNITS)
			return fd;
		close(fd);
		unlink(path);
	}
	fd = bpf_map_create(type, name, sizeof(__u32), value_size, UTUN_MAX_UNITS, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path) < 0)
		pr_warn("utun: pin %s: %s (a restarted loader loses offload counts)", path,
			strerror(errno));
	return fd;
}

static struct utun_offload_state *state_get(struct ifkitd *d)
{
	struct utun_offload_state *os = d->utun->offload;

	if (os)
		return os;
	os = calloc(1, sizeof(*os));
	if (!os)
		return NULL;
	os->nr_cpus = libbpf_num_possible_cpus();
	os->stats_fd = pinned_map(d, "utun_off_stats", BPF_MAP_TYPE_PERCPU_ARRAY,
				  sizeof(struct utun_off_stat));
	os->reg_fd = pinned_map(d, "utun_off_reg", BPF_MAP_TYPE_HASH,
				sizeof(struct utun_off_reg));
	if (os->stats_fd < 0 || os->reg_fd < 0) {
		if (os->stats_fd >= 0)
			close(os->stats_fd);
		if (os->reg_fd >= 0)
			close(os->reg_fd);
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
	close(os->reg_fd);
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
	/* The programs stay attached to hutunN (and go with it). */
	utun_offload_bpf__destroy(o->skel);
	free(o);
	u->offload = NULL;
}

/* The answer carrying the packet socket left: our copy would pin the namespace. */
void utun_offload_answered(struct utun_dev *u)
{
	struct utun_offload *o = u->offload;

	if (o && o->pkt_fd >= 0) {
		close(o->pkt_fd);
		o->pkt_fd = -1;
	}
}

/* Clear a unit's counters (when it is (re)used, or gone). */
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

/* The utun is gone: forget its offload entry (the next utunN starts from zero). */
void utun_offload_forget(struct ifkitd *d, struct utun_dev *u)
{
	struct utun_offload_state *os = d->utun->offload;
	__u32 key = u->unit;

	if (!os || !u->offload)
		return;
	bpf_map_delete_elem(os->reg_fd, &key);
	utun_offload_stats_clear(d, u->unit);
}

/*
 * Adoption: was this utun in offload mode under the previous loader?  Only
 * if the entry names this very utun (its AF_XDP socket's inode); any other
 * entry for the unit is a dead utun's and goes.
 */
void utun_offload_adopt(struct ifkitd *d, struct utun_dev *u)
{
	struct utun_offload_state *os = state_get(d);
	struct utun_off_reg reg;
	struct utun_offload *o;
	__u32 key = u->unit;

	if (!os || bpf_map_lookup_elem(os->reg_fd, &key, &reg))
		return;
	if (reg.xsk_ino != u->xsk_ino) {
		bpf_map_delete_elem(os->reg_fd, &key);
		return;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return;
	o->pkt_fd = -1;
	o->reg = reg;
	u->offload = o;
}

/* After adoption: entries of utuns that died while no loader ran go. */
void utun_offload_prune(struct ifkitd *d)
{
	struct utun_offload_state *os = state_get(d);
	__u32 key, next, dead[UTUN_MAX_UNITS];
	size_t ndead = 0;

	if (!os)
		return;
	for (int more = bpf_map_get_next_key(os->reg_fd, NULL, &next) == 0; more;
	     more = bpf_map_get_next_key(os->reg_fd, &key, &next) == 0) {
		bool live = false;

		key = next;
		for (struct utun_dev *u = d->utun->devs; u && !live; u = u->next)
			live = u->unit == key && u->offload;
		if (!live && ndead < UTUN_MAX_UNITS)
			dead[ndead++] = key;
	}
	for (size_t i = 0; i < ndead; i++) {
		bpf_map_delete_elem(os->reg_fd, &dead[i]);
		utun_offload_stats_clear(d, dead[i]);
	}
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
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = u->hid_ifindex,
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
		.sll_ifindex = u->hid_ifindex,
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
	o->skel->rodata->off_ifindex = (__u32)u->hid_ifindex;
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
	err = tc_attach(u->hid_ifindex, BPF_TC_EGRESS,
			bpf_program__fd(o->skel->progs.utun_off_egress), true);
	if (err) {
		a->step = "tc egress on the hidden end";
		return err;
	}
	err = tc_attach(u->hid_ifindex, BPF_TC_INGRESS,
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
	bpf_xdp_detach(u->hid_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	bpf_xdp_detach(u->hid_ifindex, XDP_FLAGS_SKB_MODE, NULL);
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
 * that mounted it: a short-lived thread mounts one of its own, in hutunN's
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

static int hidden_rps(int hid_ns, const struct utun_dev *u)
{
	struct rps_arg a = { .ns_fd = hid_ns };
	char hname[IFNAMSIZ];
	pthread_t th;
	int err;

	name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
	snprintf(a.path, sizeof(a.path), "/sys/class/net/%s/queues/rx-0/rps_cpus", hname);
	/*
	 * The thread's mount namespace (and the sysfs in it, which holds
	 * hutunN's namespace) goes when the thread exits: nothing stays.
	 */
	err = pthread_create(&th, NULL, rps_thread, &a);
	if (err)
		return -err;
	pthread_join(th, NULL);
	return a.err;
}

/*
 * utunN's offloads back on: checksums first (TSO needs them), then the
 * segmentation features the XDP program had veth take away.  Runs in the
 * client's namespace.
 */
static int vis_offloads_on(void *arg)
{
	static const char *const feats[] = {
		"tx-scatter-gather", "tx-tcp-segmentation", "tx-tcp6-segmentation",
		"tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation",
		"tx-udp-segmentation", "tx-generic-segmentation", NULL,
	};
	const struct utun_dev *u = arg;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (sock < 0)
		return -errno;
	err = ethtool_set_tx_csum(sock, u->name, true);
	if (!err)
		err = ethtool_set_features(sock, u->name, feats, true);
	close(sock);
	return err;
}

static int reg_save(struct ifkitd *d, struct utun_dev *u)
{
	__u32 key = u->unit;

	return bpf_map_update_elem(d->utun->offload->reg_fd, &key, &u->offload->reg, BPF_ANY) ?
	       -errno : 0;
}

/*
 * xsk_fd: the client's AF_XDP socket of u (resolve() checked its inode),
 * a copy the core closes after the request.
 */
int utun_offload_enable(struct ifkitd *d, struct utun_dev *u, int xsk_fd, struct reply *r)
{
	struct off_arg a = { .d = d, .u = u };
	struct utun_offload *o = NULL;
	struct stat st;
	int hid_ns = -1, vis_ns = -1, err;

	if (u->offload)
		return reply_error(r, -EALREADY, "%s: already in offload mode", u->name);
	if (!state_get(d))
		return reply_error(r, -ENOMEM, "%s: offload maps", u->name);
	/* The socket was made in hutunN's namespace: the one way in the loader has. */
	hid_ns = ioctl(xsk_fd, SIOCGSKNS);
	if (hid_ns < 0)
		return reply_error(r, -errno, "%s: offload: the utun's namespace (SIOCGSKNS): %s",
				   u->name, strerror(errno));
	utun_offload_stats_clear(d, u->unit);	/* a previous utunN's counts */
	o = calloc(1, sizeof(*o));
	if (!o) {
		err = reply_error(r, -ENOMEM, "out of memory");
		goto out;
	}
	o->pkt_fd = -1;
	o->reg.xsk_ino = u->xsk_ino;
	a.o = o;
	u->offload = o;
	err = ifkitd_in_netns(d, hid_ns, hidden_setup, &a);
	if (err) {
		reply_error(r, err, "%s: offload: %s: %s", u->name, a.step ? a.step : "namespace",
			    strerror(-err));
		pr_warn("%s", r->hdr.msg);
		/*
		 * XDP is detached last, so the utun still works as before: take
		 * the tc programs off again and forget the attempt (a retry may
		 * succeed).
		 */
		ifkitd_in_netns(d, hid_ns, tc_detach, u);
		utun_offload_free(u);
		goto out;
	}
	/*
	 * XDP is off hutunN now: from here on nothing fails the request.
	 * Without the entry a restarted loader would show socket mode and lose
	 * the queue drops counted so far; the utun works the same.
	 */
	if (fstat(o->pkt_fd, &st) == 0)
		o->reg.pkt_ino = (uint64_t)st.st_ino;
	err = reg_save(d, u);
	if (err)
		pr_warn("%s: offload: utun_off_reg: %s", u->name, strerror(-err));
	/* Attached programs hold themselves (tc, the socket filter); the skeleton may go. */
	utun_offload_bpf__destroy(o->skel);
	o->skel = NULL;
	/* Without them the socket still works, with 1500-byte segments and checksums in software. */
	vis_ns = ifkitd_netns_by_nsid(d, u->vis_nsid);
	err = vis_ns < 0 ? vis_ns : ifkitd_in_netns(d, vis_ns, vis_offloads_on, u);
	if (err)
		pr_warn("%s: offload: ethtool offloads on: %s", u->name, strerror(-err));
	err = hidden_rps(hid_ns, u);
	if (err)	/* it works without, with reordering under load */
		pr_warn("%s: offload: RPS on the hidden end: %s", u->name, strerror(-err));
	err = 0;
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
	/* Not owned by the reply: our copy closes once the answer left (utun_offload_answered). */
	r->fd = o->pkt_fd;
	{
		uint64_t one = 1;

		if (write(d->utun->ev_fd, &one, sizeof(one)) < 0)
			pr_warn("%s: eventfd: %s", u->name, strerror(errno));
	}
	pr_info("%s: offload mode (AF_PACKET + vnet header on the hidden end, TSO/USO on)",
		u->name);
out:
	if (vis_ns >= 0)
		close(vis_ns);
	close(hid_ns);
	return err;
}

/*
 * The packet socket's queue drops (PACKET_STATISTICS; reading resets
 * them, so the loader sums them in utun_off_reg, which outlives it).  The
 * socket is the client's: a copy through pidfd_getfd (at the number libutun
 * wrote in the control page, checked by inode, else found by inode in
 * /proc/PID/fd), held only for the getsockopt.
 */
static void queue_drops_read(struct ifkitd *d, struct utun_dev *u)
{
	struct utun_offload *o = u->offload;
	struct tpacket_stats ps;
	socklen_t len = sizeof(ps);
	int num = u->ctl ? (int)__atomic_load_n(&u->ctl->pkt_fd, __ATOMIC_RELAXED) : -1;
	int fd = o->pkt_fd >= 0 ? o->pkt_fd : utun_client_fd_by_ino(u->owner, num, o->reg.pkt_ino);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &ps, &len) == 0 && ps.tp_drops) {
		o->reg.queue_drops += ps.tp_drops;
		reg_save(d, u);
	}
	if (fd != o->pkt_fd)
		close(fd);
}

void utun_offload_fill(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info)
{
	struct utun_offload_state *os = d->utun->offload;
	struct utun_offload *o = u->offload;
	struct utun_off_stat *pc, sum;
	uint64_t queue_drops;

	if (!o || !os)
		return;
	info->mode = IFKIT_UTUN_MODE_OFFLOAD;
	queue_drops_read(d, u);
	queue_drops = o->reg.queue_drops;
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
	info->out_packets += sum.out_packets > queue_drops ? sum.out_packets - queue_drops : 0;
	info->out_bytes += sum.out_bytes;
	info->errors[UTUN_ERR_QUEUE_FULL] += queue_drops;
	info->out_drops += queue_drops;
	info->in_packets += sum.in_packets;
	info->in_bytes += sum.in_bytes;
	info->errors[UTUN_ERR_NO_INPUT] += sum.no_input;
	info->errors[UTUN_ERR_BAD_GSO] += sum.bad_gso;
	info->errors[UTUN_ERR_BAD_FAMILY] += sum.bad_frame;
	info->in_drops += sum.no_input + sum.bad_gso + sum.bad_frame;
}
