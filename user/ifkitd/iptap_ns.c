// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: tapped namespaces.  While a namespace holds an iptap, every other
 * interface there is tapped (scan, then a link monitor for later ones); the
 * programs find the namespace's configuration (raw iptaps with listeners,
 * PKTAP reader slots) by netns cookie.  Raw listeners are the packet sockets
 * bound to an iptap in /proc/net/packet of its namespace, re-read every
 * 250 ms and before every `show`.  A namespace nobody else uses any more
 * (`ip netns del`) loses its iptaps.
 */
#include "iptap_int.h"

void iptap_ns_free_list(struct tap_ns *ns)
{
	while (ns) {
		struct tap_ns *next = ns->next;

		free(ns->ifs);
		free(ns);
		ns = next;
	}
}

/* ---- small helpers run inside a namespace -------------------------------- */

int iptap_cookie_fn(void *arg)
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

int iptap_ns_cookie(struct ifkitd *d, int ns_fd, uint64_t *cookie)
{
	return ifkitd_in_netns(d, ns_fd, iptap_cookie_fn, cookie);
}

int iptap_nl_in(struct ifkitd *d, struct tap_ns *ns, struct nl_sock *nl)
{
	return ifkitd_nl_open_in(d, ns->ns_fd, nl);
}

bool iptap_is_iptap(struct iptap_state *st, struct tap_ns *ns, int ifindex)
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
	struct iptap_attach_arg a = IPTAP_ATTACH_ARG(st, link->ifindex);
	struct iptap_if_key key = { .netns_cookie = ns->cookie, .ifindex = (__u32)link->ifindex };
	struct iptap_if_info info;
	struct tap_if *ti;
	int err;

	if (iptap_is_iptap(st, ns, link->ifindex))
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
	a.cookie = ns->cookie;
	err = ifkitd_in_netns(d, ns->ns_fd, iptap_tc_fn, &a);
	if (err) {
		pr_warn("iptap: cannot tap %s: %s", link->name, strerror(-err));
		bpf_map_delete_elem(st->ifaces_fd, &key);
		return err;
	}
	if (ns->nifs == ns->capifs) {
		size_t cap = ns->capifs ? ns->capifs * 2 : 16;
		struct tap_if *grown = realloc(ns->ifs, cap * sizeof(*grown));

		if (!grown) {
			if (st->tcx)
				iptap_tcx_detach(st, ns->cookie, link->ifindex, a.link);
			return -ENOMEM;
		}
		ns->ifs = grown;
		ns->capifs = cap;
	}
	if (a.created) {
		/* Remembered in the pinned map: a restart after a crash deletes it. */
		info.flags |= IPTAP_IF_OWN_CLSACT;
		bpf_map_update_elem(st->ifaces_fd, &key, &info, BPF_ANY);
	}
	ns->ifs[ns->nifs++] = (struct tap_if){ link->ifindex, a.created, { a.link[0], a.link[1] } };
	pr_debug("iptap: tapping %s (ifindex %d)", link->name, link->ifindex);
	return 0;
}

static void untap_if(struct ifkitd *d, struct tap_ns *ns, size_t i, bool gone)
{
	struct iptap_if_key key = { .netns_cookie = ns->cookie, .ifindex = (__u32)ns->ifs[i].ifindex };
	struct iptap_attach_arg a = { .st = ns->st, .ifindex = ns->ifs[i].ifindex, .detach = true,
				.created = ns->ifs[i].created_hook };

	/*
	 * A tcx link is detached through its descriptor, wherever the device
	 * is now (moved to another namespace: still attached there).
	 */
	if (ns->st->tcx)
		iptap_tcx_detach(ns->st, ns->cookie, ns->ifs[i].ifindex, ns->ifs[i].link);
	else if (!gone)
		ifkitd_in_netns(d, ns->ns_fd, iptap_tc_fn, &a);
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

/*
 * Tap every interface of the namespace.  With lost set (the link monitor
 * overflowed), also handle deletions it may have missed: tapped interfaces
 * that are gone lose their iptap_ifaces entry and iptaps deleted from
 * outside are destroyed (which may free ns).
 */
int iptap_ns_rescan(struct ifkitd *d, struct tap_ns *ns, bool lost)
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
		err = iptap_nl_in(d, ns, &nl);
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
			iptap_destroy_dev(d, v, true);
			if (iptap_ns_find(st, cookie) != ns)
				break;	/* that was its last iptap: ns is gone */
			goto again;
		}
	}
	free(sc.seen);
	return 0;
}

/* ---- configuration the programs read -------------------------------------- */

/*
 * The namespace's tagged entry in iptap_ns_fast (see include/iptap.h), when
 * its index is free or already its own.  Tag 0 while the content changes:
 * a program that looks meanwhile takes the hash, never half an entry.
 * cfg NULL: the namespace goes, its entry is freed.
 */
