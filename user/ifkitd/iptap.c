// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap in the loader.
 *
 * An iptapN is a TUN device (IFF_TUN|IFF_NO_PI: ARPHRD_NONE, no link
 * header, so tcpdump says link-type RAW) created in the caller's network
 * namespace and held open by the loader.  Its only queue is detached, so
 * whatever is sent or routed to it is dropped by the driver (after the
 * packet taps); iptap_sink on its tc ingress drops the incoming copies after
 * the taps saw them, so they never reach the IP stack.  It advertises TSO
 * and checksum offload so the clones of GSO packets are not segmented.
 *
 * While a namespace holds at least one iptap, iptap_in/iptap_out sit on tc
 * ingress/egress of every other interface there (loopback included); a link
 * monitor in that namespace taps interfaces that appear later.  The programs
 * are removed with the namespace's last iptap (the seed registers its IP
 * filters only while an iptap exists).  The cgroup programs that remember
 * which process owns a socket are attached while any iptap exists.
 *
 * Listener counts as the seed's iptap_tap_callback keeps them: raw listeners
 * are the packet sockets bound to the iptap (from /proc/net/packet of its
 * namespace, re-read every 250 ms and before every `show`), PKTAP listeners
 * are the open IFKIT_CMD_IPTAP_LISTEN connections, each owning one slot of
 * the iptap_events perf ring.
 *
 * iptaps live as long as the loader: its exit (or death) closes the TUN
 * descriptors, which removes the devices.  Tap programs a killed loader left
 * behind are found (by their reference to our pinned map) and removed when
 * the loader starts again or by `ifkitd --teardown`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_tun.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "iptap.h"
#include "iptap.skel.h"
#include "iptap_util.h"
#include "ifkitd.h"
#include "log.h"
#include "names.h"
#include "netns.h"

#define IPTAP_PREFIX "iptap"
#define IPTAP_MTU 65535
#define IPTAP_POLL_MS 250
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

struct tap_if {
	int ifindex;
	bool created_hook;	/* we made its clsact: remove it with our filters */
};

struct tap_ns {
	struct tap_ns *next;
	struct iptap_state *st;
	int ns_fd;
	uint64_t cookie;
	uint32_t idx;		/* slot in iptap_stats */
	struct nl_sock mon;
	struct watch mon_w;
	struct tap_if *ifs;
	size_t nifs, capifs;
	bool rescan;		/* the monitor lost events and the rescan failed: retry */
};

struct iptap_dev {
	struct iptap_dev *next;
	uint32_t unit;
	char name[IFNAMSIZ];
	int ifindex;
	int tun_fd;
	struct tap_ns *ns;
	uint32_t raw;		/* packet sockets bound to it */
};

struct reader {
	bool used;
	struct client *c;
	struct iptap_dev *dev;
	uint32_t snaplen;
	char comm[16];		/* the reader's command, for `show` */
};

struct iptap_state {
	struct iptap_bpf *skel;
	int cfg_fd, ifaces_fd, stats_fd, events_fd, filters_fd, rstats_fd;
	int in_fd, out_fd, sink_fd;
	int nr_cpus;
	uint64_t priv_cookie;
	struct tap_ns *nss;
	struct iptap_dev *devs;
	struct reader readers[IPTAP_MAX_READERS];
	uint64_t idx_used;
	struct bpf_link *cg_links[8];
	int n_cg_links;
	int timer_fd;
	struct watch timer_w;
	/*
	 * Namespaces put while events were being dispatched: their mon_w may
	 * still sit in the loader's current epoll batch (with fd -1, so it is
	 * skipped), so they are freed two timer ticks later, in a later batch.
	 */
	struct tap_ns *dead_new, *dead_old;
};

static void ns_free_list(struct tap_ns *ns)
{
	while (ns) {
		struct tap_ns *next = ns->next;

		free(ns->ifs);
		free(ns);
		ns = next;
	}
}

/* ---- small helpers run inside a namespace -------------------------------- */

static int cookie_fn(void *arg)
{
	uint64_t *out = arg;
	socklen_t len = sizeof(*out);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, out, &len) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int ns_cookie(struct ifkitd *d, int ns_fd, uint64_t *cookie)
{
	return ifkitd_in_netns(d, ns_fd, cookie_fn, cookie);
}

static int nl_in(struct ifkitd *d, struct tap_ns *ns, struct nl_sock *nl)
{
	return ifkitd_nl_open_in(d, ns->ns_fd, nl);
}

/* ---- tc attach/detach ----------------------------------------------------- */

static int set_noqueue(int ifindex);

struct attach_arg {
	struct iptap_state *st;
	int ifindex;
	bool detach;
	bool sink;
	bool created;
};

static int tc_fn(void *arg)
{
	struct attach_arg *a = arg;
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = IPTAP_TC_HANDLE,
			    .priority = IPTAP_TC_PRIO);
	int err;

	if (a->detach) {
		hook.attach_point = BPF_TC_INGRESS;
		bpf_tc_detach(&hook, &opts);
		if (!a->sink) {
			hook.attach_point = BPF_TC_EGRESS;
			bpf_tc_detach(&hook, &opts);
		}
		if (a->created) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
		return 0;
	}
	if (a->sink && (err = set_noqueue(a->ifindex)))
		pr_debug("iptap: ifindex %d: noqueue: %s", a->ifindex, strerror(-err));
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	a->created = err == 0;
	hook.attach_point = BPF_TC_INGRESS;
	opts.prog_fd = a->sink ? a->st->sink_fd : a->st->in_fd;
	opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_attach(&hook, &opts);
	if (err || a->sink)
		return err;
	hook.attach_point = BPF_TC_EGRESS;
	opts.prog_fd = a->st->out_fd;
	opts.prog_id = 0;
	opts.flags = BPF_TC_F_REPLACE;
	return bpf_tc_attach(&hook, &opts);
}

/*
 * No qdisc on the iptap (as on veth and lo): outgoing copies go straight to
 * the packet taps and the TUN's drop, without a queue lock per packet.
 * Runs inside the iptap's namespace.
 */
static int set_noqueue(int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct tcmsg *tcm;
	int err = 0;
	ssize_t n;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWQDISC;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	nlh->nlmsg_seq = 1;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = TC_H_ROOT;
	mnl_attr_put_strz(nlh, TCA_KIND, "noqueue");
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto fail;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0 || mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), NULL, NULL) < 0)
		goto fail;
	mnl_socket_close(nl);
	return 0;
fail:
	err = -errno;
	mnl_socket_close(nl);
	return err;
}

static bool is_iptap(struct iptap_state *st, struct tap_ns *ns, int ifindex)
{
	for (struct iptap_dev *v = st->devs; v; v = v->next)
		if (v->ns == ns && v->ifindex == ifindex)
			return true;
	return false;
}

static struct tap_if *ns_find_if(struct tap_ns *ns, int ifindex)
{
	for (size_t i = 0; i < ns->nifs; i++)
		if (ns->ifs[i].ifindex == ifindex)
			return &ns->ifs[i];
	return NULL;
}

static void if_info_fill(const struct link_info *link, struct iptap_if_info *info)
{
	uint32_t unit = 0;
	size_t n = strlen(link->name);

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", link->name);
	while (n && link->name[n - 1] >= '0' && link->name[n - 1] <= '9')
		n--;
	for (const char *p = link->name + n; *p; p++)
		unit = unit * 10 + (uint32_t)(*p - '0');
	info->unit = (__u16)unit;
	switch (link->type) {
	case ARPHRD_ETHER:
		info->iftype = PKTAP_IFT_ETHER;
		info->l2len = 14;
		break;
	case ARPHRD_LOOPBACK:
		info->iftype = PKTAP_IFT_LOOP;
		info->l2len = 14;
		break;
	default:
		info->iftype = PKTAP_IFT_OTHER;
		info->l2len = 0;
		break;
	}
}

static int tap_link(struct ifkitd *d, struct tap_ns *ns, const struct link_info *link)
{
	struct iptap_state *st = ns->st;
	struct attach_arg a = { .st = st, .ifindex = link->ifindex };
	struct iptap_if_key key = { .netns_cookie = ns->cookie, .ifindex = (__u32)link->ifindex };
	struct iptap_if_info info;
	struct tap_if *ti;
	int err;

	if (is_iptap(st, ns, link->ifindex))
		return 0;
	ti = ns_find_if(ns, link->ifindex);
	if_info_fill(link, &info);
	if (ti && ti->created_hook)
		info.flags |= IPTAP_IF_OWN_CLSACT;
	/* names may change */
	if (bpf_map_update_elem(st->ifaces_fd, &key, &info, BPF_ANY) < 0) {
		err = -errno;
		if (ti) {	/* tapped: the entry it has stays */
			pr_warn("iptap: %s: cannot update its record: %s", link->name,
				strerror(-err));
			return 0;
		}
		/* Without its entry PKTAP records would carry no name and no link header. */
		pr_warn("iptap: not tapping %s: iptap_ifaces: %s", link->name, strerror(-err));
		return err;
	}
	if (ti)
		return 0;
	err = ifkitd_in_netns(d, ns->ns_fd, tc_fn, &a);
	if (err) {
		pr_warn("iptap: cannot tap %s: %s", link->name, strerror(-err));
		bpf_map_delete_elem(st->ifaces_fd, &key);
		return err;
	}
	if (ns->nifs == ns->capifs) {
		size_t cap = ns->capifs ? ns->capifs * 2 : 16;
		struct tap_if *grown = realloc(ns->ifs, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		ns->ifs = grown;
		ns->capifs = cap;
	}
	if (a.created) {
		/* Remembered in the pinned map: a restart after a crash deletes it. */
		info.flags |= IPTAP_IF_OWN_CLSACT;
		bpf_map_update_elem(st->ifaces_fd, &key, &info, BPF_ANY);
	}
	ns->ifs[ns->nifs++] = (struct tap_if){ link->ifindex, a.created };
	pr_debug("iptap: tapping %s (ifindex %d)", link->name, link->ifindex);
	return 0;
}

static void untap_if(struct ifkitd *d, struct tap_ns *ns, size_t i, bool gone)
{
	struct iptap_if_key key = { .netns_cookie = ns->cookie, .ifindex = (__u32)ns->ifs[i].ifindex };
	struct attach_arg a = { .st = ns->st, .ifindex = ns->ifs[i].ifindex, .detach = true,
				.created = ns->ifs[i].created_hook };

	if (!gone)
		ifkitd_in_netns(d, ns->ns_fd, tc_fn, &a);
	bpf_map_delete_elem(ns->st->ifaces_fd, &key);
	ns->ifs[i] = ns->ifs[--ns->nifs];
}

struct scan_ctx {
	struct ifkitd *d;
	struct tap_ns *ns;
	int *seen;		/* ifindexes the dump listed */
	size_t nseen, capseen;
};

static int scan_one(const struct link_info *link, void *arg)
{
	struct scan_ctx *sc = arg;

	if (sc->nseen == sc->capseen) {
		size_t cap = sc->capseen ? sc->capseen * 2 : 64;
		int *grown = realloc(sc->seen, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;	/* an incomplete list: nothing is dropped */
		sc->seen = grown;
		sc->capseen = cap;
	}
	sc->seen[sc->nseen++] = link->ifindex;
	tap_link(sc->d, sc->ns, link);
	return 0;
}

static bool scan_saw(const struct scan_ctx *sc, int ifindex)
{
	for (size_t i = 0; i < sc->nseen; i++)
		if (sc->seen[i] == ifindex)
			return true;
	return false;
}

static void destroy_dev(struct ifkitd *d, struct iptap_dev *v, bool gone);
static struct tap_ns *ns_find(struct iptap_state *st, uint64_t cookie);

/*
 * Tap every interface of the namespace.  With lost set (the link monitor
 * overflowed), also handle deletions it may have missed: tapped interfaces
 * that are gone lose their iptap_ifaces entry and iptaps deleted from
 * outside are destroyed (which may free ns).
 */
static int ns_rescan(struct ifkitd *d, struct tap_ns *ns, bool lost)
{
	struct scan_ctx sc = { d, ns, NULL, 0, 0 };
	struct iptap_state *st = ns->st;
	uint64_t cookie = ns->cookie;
	struct nl_sock nl;
	struct iptap_dev *v;
	int err;

	/*
	 * A dump that raced with link changes is cut short (EINTR) with the
	 * rest of it still queued: try again on a fresh socket.
	 */
	for (int tries = 0; tries < 4; tries++) {
		err = nl_in(d, ns, &nl);
		if (err)
			break;
		sc.nseen = 0;
		err = nl_link_dump(&nl, scan_one, &sc);
		nl_close(&nl);
		if (err != -EINTR)
			break;
	}
	if (err)
		pr_warn("iptap: listing the links of a tapped namespace: %s", strerror(-err));
	if (err || !lost) {
		free(sc.seen);
		return err;
	}
	for (size_t i = ns->nifs; i-- > 0;) {	/* untap_if moves the last entry to i */
		if (!scan_saw(&sc, ns->ifs[i].ifindex)) {
			pr_debug("iptap: ifindex %d vanished", ns->ifs[i].ifindex);
			untap_if(d, ns, i, true);
		}
	}
again:
	for (v = st->devs; v; v = v->next) {
		if (v->ns == ns && !scan_saw(&sc, v->ifindex)) {
			pr_info("%s: deleted from outside", v->name);
			destroy_dev(d, v, true);
			if (ns_find(st, cookie) != ns)
				break;	/* that was its last iptap: ns is gone */
			goto again;
		}
	}
	free(sc.seen);
	return 0;
}

/* ---- configuration the programs read -------------------------------------- */

static void ns_update_cfg(struct tap_ns *ns)
{
	struct iptap_state *st = ns->st;
	struct iptap_ns_cfg cfg = { .idx = ns->idx };

	for (struct iptap_dev *v = st->devs; v; v = v->next)
		if (v->ns == ns && v->raw && cfg.n_raw < IPTAP_MAX_PER_NS)
			cfg.raw_ifindex[cfg.n_raw++] = (__u32)v->ifindex;
	for (int s = 0; s < IPTAP_MAX_READERS; s++) {
		if (st->readers[s].used && st->readers[s].dev && st->readers[s].dev->ns == ns) {
			cfg.reader_mask |= 1u << s;
			cfg.snaplen[s] = st->readers[s].snaplen;
		}
	}
	bpf_map_update_elem(st->cfg_fd, &ns->cookie, &cfg, BPF_ANY);
}

static void stats_clear(struct iptap_state *st, uint32_t idx)
{
	struct iptap_stat *zero = calloc((size_t)st->nr_cpus, sizeof(*zero));

	if (zero)
		bpf_map_update_elem(st->stats_fd, &idx, zero, BPF_ANY);
	free(zero);
}

static void ns_stats(struct tap_ns *ns, struct iptap_stat *sum)
{
	struct iptap_state *st = ns->st;
	struct iptap_stat *per = calloc((size_t)st->nr_cpus, sizeof(*per));

	memset(sum, 0, sizeof(*sum));
	if (per && bpf_map_lookup_elem(st->stats_fd, &ns->idx, per) == 0) {
		for (int i = 0; i < st->nr_cpus; i++) {
			sum->packets += per[i].packets;
			sum->bytes += per[i].bytes;
			sum->copies += per[i].copies;
			sum->copy_errors += per[i].copy_errors;
			sum->records += per[i].records;
			sum->record_errors += per[i].record_errors;
		}
	}
	free(per);
}

/* ---- raw listener counting ------------------------------------------------- */

struct count_arg {
	char *buf;
	size_t len;
};

static int read_packet_fn(void *arg)
{
	struct count_arg *ca = arg;
	int fd = open("/proc/thread-self/net/packet", O_RDONLY | O_CLOEXEC);
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (off + 1 < ca->len && (n = read(fd, ca->buf + off, ca->len - 1 - off)) > 0)
		off += (size_t)n;
	ca->buf[off] = '\0';
	close(fd);
	return 0;
}

static bool ns_refresh_counts(struct ifkitd *d, struct tap_ns *ns)
{
	struct count_arg ca = { .len = 1 << 18 };
	bool changed = false;

	ca.buf = malloc(ca.len);
	if (!ca.buf)
		return false;
	if (ifkitd_in_netns(d, ns->ns_fd, read_packet_fn, &ca) == 0) {
		for (struct iptap_dev *v = ns->st->devs; v; v = v->next) {
			uint32_t n;

			if (v->ns != ns)
				continue;
			n = (uint32_t)packet_sockets_on(ca.buf, v->ifindex);
			if (n != v->raw) {
				pr_debug("iptap: %s: %u raw listener(s)", v->name, n);
				v->raw = n;
				changed = true;
			}
		}
	}
	free(ca.buf);
	if (changed)
		ns_update_cfg(ns);
	return changed;
}

static void refresh_all(struct ifkitd *d)
{
	for (struct tap_ns *ns = d->iptap->nss; ns; ns = ns->next)
		ns_refresh_counts(d, ns);
}


/*
 * Is anyone but us still in (or pinning) this namespace?  The loader's own
 * descriptors (namespace, TUN, netlink) keep a deleted namespace alive, so
 * `ip netns del` alone would never end its iptaps.
 */
static bool ns_still_used(struct tap_ns *ns)
{
	static const char *const roots[] = { NETNS_RUN_DIR, "/proc" };
	struct stat me, st;
	char self[16];

	if (fstat(ns->ns_fd, &me) < 0)
		return true;
	snprintf(self, sizeof(self), "%d", (int)getpid());
	for (int r = 0; r < 2; r++) {
		DIR *dir = opendir(roots[r]);
		struct dirent *de;
		bool found = false;

		while (dir && !found && (de = readdir(dir))) {
			char path[300];

			if (de->d_name[0] == '.' || (r == 1 && (de->d_name[0] < '0' ||
			    de->d_name[0] > '9' || !strcmp(de->d_name, self))))
				continue;
			if (r == 0)
				snprintf(path, sizeof(path), "%s/%s", roots[r], de->d_name);
			else
				snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			found = stat(path, &st) == 0 && st.st_ino == me.st_ino &&
				st.st_dev == me.st_dev;
		}
		if (dir)
			closedir(dir);
		if (found)
			return true;
	}
	return false;
}

static void ns_put(struct ifkitd *d, struct tap_ns *ns, bool dead);

static void reap_dead_namespaces(struct ifkitd *d)
{
	struct iptap_state *st = d->iptap;
	bool again = true;

	while (again) {
		again = false;
		for (struct tap_ns *ns = st->nss; ns; ns = ns->next) {
			struct iptap_dev *v, *vn;
			bool any = false;

			if (ns_still_used(ns))
				continue;
			pr_info("iptap: a namespace with iptaps was deleted; destroying them");
			for (v = st->devs; v; v = vn) {
				vn = v->next;
				if (v->ns == ns && !any) {
					any = true;
					destroy_dev(d, v, false);	/* the last one frees ns */
					break;
				}
			}
			if (!any)
				ns_put(d, ns, false);
			again = true;	/* the lists changed: start over */
			break;
		}
	}
}

static void timer_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	static unsigned int tick;
	uint64_t ticks;

	(void)events;
	/* Put at least one tick (so one epoll batch) ago: no event can name them. */
	ns_free_list(d->iptap->dead_old);
	d->iptap->dead_old = d->iptap->dead_new;
	d->iptap->dead_new = NULL;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0)
		return;
	for (struct tap_ns *ns = d->iptap->nss; ns; ns = ns->next) {
		if (!ns->rescan)
			continue;
		ns->rescan = ns_rescan(d, ns, true) != 0;
		if (!ns->rescan)
			break;	/* it may have destroyed iptaps (and ns): others next tick */
	}
	refresh_all(d);
	if (++tick % 16 == 0)	/* every 4 s */
		reap_dead_namespaces(d);
}