static void ns_fast_set(struct iptap_state *st, __u64 cookie, const struct iptap_ns_cfg *cfg)
{
	__u32 i = (__u32)(cookie % IPTAP_NS_FAST);
	struct iptap_ns_fast e;

	if (bpf_map_lookup_elem(st->fast_fd, &i, &e) || (e.cookie && e.cookie != cookie))
		return;		/* taken by another namespace: this one uses the hash */
	if (e.cookie) {
		e.cookie = 0;
		bpf_map_update_elem(st->fast_fd, &i, &e, BPF_ANY);
	}
	if (!cfg)
		return;
	e.cfg = *cfg;
	bpf_map_update_elem(st->fast_fd, &i, &e, BPF_ANY);
	e.cookie = cookie;
	bpf_map_update_elem(st->fast_fd, &i, &e, BPF_ANY);
}

void iptap_ns_fast_clear(struct iptap_state *st)
{
	struct iptap_ns_fast zero;

	memset(&zero, 0, sizeof(zero));
	for (__u32 i = 0; i < IPTAP_NS_FAST; i++)
		bpf_map_update_elem(st->fast_fd, &i, &zero, BPF_ANY);
}

void iptap_ns_update_cfg(struct tap_ns *ns)
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
	ns_fast_set(st, ns->cookie, &cfg);
}

void iptap_stats_clear(struct iptap_state *st, uint32_t idx)
{
	bpfmap_percpu_zero(st->stats_fd, &idx, sizeof(struct iptap_stat));
}

void iptap_ns_stats(struct tap_ns *ns, struct iptap_stat *sum)
{
	bpfmap_percpu_sum_u64(ns->st->stats_fd, &ns->idx, sizeof(*sum), sum);
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
		iptap_ns_update_cfg(ns);
	return changed;
}

void iptap_refresh_all(struct ifkitd *d)
{
	for (struct tap_ns *ns = d->iptap->nss; ns; ns = ns->next)
		ns_refresh_counts(d, ns);
}

static int same_ns(int ns_fd, const struct stat *st, void *arg)
{
	const struct stat *me = arg;

	(void)ns_fd;
	return st->st_ino == me->st_ino && st->st_dev == me->st_dev;
}

/*
 * Is anyone but us still in (or pinning) this namespace?  The loader's own
 * descriptors (namespace, TUN, netlink) keep a deleted namespace alive, so
 * `ip netns del` alone would never end its iptaps.
 */
static bool ns_still_used(struct tap_ns *ns)
{
	struct stat me;

	if (fstat(ns->ns_fd, &me) < 0)
		return true;
	return netns_walk(same_ns, &me, (int)getpid()) != 0;
}

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
					iptap_destroy_dev(d, v, false);	/* the last one frees ns */
					break;
				}
			}
			if (!any)
				iptap_ns_put(d, ns, false);
			again = true;	/* the lists changed: start over */
			break;
		}
	}
}

void iptap_timer_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	static unsigned int tick;
	uint64_t ticks;

	(void)events;
	/* Put at least one tick (so one epoll batch) ago: no event can name them. */
	iptap_ns_free_list(d->iptap->dead_old);
	d->iptap->dead_old = d->iptap->dead_new;
	d->iptap->dead_new = NULL;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0)
		return;
	for (struct tap_ns *ns = d->iptap->nss; ns; ns = ns->next) {
		if (!ns->rescan)
			continue;
		ns->rescan = iptap_ns_rescan(d, ns, true) != 0;
		if (!ns->rescan)
			break;	/* it may have destroyed iptaps (and ns): others next tick */
	}
	iptap_refresh_all(d);
	if (++tick % 16 == 0)	/* every 4 s */
		reap_dead_namespaces(d);
}

/* ---- namespaces ------------------------------------------------------------ */

struct tap_ns *iptap_ns_find(struct iptap_state *st, uint64_t cookie)
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
	if (iptap_is_iptap(ns->st, ns, link->ifindex)) {
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
		/* On failure ns is untouched: iptap_timer_cb tries again. */
		ma.ns->rescan = iptap_ns_rescan(d, ma.ns, true) != 0;
	}
	for (int i = 0; i < ma.ngone; i++) {
		struct tap_ns *ns = iptap_ns_find(st, cookie);

		if (!ns)
			break;
		for (struct iptap_dev *v = st->devs; v; v = v->next) {
			if (v->ns == ns && v->ifindex == ma.gone[i]) {
				pr_info("%s: deleted from outside", v->name);
				iptap_destroy_dev(d, v, true);
				break;
			}
		}
	}
}

static int mon_open_fn(void *arg)
{
	return nl_open_monitor(arg);
}

struct tap_ns *iptap_ns_get(struct ifkitd *d, int ns_fd, uint64_t cookie)
{
	struct iptap_state *st = d->iptap;
	struct tap_ns *ns = iptap_ns_find(st, cookie);
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
	iptap_stats_clear(st, idx);
	ns->next = st->nss;
	st->nss = ns;
	iptap_ns_update_cfg(ns);
	return ns;
}

void iptap_ns_put(struct ifkitd *d, struct tap_ns *ns, bool dead)
{
	struct iptap_state *st = ns->st;
	struct tap_ns **pp;

	while (ns->nifs)
		untap_if(d, ns, ns->nifs - 1, dead);
	ns_fast_set(st, ns->cookie, NULL);
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
	/* Freed later (iptap_timer_cb): the loader may still hold mon_w in this batch. */
	ns->next = st->dead_new;
	st->dead_new = ns;
}