/* ---- namespaces ------------------------------------------------------------ */


static struct tap_ns *ns_find(struct iptap_state *st, uint64_t cookie)
{
	for (struct tap_ns *ns = st->nss; ns; ns = ns->next)
		if (ns->cookie == cookie)
			return ns;
	return NULL;
}

struct mon_arg {
	struct ifkitd *d;
	struct tap_ns *ns;
	int gone[IPTAP_MAX_PER_NS * 2];	/* iptaps deleted from outside */
	int ngone;
};

static int mon_event(const struct link_info *link, int deleted, void *arg)
{
	struct mon_arg *ma = arg;
	struct tap_ns *ns = ma->ns;

	if (!deleted) {
		tap_link(ma->d, ns, link);
		return 0;
	}
	if (is_iptap(ns->st, ns, link->ifindex)) {
		/* Destroyed after the read: the last one frees ns and its socket. */
		if (ma->ngone < (int)(sizeof(ma->gone) / sizeof(ma->gone[0])))
			ma->gone[ma->ngone++] = link->ifindex;
		return 0;
	}
	for (size_t i = 0; i < ns->nifs; i++) {
		if (ns->ifs[i].ifindex == link->ifindex) {
			untap_if(ma->d, ns, i, true);
			break;
		}
	}
	return 0;
}

static void mon_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	struct mon_arg ma = { .d = d, .ns = w->data };
	struct iptap_state *st = d->iptap;
	uint64_t cookie = ma.ns->cookie;
	int err;

	(void)events;
	err = nl_monitor_read(&ma.ns->mon, mon_event, &ma);
	if (err == -ENOBUFS) {
		pr_debug("iptap: link monitor overflowed: rescanning");
		/* On failure ns is untouched: timer_cb tries again. */
		ma.ns->rescan = ns_rescan(d, ma.ns, true) != 0;
	}
	for (int i = 0; i < ma.ngone; i++) {
		struct tap_ns *ns = ns_find(st, cookie);

		if (!ns)
			break;
		for (struct iptap_dev *v = st->devs; v; v = v->next) {
			if (v->ns == ns && v->ifindex == ma.gone[i]) {
				pr_info("%s: deleted from outside", v->name);
				destroy_dev(d, v, true);
				break;
			}
		}
	}
}

static int mon_open_fn(void *arg)
{
	return nl_open_monitor(arg);
}

static struct tap_ns *ns_get(struct ifkitd *d, int ns_fd, uint64_t cookie)
{
	struct iptap_state *st = d->iptap;
	struct tap_ns *ns = ns_find(st, cookie);
	uint32_t idx;

	if (ns)
		return ns;
	for (idx = 0; idx < IPTAP_MAX_NS; idx++)
		if (!(st->idx_used & (1ULL << idx)))
			break;
	if (idx == IPTAP_MAX_NS)
		return NULL;
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	ns->st = st;
	ns->cookie = cookie;
	ns->idx = idx;
	ns->ns_fd = fcntl(ns_fd, F_DUPFD_CLOEXEC, 0);
	if (ns->ns_fd < 0 || ifkitd_in_netns(d, ns->ns_fd, mon_open_fn, &ns->mon)) {
		if (ns->ns_fd >= 0)
			close(ns->ns_fd);
		free(ns);
		return NULL;
	}
	ns->mon_w = (struct watch){ nl_fd(&ns->mon), mon_cb, ns };
	ifkitd_watch_add(d, &ns->mon_w, 0);
	st->idx_used |= 1ULL << idx;
	stats_clear(st, idx);
	ns->next = st->nss;
	st->nss = ns;
	ns_update_cfg(ns);
	return ns;
}

static void ns_put(struct ifkitd *d, struct tap_ns *ns, bool dead)
{
	struct iptap_state *st = ns->st;
	struct tap_ns **pp;

	while (ns->nifs)
		untap_if(d, ns, ns->nifs - 1, dead);
	bpf_map_delete_elem(st->cfg_fd, &ns->cookie);
	ifkitd_watch_del(d, &ns->mon_w);
	nl_close(&ns->mon);
	ns->mon_w.fd = -1;	/* an event of this batch for it is skipped */
	close(ns->ns_fd);
	ns->ns_fd = -1;
	st->idx_used &= ~(1ULL << ns->idx);
	for (pp = &st->nss; *pp; pp = &(*pp)->next) {
		if (*pp == ns) {
			*pp = ns->next;
			break;
		}
	}
	free(ns->ifs);
	ns->ifs = NULL;
	ns->nifs = ns->capifs = 0;
	/* Freed later (timer_cb): the loader may still hold mon_w in this batch. */
	ns->next = st->dead_new;
	st->dead_new = ns;
}

/* ---- cgroup programs (socket owners) -------------------------------------- */

static void backfill_owners(struct iptap_state *st);

static int cgroup2_path(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[512], type[64];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %511s %63s %*s %*d %*d", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, len, "%s", dir);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void cgroup_attach(struct iptap_state *st)
{
	struct bpf_program *progs[] = {
		st->skel->progs.iptap_sock_create, st->skel->progs.iptap_post_bind4,
		st->skel->progs.iptap_post_bind6, st->skel->progs.iptap_connect4,
		st->skel->progs.iptap_connect6,
	};
	char path[512];
	int fd;

	if (st->n_cg_links)
		return;
	if (cgroup2_path(path, sizeof(path))) {
		pr_warn("iptap: no cgroup2 mount: packets will carry no process");
		return;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("iptap: %s: %s", path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_link *l = bpf_program__attach_cgroup(progs[i], fd);

		if (!l) {
			pr_warn("iptap: attach %s to %s: %s", bpf_program__name(progs[i]), path,
				strerror(errno));
			continue;
		}
		st->cg_links[st->n_cg_links++] = l;
	}
	close(fd);
	backfill_owners(st);
}

/*
 * Sockets that existed before the cgroup programs were attached have no
 * owner yet: walk every process's descriptors once, borrow each IPv4/IPv6
 * socket with pidfd_getfd() and store its owner (without overwriting what
 * the programs recorded).  A socket shared by several processes gets the
 * first one found.
 */
/* uid and cgroup v2 id (the inode of its directory) of process pid. */
static void owner_ids(const char *pid, const char *cgroot, struct iptap_owner *owner)
{
	char path[300], line[512];
	struct stat stb;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s", pid);
	if (stat(path, &stb) == 0)
		owner->uid = (__u32)stb.st_uid;
	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (cgroot[0] && fgets(line, sizeof(line), f)) {
		char full[800];

		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(full, sizeof(full), "%s%s", cgroot, line + 3);
		if (stat(full, &stb) == 0)
			owner->cgroup_id = (__u64)stb.st_ino;
		break;
	}
	fclose(f);
}

static void backfill_owners(struct iptap_state *st)
{
	int map_fd = bpf_map__fd(st->skel->maps.iptap_sk_owner), n = 0;
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	char self[16], cgroot[256] = "";

	cgroup2_path(cgroot, sizeof(cgroot));
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while (proc && (pe = readdir(proc))) {
		struct iptap_owner owner = { 0 };
		char path[300], link[64];
		struct dirent *fe;
		DIR *fds;
		int pidfd;
		FILE *f;

		if (pe->d_name[0] < '0' || pe->d_name[0] > '9' || !strcmp(pe->d_name, self))
			continue;
		owner.pid = (__u32)atoi(pe->d_name);
		snprintf(path, sizeof(path), "/proc/%s/comm", pe->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(owner.comm, sizeof(owner.comm), f))
			owner.comm[strcspn(owner.comm, "\n")] = '\0';
		fclose(f);
		owner_ids(pe->d_name, cgroot, &owner);
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)owner.pid, 0);
		if (pidfd < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		while (fds && (fe = readdir(fds))) {
			char fpath[600];
			ssize_t len;
			int sfd, dom = 0;
			socklen_t dlen = sizeof(dom);

			if (fe->d_name[0] < '0' || fe->d_name[0] > '9')
				continue;
			snprintf(fpath, sizeof(fpath), "%s/%s", path, fe->d_name);
			len = readlink(fpath, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			if (strncmp(link, "socket:", 7))
				continue;
			sfd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(fe->d_name), 0);
			if (sfd < 0)
				continue;
			if (getsockopt(sfd, SOL_SOCKET, SO_DOMAIN, &dom, &dlen) == 0 &&
			    (dom == AF_INET || dom == AF_INET6) &&
			    bpf_map_update_elem(map_fd, &sfd, &owner, BPF_NOEXIST) == 0)
				n++;
			close(sfd);
		}
		if (fds)
			closedir(fds);
		close(pidfd);
	}
	if (proc)
		closedir(proc);
	pr_debug("iptap: recorded the owners of %d existing socket(s)", n);
}

static void cgroup_detach(struct iptap_state *st)
{
	while (st->n_cg_links)
		bpf_link__destroy(st->cg_links[--st->n_cg_links]);
}

/* ---- devices --------------------------------------------------------------- */

struct tun_arg {
	const char *name;
	int fd;
	int steer_fd;
};

static int tun_fn(void *arg)
{
	struct tun_arg *ta = arg;
	struct ifreq ifr;
	unsigned int off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ta->name);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	/* A sink with segmentation offload: GSO clones stay whole. */
	if (ioctl(fd, TUNSETOFFLOAD, off | TUN_F_USO4 | TUN_F_USO6) < 0 &&
	    ioctl(fd, TUNSETOFFLOAD, off) < 0)
		pr_debug("%s: TUNSETOFFLOAD: %s", ta->name, strerror(errno));
	/* Queue 0 without hashing every copy (the default steering dissects the flow). */
	if (ta->steer_fd >= 0 && ioctl(fd, TUNSETSTEERINGEBPF, &ta->steer_fd) < 0)
		pr_debug("%s: TUNSETSTEERINGEBPF: %s", ta->name, strerror(errno));
	/* No queue: whatever is sent to the iptap is dropped after the taps. */
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_DETACH_QUEUE;
	if (ioctl(fd, TUNSETQUEUE, &ifr) < 0)
		goto fail;
	ta->fd = fd;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

static int create_dev(struct ifkitd *d, struct tap_ns *ns, uint32_t unit, struct reply *r)
{
	struct iptap_state *st = d->iptap;
	struct iptap_dev *v;
	struct tun_arg ta = { .fd = -1,
			      .steer_fd = bpf_program__fd(st->skel->progs.iptap_steer) };
	struct link_change chg = LINK_CHANGE_NONE;
	struct link_info li;
	struct attach_arg a = { .st = st, .sink = true };
	struct nl_sock nl;
	int err;

	v = calloc(1, sizeof(*v));
	if (!v)
		return reply_error(r, -ENOMEM, "out of memory");
	v->unit = unit;
	v->tun_fd = -1;
	name_format(v->name, sizeof(v->name), IPTAP_PREFIX, unit);
	ta.name = v->name;
	err = ifkitd_in_netns(d, ns->ns_fd, tun_fn, &ta);
	if (err) {
		free(v);
		if (err == -EBUSY || err == -EEXIST)
			return reply_error(r, -EEXIST, "%s: a device of that name exists", ta.name);
		return reply_error(r, err, "%s: cannot create TUN device: %s", ta.name,
				   strerror(-err));
	}
	v->tun_fd = ta.fd;
	v->ns = ns;
	err = nl_in(d, ns, &nl);
	if (!err) {
		err = nl_link_get(&nl, v->name, 0, -1, &li);
		if (!err) {
			v->ifindex = li.ifindex;
			chg.addrgenmode = 1;	/* IN6_ADDR_GEN_MODE_NONE: it never speaks */
			chg.mtu = IPTAP_MTU;
			chg.arp = 0;
			nl_link_set(&nl, li.ifindex, -1, &chg);
			chg = (struct link_change)LINK_CHANGE_NONE;
			chg.up = 1;
			err = nl_link_set(&nl, li.ifindex, -1, &chg);
		}
		nl_close(&nl);
	}
	if (!err) {
		a.ifindex = v->ifindex;
		err = ifkitd_in_netns(d, ns->ns_fd, tc_fn, &a);
	}
	if (err) {
		close(v->tun_fd);
		free(v);
		return reply_error(r, err, "iptap%u: %s", unit, strerror(-err));
	}
	v->next = st->devs;
	st->devs = v;
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", v->name);
	pr_info("%s: created", v->name);
	return 0;
}

static void close_readers_of(struct ifkitd *d, struct iptap_dev *v)
{
	for (int s = 0; s < IPTAP_MAX_READERS; s++) {
		struct reader *rd = &d->iptap->readers[s];

		if (rd->used && rd->dev == v) {
			rd->dev = NULL;
			/* Its capture ends: the loader sees the hang-up and frees the slot. */
			if (rd->c)
				shutdown(rd->c->w.fd, SHUT_RDWR);
		}
	}
}

static void destroy_dev(struct ifkitd *d, struct iptap_dev *v, bool gone)
{
	struct iptap_state *st = d->iptap;
	struct tap_ns *ns = v->ns;
	struct iptap_dev **pp;
	bool last = true;

	(void)gone;
	close_readers_of(d, v);
	for (pp = &st->devs; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	close(v->tun_fd);	/* the TUN device goes with its last descriptor */
	pr_info("%s: destroyed", v->name);
	free(v);
	for (struct iptap_dev *o = st->devs; o; o = o->next)
		if (o->ns == ns)
			last = false;
	if (last)
		ns_put(d, ns, false);
	else
		ns_update_cfg(ns);
	if (!st->devs)
		cgroup_detach(st);
}

static bool unit_taken(struct iptap_state *st, uint32_t unit)
{
	for (struct iptap_dev *v = st->devs; v; v = v->next)
		if (v->unit == unit)
			return true;
	return false;
}

static int cmd_create(struct ifkitd *d, const struct ifkit_req *req, int ns_fd, struct reply *r)
{
	struct iptap_state *st = d->iptap;
	uint64_t cookie;
	struct tap_ns *ns;
	bool fresh;
	uint32_t unit;
	int err;

	if (ns_fd < 0)
		ns_fd = d->home_ns_fd;
	err = ns_cookie(d, ns_fd, &cookie);
	if (err)
		return reply_error(r, err, "cannot identify the caller's namespace: %s",
				   strerror(-err));
	if (cookie == st->priv_cookie)
		return reply_error(r, -EINVAL, "no iptap in ifkit's private namespace");
	if (req->name[0] && name_parse_unit(req->name, IPTAP_PREFIX, &unit))
		return reply_error(r, -EINVAL, "%s: not an iptap name (iptap0..iptap%u)",
				   req->name, IFKIT_MAX_UNITS - 1);
	if (req->name[0] && unit_taken(st, unit))
		return reply_error(r, -EEXIST, "%s: already exists", req->name);
	fresh = ns_find(st, cookie) == NULL;
	if (!fresh) {
		uint32_t here = 0;

		for (struct iptap_dev *o = st->devs; o; o = o->next)
			here += o->ns->cookie == cookie;
		/* The tap programs copy to at most this many iptaps of a namespace. */
		if (here >= IPTAP_MAX_PER_NS)
			return reply_error(r, -ENOSPC, "at most %d iptaps per network namespace "
					   "(each gets every packet: listen on one of them)",
					   IPTAP_MAX_PER_NS);
	}
	ns = ns_get(d, ns_fd, cookie);
	if (!ns)
		return reply_error(r, -ENOSPC, "too many tapped namespaces");
	if (req->name[0]) {
		err = create_dev(d, ns, unit, r);
	} else {
		err = -ENOSPC;
		for (unit = 0; unit < IFKIT_MAX_UNITS; unit++) {
			if (unit_taken(st, unit))
				continue;
			err = create_dev(d, ns, unit, r);
			if (err != -EEXIST)
				break;
			r->hdr.error = 0;
			r->hdr.msg[0] = '\0';
		}
		if (err == -ENOSPC)
			reply_error(r, err, "no free iptap unit");
	}
	if (err) {
		if (fresh)
			ns_put(d, ns, false);
		return err;
	}
	cgroup_attach(st);
	if (fresh)
		ns_rescan(d, ns, false);
	ns_update_cfg(ns);
	return 0;
}

/* An iptap by name: in the caller's namespace first, else anywhere (units are global). */
static struct iptap_dev *dev_find(struct ifkitd *d, const char *name, int ns_fd)
{
	struct iptap_dev *any = NULL;
	uint64_t cookie = 0;

	if (ns_fd >= 0)
		ns_cookie(d, ns_fd, &cookie);
	for (struct iptap_dev *v = d->iptap->devs; v; v = v->next) {
		if (name[0] && strcmp(v->name, name))
			continue;
		if (v->ns->cookie == cookie)
			return v;
		if (name[0] && !any)
			any = v;
	}
	return any;
}

static uint32_t pktap_count(struct iptap_state *st, struct iptap_dev *v)
{
	uint32_t n = 0;

	for (int s = 0; s < IPTAP_MAX_READERS; s++)
		n += st->readers[s].used && st->readers[s].dev == v;
	return n;
}

static uint32_t total_tap_count(struct iptap_state *st)
{
	uint32_t n = 0;

	for (struct iptap_dev *v = st->devs; v; v = v->next)
		n += v->raw + pktap_count(st, v);
	return n;
}

/* A reader slot's counters summed over the CPUs. */
static void reader_stats(struct iptap_state *st, uint32_t slot, struct iptap_reader_stat *sum)
{
	struct iptap_reader_stat *per = calloc((size_t)st->nr_cpus, sizeof(*per));

	memset(sum, 0, sizeof(*sum));
	if (per && bpf_map_lookup_elem(st->rstats_fd, &slot, per) == 0) {
		for (int i = 0; i < st->nr_cpus; i++) {
			sum->records += per[i].records;
			sum->lost += per[i].lost;
			sum->unmapped += per[i].unmapped;
			sum->filtered += per[i].filtered;
		}
	}
	free(per);
}

/*
 * caller_uid: who asks.  Readers of other users are listed without their
 * pid and command for a non-root caller (as ps would not hide them, but
 * `show` is open to everyone and names processes it learnt as root).
 */
static void fill_info(struct ifkitd *d, struct iptap_dev *v, struct ifkit_iptap_info *info,
		      uid_t caller_uid)
{
	struct iptap_state *st = d->iptap;
	struct iptap_stat sum;

	memset(info, 0, sizeof(*info));
	for (uint32_t s = 0; s < IPTAP_MAX_READERS; s++) {
		struct reader *rd = &st->readers[s];
		struct iptap_reader_stat rs;
		uint32_t n = info->n_readers;

		if (!rd->used || rd->dev != v || n >= sizeof(info->readers) / sizeof(info->readers[0]))
			continue;
		reader_stats(st, s, &rs);
		info->readers[n].slot = s;
		info->readers[n].records = rs.records;
		info->readers[n].lost = rs.lost;
		info->readers[n].filtered = rs.filtered;
		if (caller_uid == 0 || (rd->c && rd->c->uid == caller_uid)) {
			info->readers[n].pid = rd->c ? rd->c->pid : -1;
			memcpy(info->readers[n].comm, rd->comm, sizeof(rd->comm));
		} else {
			info->readers[n].pid = -1;
		}
		info->n_readers = n + 1;
	}

	snprintf(info->name, sizeof(info->name), "%s", v->name);
	netns_name_of(v->ns->ns_fd, info->netns, sizeof(info->netns));
	info->unit = v->unit;
	info->ifindex = (__u32)v->ifindex;
	info->raw_listeners = v->raw;
	info->pktap_listeners = pktap_count(st, v);
	info->total_tap_count = total_tap_count(st);
	info->tapped_ifaces = (__u32)v->ns->nifs;
	ns_stats(v->ns, &sum);
	info->packets = sum.packets;
	info->bytes = sum.bytes;
}

static int cmd_show(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		    struct reply *r)
{
	uid_t uid = c ? c->uid : 0;
	struct ifkit_iptap_info info;
	struct iptap_dev *v;
	int err;

	refresh_all(d);
	if (req->name[0]) {
		v = dev_find(d, req->name, ns_fd);
		if (!v)
			return reply_error(r, -ENODEV, "%s: no such iptap", req->name);
		fill_info(d, v, &info, uid);
		return reply_add_item(r, IFKIT_ITEM_IPTAP, &info, sizeof(info));
	}
	for (v = d->iptap->devs; v; v = v->next) {
		fill_info(d, v, &info, uid);
		err = reply_add_item(r, IFKIT_ITEM_IPTAP, &info, sizeof(info));
		if (err)
			return err;
	}
	return 0;
}

/* A slot without filter; with its counters zeroed when it is given out. */
static void reader_slot_reset(struct iptap_state *st, uint32_t slot, bool zero_stats)
{
	struct iptap_filter none;

	memset(&none, 0, sizeof(none));
	bpf_map_update_elem(st->filters_fd, &slot, &none, BPF_ANY);
	if (zero_stats) {
		struct iptap_reader_stat *zero = calloc((size_t)st->nr_cpus, sizeof(*zero));

		if (zero)
			bpf_map_update_elem(st->rstats_fd, &slot, zero, BPF_ANY);
		free(zero);
	}
}

static void reader_close(struct ifkitd *d, struct client *c)
{
	struct reader *rd = c->priv;
	struct tap_ns *ns;

	if (!d->iptap || !rd)
		return;
	ns = rd->dev ? rd->dev->ns : NULL;
	/* Its rings hang on the shared map file: take them out of the array. */
	for (int i = 0; i < d->iptap->nr_cpus; i++) {
		__u32 key = (__u32)((rd - d->iptap->readers) * d->iptap->nr_cpus + i);

		bpf_map_delete_elem(d->iptap->events_fd, &key);
	}
	reader_slot_reset(d->iptap, (uint32_t)(rd - d->iptap->readers), false);
	pr_info("iptap: PKTAP reader pid %d (slot %ld) left", c->pid,
		(long)(rd - d->iptap->readers));
	memset(rd, 0, sizeof(*rd));
	c->priv = NULL;
	if (ns)
		ns_update_cfg(ns);
}

static int cmd_listen(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		      struct reply *r)
{
	struct iptap_state *st = d->iptap;
	struct iptap_dev *v;
	int s;

	if (!c)
		return reply_error(r, -EINVAL, "listen needs a control connection");
	if (c->priv)
		return reply_error(r, -EBUSY, "this connection already listens");
	v = dev_find(d, req->name, ns_fd);
	if (!v)
		return reply_error(r, -ENODEV, req->name[0] ? "%s: no such iptap" :
				   "no iptap here%s: create one with `ifkit iptap create`", req->name);
	for (s = 0; s < IPTAP_MAX_READERS; s++)
		if (!st->readers[s].used)
			break;
	if (s == IPTAP_MAX_READERS)
		return reply_error(r, -EBUSY, "all %d PKTAP reader slots are in use",
				   IPTAP_MAX_READERS);
	st->readers[s] = (struct reader){ .used = true, .c = c, .dev = v,
		.snaplen = req->value ? req->value : IPTAP_DEFAULT_SNAPLEN };
	if (st->readers[s].snaplen > IPTAP_DEFAULT_SNAPLEN)
		st->readers[s].snaplen = IPTAP_DEFAULT_SNAPLEN;
	if (st->readers[s].snaplen < 20)
		st->readers[s].snaplen = 20;
	reader_slot_reset(st, (uint32_t)s, true);
	{
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
		f = fopen(path, "re");
		if (f) {
			if (fgets(st->readers[s].comm, sizeof(st->readers[s].comm), f))
				st->readers[s].comm[strcspn(st->readers[s].comm, "\n")] = '\0';
			fclose(f);
		}
	}
	c->hold = true;
	c->priv = &st->readers[s];
	c->on_close = reader_close;
	ns_update_cfg(v->ns);
	r->hdr.value = (__u32)s;
	/* The ring itself: readers inside `ip netns exec` have no bpffs to open the pin. */
	r->fd = st->events_fd;
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", v->name);
	pr_info("iptap: PKTAP reader pid %d on %s (slot %d, snaplen %u)", c->pid, v->name, s,
		st->readers[s].snaplen);
	return 0;
}

/*
 * The reader's own maps, lent on its LISTEN connection: it writes its
 * filter into iptap_filters[slot] before it maps its rings (so no record
 * reaches it unfiltered) and reads its counters from iptap_reader_stats.
 */
static int cmd_reader_map(struct ifkitd *d, struct client *c, const struct ifkit_req *req,
			  struct reply *r)
{
	struct reader *rd = c ? c->priv : NULL;

	if (!rd || c->on_close != reader_close)
		return reply_error(r, -EINVAL, "not a PKTAP reader connection (LISTEN first)");
	if (req->value > 1)
		return reply_error(r, -EINVAL, "no reader map %u", req->value);
	r->fd = req->value == 0 ? d->iptap->filters_fd : d->iptap->rstats_fd;
	r->hdr.value = (__u32)(rd - d->iptap->readers);
	return 0;
}

static int iptap_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		 struct reply *r)
{
	struct iptap_dev *v;

	if (!d->iptap)
		return reply_error(r, -EOPNOTSUPP, "iptap is not available (BPF load failed)");
	switch (req->cmd) {
	case IFKIT_CMD_IPTAP_CREATE:
		return cmd_create(d, req, ns_fd, r);
	case IFKIT_CMD_IPTAP_SHOW:
		return cmd_show(d, c, req, ns_fd, r);
	case IFKIT_CMD_IPTAP_READER_MAP:
		return cmd_reader_map(d, c, req, r);
	case IFKIT_CMD_IPTAP_LISTEN:
		return cmd_listen(d, c, req, ns_fd, r);
	case IFKIT_CMD_IPTAP_DESTROY:
		if (!req->name[0])
			return reply_error(r, -EINVAL, "missing iptap name");
		v = dev_find(d, req->name, ns_fd);
		if (!v)
			return reply_error(r, -ENODEV, "%s: no such iptap", req->name);
		destroy_dev(d, v, false);
		return 0;
	}
	return reply_error(r, -EOPNOTSUPP, "unknown iptap command");
}

static void iptap_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	/* Link events of the private namespace: nothing is tapped there. */
	(void)d, (void)link, (void)deleted;
}

static int iptap_count(struct ifkitd *d)
{
	int n = 0;

	if (d->iptap)
		for (struct iptap_dev *v = d->iptap->devs; v; v = v->next)
			n++;
	return n;
}

/* ---- stale programs of a loader that died ---------------------------------- */

struct sweep_ctx {
	uint32_t map_id;	/* our pinned iptap_ns_cfg */
	int ifaces_fd;		/* our pinned iptap_ifaces, or -1 */
	uint64_t cookie;	/* of the namespace being swept */
	int removed, qdiscs;
};

static bool prog_is_ours(uint32_t prog_id, uint32_t map_id)
{
	struct bpf_prog_info info;
	uint32_t ids[16], len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(prog_id);
	bool ours = false;

	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 16;
	info.map_ids = (uint64_t)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && !strncmp(info.name, "iptap_", 6))
		for (uint32_t i = 0; i < info.nr_map_ids && i < 16; i++)
			ours |= ids[i] == map_id;
	close(fd);
	return ours;
}

static int sweep_link(const struct link_info *link, void *arg)
{
	struct sweep_ctx *sc = arg;
	static const enum bpf_tc_attach_point points[] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	bool swept = false;

	for (int i = 0; i < 2; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = link->ifindex,
				    .attach_point = points[i]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = IPTAP_TC_HANDLE,
				    .priority = IPTAP_TC_PRIO);

		if (bpf_tc_query(&hook, &opts) || !prog_is_ours(opts.prog_id, sc->map_id))
			continue;
		opts.prog_id = 0;
		opts.prog_fd = 0;
		opts.flags = 0;
		if (bpf_tc_detach(&hook, &opts) == 0)
			sc->removed++;
		swept = true;
	}
	if (swept && sc->ifaces_fd >= 0) {
		/* The clsact we created goes too (another owner's stays). */
		struct iptap_if_key key = { .netns_cookie = sc->cookie, .ifindex = (__u32)link->ifindex };
		struct iptap_if_info info;
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = link->ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		if (bpf_map_lookup_elem(sc->ifaces_fd, &key, &info) == 0 &&
		    (info.flags & IPTAP_IF_OWN_CLSACT) && bpf_tc_hook_destroy(&hook) == 0)
			sc->qdiscs++;
	}
	return 0;
}

static int sweep_fn(void *arg)
{
	struct sweep_ctx *sc = arg;
	struct nl_sock nl;

	sc->cookie = 0;
	cookie_fn(&sc->cookie);
	if (nl_open(&nl))
		return 0;
	nl_link_dump(&nl, sweep_link, arg);
	nl_close(&nl);
	return 0;
}

/* Every namespace (named ones and every process's) once. */
static int sweep_stale(struct ifkitd *d, uint32_t map_id, int ifaces_fd)
{
	static const char *const roots[] = { NETNS_RUN_DIR, "/proc" };
	struct sweep_ctx sc = { .map_id = map_id, .ifaces_fd = ifaces_fd };
	ino_t *seen = calloc(4096, sizeof(*seen));
	size_t nseen = 0;
	libbpf_print_fn_t print;

	if (!seen || !map_id) {
		free(seen);
		return 0;
	}
	/* Most links have no clsact: the kernel's complaints about that are no news. */
	print = libbpf_set_print(NULL);
	for (int r = 0; r < 2; r++) {
		DIR *dir = opendir(roots[r]);
		struct dirent *de;

		while (dir && (de = readdir(dir))) {
			char path[300];
			struct stat stb;
			bool dup = false;
			int fd;

			if (de->d_name[0] == '.' ||
			    (r == 1 && (de->d_name[0] < '0' || de->d_name[0] > '9')))
				continue;
			if (r == 0)
				snprintf(path, sizeof(path), "%s/%s", roots[r], de->d_name);
			else
				snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (fstat(fd, &stb) == 0) {
				for (size_t i = 0; i < nseen; i++)
					dup |= seen[i] == stb.st_ino;
				if (!dup && nseen < 4096)
					seen[nseen++] = stb.st_ino;
				if (!dup && (d->priv_ns_fd < 0 || netns_same(fd, d->priv_ns_fd) != 1))
					ifkitd_in_netns(d, fd, sweep_fn, &sc);
			}
			close(fd);
		}
		if (dir)
			closedir(dir);
	}
	free(seen);
	libbpf_set_print(print);
	if (sc.removed)
		pr_info("iptap: removed %d tap program(s) and %d clsact qdisc(s) left by an earlier "
			"loader", sc.removed, sc.qdiscs);
	return sc.removed;
}

static uint32_t map_id_of(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static void map_clear(int fd, size_t key_size)
{
	char key[64], next[64];

	while (key_size <= sizeof(key) && bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

static int iptap_init(struct ifkitd *d)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = d->pin_dir);
	struct iptap_state *st;
	uint32_t entries;
	int err;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->nr_cpus = libbpf_num_possible_cpus();
	st->timer_fd = -1;
	st->skel = iptap_bpf__open_opts(&oopts);
	if (!st->skel) {
		err = -errno;
		pr_err("iptap: open BPF object: %s", strerror(-err));
		free(st);
		return err;
	}
	st->skel->rodata->nr_cpus = (__u32)st->nr_cpus;
	entries = (uint32_t)(IPTAP_MAX_READERS * st->nr_cpus);
	bpf_map__set_max_entries(st->skel->maps.iptap_events, entries);
	err = iptap_bpf__load(st->skel);
	if (err) {
		/* A pin from a build with another layout or CPU count: start afresh. */
		char path[512];
		static const char *const pins[] = { "iptap_ns_cfg", "iptap_ifaces",
			"iptap_stats", "iptap_events", "iptap_sk_owner", "iptap_filters",
			"iptap_reader_stats" };

		pr_warn("iptap: load failed (%s); replacing old pins", strerror(-err));
		iptap_bpf__destroy(st->skel);
		for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", d->pin_dir, pins[i]);
			unlink(path);
		}
		st->skel = iptap_bpf__open_opts(&oopts);
		if (st->skel) {
			st->skel->rodata->nr_cpus = (__u32)st->nr_cpus;
			bpf_map__set_max_entries(st->skel->maps.iptap_events, entries);
			err = iptap_bpf__load(st->skel);
		}
		if (!st->skel || err) {
			pr_err("iptap: load BPF object: %s", strerror(-err));
			iptap_bpf__destroy(st->skel);
			free(st);
			return err ? err : -ENOMEM;
		}
	}
	st->cfg_fd = bpf_map__fd(st->skel->maps.iptap_ns_cfg);
	st->ifaces_fd = bpf_map__fd(st->skel->maps.iptap_ifaces);
	st->stats_fd = bpf_map__fd(st->skel->maps.iptap_stats);
	st->events_fd = bpf_map__fd(st->skel->maps.iptap_events);
	st->filters_fd = bpf_map__fd(st->skel->maps.iptap_filters);
	st->rstats_fd = bpf_map__fd(st->skel->maps.iptap_reader_stats);
	st->in_fd = bpf_program__fd(st->skel->progs.iptap_in);
	st->out_fd = bpf_program__fd(st->skel->progs.iptap_out);
	st->sink_fd = bpf_program__fd(st->skel->progs.iptap_sink);
	ns_cookie(d, d->priv_ns_fd, &st->priv_cookie);
	d->iptap = st;

	/* Nothing is tapped while no loader holds an iptap: forget old state. */
	sweep_stale(d, map_id_of(st->cfg_fd), st->ifaces_fd);
	map_clear(st->cfg_fd, sizeof(__u64));
	map_clear(st->ifaces_fd, sizeof(struct iptap_if_key));

	st->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (st->timer_fd >= 0) {
		struct itimerspec its = {
			.it_interval = { 0, IPTAP_POLL_MS * 1000000L },
			.it_value = { 0, IPTAP_POLL_MS * 1000000L },
		};

		timerfd_settime(st->timer_fd, 0, &its, NULL);
		st->timer_w = (struct watch){ st->timer_fd, timer_cb, NULL };
		ifkitd_watch_add(d, &st->timer_w, 0);
	}
	return 0;
}

static void iptap_fini(struct ifkitd *d)
{
	struct iptap_state *st = d->iptap;

	if (!st)
		return;
	while (st->devs)
		destroy_dev(d, st->devs, false);
	while (st->nss)
		ns_put(d, st->nss, false);
	cgroup_detach(st);
	if (st->timer_fd >= 0) {
		ifkitd_watch_del(d, &st->timer_w);
		close(st->timer_fd);
	}
	/* After the event loop: nothing can dispatch to them any more. */
	ns_free_list(st->dead_old);
	ns_free_list(st->dead_new);
	iptap_bpf__destroy(st->skel);
	free(st);
	d->iptap = NULL;
}

static int iptap_teardown(struct ifkitd *d)
{
	char path[512];
	int fd, ifaces_fd;

	/* iptaps died with their loader; only programs of a killed one may remain. */
	snprintf(path, sizeof(path), "%s/iptap_ns_cfg", d->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/iptap_ifaces", d->pin_dir);
	ifaces_fd = bpf_obj_get(path);
	sweep_stale(d, map_id_of(fd), ifaces_fd);
	if (ifaces_fd >= 0)
		close(ifaces_fd);
	close(fd);
	return 0;
}

const struct ifkitd_module iptap_module = {
	.name = "iptap",
	.kind = IFKIT_KIND_IPTAP,
	.init = iptap_init,
	.fini = iptap_fini,
	.handle = iptap_handle,
	.unpriv_ops = IFKITD_OP_BIT(IFKIT_CMD_IPTAP_SHOW),
	.link_event = iptap_link_event,
	.count = iptap_count,
	.teardown = iptap_teardown,
};
