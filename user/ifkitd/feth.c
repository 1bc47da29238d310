// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * feth in the loader: create/destroy/peer/unpeer/show.  State is the set of
 * hidden ends hfethN in the private namespace plus the pinned
 * feth_peer_table; the loader keeps no copy, so a restarted loader simply
 * reads both again.  Peered = both hidden ends up (carrier on both feths);
 * unpeered = hidden ends down (NO-CARRIER, the sender counts tx drops).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfmap.h"
#include "feth.h"
#include "feth.skel.h"
#include "ifkitd.h"
#include "log.h"
#include "names.h"
#include "netns.h"

#define FETH_PREFIX "feth"
#define FETH_MIN_MTU 68
/* veth's own limit; hidden ends run at it so they never cut a frame. */
#define FETH_MAX_MTU 65535
#define FETH_TC_PRIO 1
#define FETH_TC_HANDLE 0xfe70

_Static_assert(FETH_MAX_UNITS == IFKIT_MAX_UNITS, "feth maps are sized for every unit");

struct feth_state {
	struct feth_bpf *skel;
	int table_fd;
	int stats_fd;
	int prog_fd;
	/*
	 * Units whose hidden end exists, so an auto-numbered create finds the
	 * first free unit without asking the kernel about every unit.  A cache
	 * of kernel state: rebuilt at start and after lost link events, kept by
	 * our own creates/destroys and the link monitor.  A stale bit costs at
	 * most one failed create (EEXIST), never a wrong answer.
	 */
	uint64_t unit_used[IFKIT_MAX_UNITS / 64];
};

static void unit_mark(struct ifkitd *d, uint32_t unit, bool used)
{
	uint64_t bit = 1ULL << (unit % 64);

	if (unit >= IFKIT_MAX_UNITS)
		return;
	if (used)
		d->feth->unit_used[unit / 64] |= bit;
	else
		d->feth->unit_used[unit / 64] &= ~bit;
}

/* First unit >= from not known to be in use, or IFKIT_MAX_UNITS. */
static uint32_t unit_first_free(struct ifkitd *d, uint32_t from)
{
	for (uint32_t w = from / 64; w < IFKIT_MAX_UNITS / 64; w++) {
		uint64_t free_bits = ~d->feth->unit_used[w];

		if (w == from / 64)
			free_bits &= ~0ULL << (from % 64);
		if (free_bits)
			return w * 64 + (uint32_t)__builtin_ctzll(free_bits);
	}
	return IFKIT_MAX_UNITS;
}

/* What the kernel says about one feth right now. */
struct feth_dev {
	uint32_t unit;
	struct link_info hidden;
	struct feth_port port;
	bool has_port;
};

static int hidden_lookup(struct ifkitd *d, uint32_t unit, struct link_info *out)
{
	char name[IFNAMSIZ];
	int err = name_hidden(name, sizeof(name), FETH_PREFIX, unit);

	if (err)
		return err;
	err = nl_link_get(&d->nl, name, 0, -1, out);
	if (err == -ENODEV || err == -ENOENT)
		return -ENODEV;
	return err;
}

static int dev_load(struct ifkitd *d, uint32_t unit, struct feth_dev *dev)
{
	struct feth_port_key key;
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->unit = unit;
	err = hidden_lookup(d, unit, &dev->hidden);
	if (err)
		return err;
	key.hidden_ifindex = (__u32)dev->hidden.ifindex;
	dev->has_port = bpf_map_lookup_elem(d->feth->table_fd, &key, &dev->port) == 0;
	if (!dev->has_port) {
		dev->port.unit = unit;
		dev->port.peer_unit = FETH_NO_PEER;
	}
	return 0;
}

static int port_write(struct ifkitd *d, int hidden_ifindex, const struct feth_port *port)
{
	struct feth_port_key key = { .hidden_ifindex = (__u32)hidden_ifindex };

	return bpf_map_update_elem(d->feth->table_fd, &key, port, BPF_ANY) ? -errno : 0;
}

static void port_delete(struct ifkitd *d, int hidden_ifindex)
{
	struct feth_port_key key = { .hidden_ifindex = (__u32)hidden_ifindex };

	bpf_map_delete_elem(d->feth->table_fd, &key);
}

static void stats_clear(struct ifkitd *d, uint32_t unit)
{
	bpfmap_percpu_zero(d->feth->stats_fd, &unit, sizeof(struct feth_stat));
}

static int hidden_set_up(struct ifkitd *d, int ifindex, int up)
{
	struct link_change chg = LINK_CHANGE_NONE;

	chg.up = up;
	return nl_link_set(&d->nl, ifindex, -1, &chg);
}

/*
 * Attach (or replace) the crossing program on a hidden end's tc ingress.
 * A fresh hidden end gets its clsact qdisc first; an adopted one has it.
 */
static int attach_cross(struct ifkitd *d, int ifindex, bool fresh)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FETH_TC_HANDLE, .priority = FETH_TC_PRIO,
			    .prog_fd = d->feth->prog_fd, .flags = BPF_TC_F_REPLACE);
	int err = fresh ? -ENOENT : bpf_tc_attach(&hook, &opts);

	if (!err)
		return 0;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	opts.prog_id = 0;
	return bpf_tc_attach(&hook, &opts);
}

/*
 * Resolve a name the user gave.  feth names are global to ifkit (units are
 * unique across namespaces, as the seed's cloner makes them), so fethN is
 * found wherever it lives.  A name that is no feth but exists in the
 * caller's namespace is EINVAL (the seed's "not a feth"); else ENODEV.
 */
static int resolve(struct ifkitd *d, const char *name, int ns_fd, struct feth_dev *dev,
		   struct reply *r)
{
	struct nl_sock nl;
	struct link_info li;
	uint32_t unit;
	int err;

	if (!name[0])
		return reply_error(r, -EINVAL, "missing feth name");
	if (name_parse_unit(name, FETH_PREFIX, &unit) == 0) {
		err = dev_load(d, unit, dev);
		if (err != -ENODEV) {
			if (err)
				reply_error(r, err, "%s: %s", name, strerror(-err));
			return err;
		}
	}
	if (ns_fd >= 0 && ifkitd_nl_open_in(d, ns_fd, &nl) == 0) {
		err = nl_link_get(&nl, name, 0, -1, &li);
		nl_close(&nl);
		if (err == 0)
			return reply_error(r, -EINVAL, "%s: not a feth device", name);
	}
	return reply_error(r, -ENODEV, "%s: no such device", name);
}

static int set_peer(struct ifkitd *d, struct feth_dev *dev, const struct feth_dev *peer)
{
	dev->port.peer_unit = peer ? peer->unit : FETH_NO_PEER;
	dev->port.peer_hidden_ifindex = peer ? (__u32)peer->hidden.ifindex : 0;
	return port_write(d, dev->hidden.ifindex, &dev->port);
}

static int do_unpeer(struct ifkitd *d, struct feth_dev *dev)
{
	uint32_t peer_unit = dev->port.peer_unit;
	struct feth_dev peer;
	int err = 0;

	if (peer_unit == FETH_NO_PEER)
		return 0;	/* if_fake.c: unpeering an unpeered feth is not an error */
	/* Carrier off first, so nothing crosses to a half-cleared entry. */
	hidden_set_up(d, dev->hidden.ifindex, 0);
	if (dev_load(d, peer_unit, &peer) == 0 && peer.port.peer_unit == dev->unit) {
		hidden_set_up(d, peer.hidden.ifindex, 0);
		err = set_peer(d, &peer, NULL);
	}
	if (!err)
		err = set_peer(d, dev, NULL);
	pr_info("feth%u: unpeered from feth%u", dev->unit, peer_unit);
	return err;
}

static int do_peer(struct ifkitd *d, struct feth_dev *a, struct feth_dev *b, struct reply *r)
{
	int err;

	if (a->unit == b->unit)
		return reply_error(r, -EINVAL, "feth%u: cannot peer with itself", a->unit);
	if (a->port.peer_unit != FETH_NO_PEER)
		return reply_error(r, -EBUSY, "feth%u: already peered with feth%u",
				   a->unit, a->port.peer_unit);
	if (b->port.peer_unit != FETH_NO_PEER)
		return reply_error(r, -EBUSY, "feth%u: already peered with feth%u",
				   b->unit, b->port.peer_unit);
	err = set_peer(d, a, b);
	if (!err)
		err = set_peer(d, b, a);
	if (!err)
		err = hidden_set_up(d, a->hidden.ifindex, 1);
	if (!err)
		err = hidden_set_up(d, b->hidden.ifindex, 1);
	if (err) {
		hidden_set_up(d, a->hidden.ifindex, 0);
		hidden_set_up(d, b->hidden.ifindex, 0);
		set_peer(d, a, NULL);
		set_peer(d, b, NULL);
		return reply_error(r, err, "peer feth%u feth%u: %s", a->unit, b->unit,
				   d->nl.errmsg[0] ? d->nl.errmsg : strerror(-err));
	}
	pr_info("feth%u: peered with feth%u", a->unit, b->unit);
	return 0;
}

static int create_unit(struct ifkitd *d, uint32_t unit, int ns_fd, struct reply *r)
{
	char name[IFNAMSIZ], hname[IFNAMSIZ];
	uint8_t mac[6];
	struct veth_end dev = { .name = name, .netns_fd = ns_fd, .mac = mac, .mtu = 1500 };
	struct veth_end hid = { .name = hname, .netns_fd = d->priv_ns_fd, .mtu = FETH_MAX_MTU };
	struct link_change chg = LINK_CHANGE_NONE;
	struct feth_port port = { .unit = unit, .peer_unit = FETH_NO_PEER };
	struct link_info hl = { 0 };
	int err, fail_line = 0;

	name_format(name, sizeof(name), FETH_PREFIX, unit);
	name_hidden(hname, sizeof(hname), FETH_PREFIX, unit);
	feth_mac(unit, mac);
	err = nl_veth_create(&d->nl, &dev, &hid);
	if (err)
		return err;	/* nothing made */
	err = nl_link_get(&d->nl, hname, 0, -1, &hl);
	if (err)
		{ fail_line = __LINE__; goto fail; }
	chg.arp = 0;
	chg.addrgenmode = 1;	/* IN6_ADDR_GEN_MODE_NONE: the hidden end stays silent */
	err = nl_link_set(&d->nl, hl.ifindex, -1, &chg);
	if (err)
		{ fail_line = __LINE__; goto fail; }
	stats_clear(d, unit);
	err = port_write(d, hl.ifindex, &port);
	if (err)
		{ fail_line = __LINE__; goto fail; }
	err = attach_cross(d, hl.ifindex, true);
	if (err)
		{ fail_line = __LINE__; goto fail; }
	/* Up on the user's side now: it shows NO-CARRIER until peered. */
	chg = (struct link_change)LINK_CHANGE_NONE;
	chg.up = 1;
	err = ifkitd_link_set_in(d, ns_fd, hl.link, &chg);
	if (err)
		{ fail_line = __LINE__; goto fail; }
	unit_mark(d, unit, true);
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", name);
	pr_info("%s: created", name);
	return 0;
fail:
	reply_error(r, err, "%s: %s", name, d->nl.errmsg[0] ? d->nl.errmsg : strerror(-err));
	pr_debug("%s: create failed at line %d: %s", name, fail_line, r->hdr.msg);
	if (hl.ifindex)
		port_delete(d, hl.ifindex);
	/* By name: the ifindex may be what we failed to learn.  Takes both ends. */
	nl_link_del_name(&d->nl, hname);
	return err;
}

static int cmd_create(struct ifkitd *d, const struct ifkit_req *req, int ns_fd, struct reply *r)
{
	struct link_info li;
	uint32_t unit;
	int err;

	if (ns_fd < 0)
		ns_fd = d->home_ns_fd;
	if (req->name[0]) {
		if (name_parse_unit(req->name, FETH_PREFIX, &unit))
			return reply_error(r, -EINVAL, "%s: not a feth name (feth0..feth%u)",
					   req->name, IFKIT_MAX_UNITS - 1);
		if (hidden_lookup(d, unit, &li) == 0)
			return reply_error(r, -EEXIST, "%s: already exists", req->name);
		err = create_unit(d, unit, ns_fd, r);
		if (err == -EEXIST)
			return reply_error(r, err, "%s: a device of that name exists", req->name);
		return err;
	}
	for (unit = unit_first_free(d, 0); unit < IFKIT_MAX_UNITS;
	     unit = unit_first_free(d, unit + 1)) {
		err = create_unit(d, unit, ns_fd, r);
		if (err != -EEXIST)
			return err;
		/* Our hidden end exists after all (stale cache), or a foreign device holds the name. */
		if (hidden_lookup(d, unit, &li) == 0)
			unit_mark(d, unit, true);
		r->hdr.error = 0;
		r->hdr.msg[0] = '\0';
	}
	return reply_error(r, -ENOSPC, "no free feth unit");
}

static int destroy_dev(struct ifkitd *d, struct feth_dev *dev)
{
	int err;

	do_unpeer(d, dev);
	port_delete(d, dev->hidden.ifindex);
	err = nl_link_del(&d->nl, dev->hidden.ifindex, -1);
	stats_clear(d, dev->unit);
	unit_mark(d, dev->unit, false);
	pr_info("feth%u: destroyed", dev->unit);
	return err == -ENODEV ? 0 : err;
}

#define NS_NAME_CACHE 128
struct ns_name_cache {
	int nsid[NS_NAME_CACHE];
	char name[NS_NAME_CACHE][32];
	int n;
};

static void nsid_name(struct ifkitd *d, int nsid, char *out, size_t len,
		      struct ns_name_cache *cache)
{
	out[0] = '\0';
	if (nsid < 0)
		return;
	if (cache->n == 0) {
		/* Learn the nsid of every named namespace once per request. */
		DIR *dir = opendir(NETNS_RUN_DIR);
		struct dirent *de;

		cache->n = -1;
		while (dir && (de = readdir(dir)) && cache->n < NS_NAME_CACHE - 1) {
			int fd, id;

			if (de->d_name[0] == '.')
				continue;
			fd = netns_open(de->d_name);
			if (fd < 0)
				continue;
			id = nl_netns_id(&d->nl, fd);
			close(fd);
			if (id < 0)
				continue;
			if (cache->n < 0)
				cache->n = 0;
			cache->nsid[cache->n] = id;
			snprintf(cache->name[cache->n], 32, "%.31s", de->d_name);
			cache->n++;
		}
		if (dir)
			closedir(dir);
	}
	for (int i = 0; i < cache->n; i++)
		if (cache->nsid[i] == nsid)
			snprintf(out, len, "%s", cache->name[i]);
}

static void fill_info(struct ifkitd *d, const struct feth_dev *dev, int caller_nsid,
		      struct ns_name_cache *cache, struct ifkit_feth_info *info)
{
	struct link_info vl;
	struct feth_stat sum;

	memset(info, 0, sizeof(*info));
	name_format(info->name, sizeof(info->name), FETH_PREFIX, dev->unit);
	info->unit = dev->unit;
	info->peer_unit = dev->port.peer_unit == FETH_NO_PEER ? -1 : (__s32)dev->port.peer_unit;
	if (info->peer_unit >= 0)
		name_format(info->peer, sizeof(info->peer), FETH_PREFIX, dev->port.peer_unit);
	info->media = dev->port.media;
	info->netnsid = dev->hidden.link_netnsid;
	info->here = caller_nsid >= 0 && caller_nsid == dev->hidden.link_netnsid;
	nsid_name(d, dev->hidden.link_netnsid, info->netns, sizeof(info->netns), cache);
	if (nl_link_get(&d->nl, NULL, dev->hidden.link, dev->hidden.link_netnsid, &vl) == 0) {
		snprintf(info->ifname, sizeof(info->ifname), "%s", vl.name);
		info->ifindex = (__u32)vl.ifindex;
		info->mtu = vl.mtu;
		info->ifflags = vl.flags;
		info->carrier = (__u8)vl.carrier;
		memcpy(info->mac, vl.mac, 6);
		info->rx_packets = vl.stats.rx_packets;
		info->rx_bytes = vl.stats.rx_bytes;
		info->tx_packets = vl.stats.tx_packets;
		info->tx_bytes = vl.stats.tx_bytes;
		info->rx_dropped = vl.stats.rx_dropped;
		info->tx_dropped = vl.stats.tx_dropped;
		info->rx_errors = vl.stats.rx_errors;
		info->tx_errors = vl.stats.tx_errors;
	}
	if (bpfmap_percpu_sum_u64(d->feth->stats_fd, &dev->unit, sizeof(sum), &sum) == 0) {
		info->crossed_packets = sum.crossed_packets;
		info->crossed_bytes = sum.crossed_bytes;
		info->dropped_unpeered = sum.dropped_unpeered;
	}
}

struct show_ctx {
	struct ifkitd *d;
	struct reply *r;
	int caller_nsid;
	struct ns_name_cache cache;
	int count;
};

static int show_one(const struct link_info *link, void *arg)
{
	struct show_ctx *sc = arg;
	struct ifkit_feth_info info;
	struct feth_dev dev;
	uint32_t unit;

	if (link->name[0] != 'h' || name_parse_unit(link->name + 1, FETH_PREFIX, &unit))
		return 0;
	sc->count++;
	if (!sc->r)
		return 0;
	if (dev_load(sc->d, unit, &dev))
		return 0;
	fill_info(sc->d, &dev, sc->caller_nsid, &sc->cache, &info);
	return reply_add_item(sc->r, IFKIT_ITEM_FETH, &info, sizeof(info));
}

static int cmd_show(struct ifkitd *d, const struct ifkit_req *req, int ns_fd, struct reply *r)
{
	struct show_ctx sc = { .d = d, .r = r, .caller_nsid = -1 };
	struct ifkit_feth_info info;
	struct feth_dev dev;
	int err;

	if (ns_fd >= 0)
		sc.caller_nsid = nl_netns_id(&d->nl, ns_fd);
	if (!req->name[0])
		return nl_link_dump(&d->nl, show_one, &sc);
	err = resolve(d, req->name, ns_fd, &dev, r);
	if (err)
		return err;
	fill_info(d, &dev, sc.caller_nsid, &sc.cache, &info);
	return reply_add_item(r, IFKIT_ITEM_FETH, &info, sizeof(info));
}

static int feth_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		struct reply *r)
{
	struct feth_dev a, b;
	int err;

	(void)c;
	switch (req->cmd) {
	case IFKIT_CMD_FETH_CREATE:
		return cmd_create(d, req, ns_fd, r);
	case IFKIT_CMD_FETH_SHOW:
		return cmd_show(d, req, ns_fd, r);
	}
	err = resolve(d, req->name, ns_fd, &a, r);
	if (err)
		return err;
	switch (req->cmd) {
	case IFKIT_CMD_FETH_DESTROY:
		err = destroy_dev(d, &a);
		return err ? reply_error(r, err, "%s: %s", req->name, strerror(-err)) : 0;
	case IFKIT_CMD_FETH_UNPEER:
		err = do_unpeer(d, &a);
		return err ? reply_error(r, err, "%s: %s", req->name, strerror(-err)) : 0;
	case IFKIT_CMD_FETH_PEER:
		if (!req->peer[0])	/* if_fake.c: an empty peer name unpeers */
			return do_unpeer(d, &a);
		err = resolve(d, req->peer, ns_fd, &b, r);
		if (err)
			return err;
		return do_peer(d, &a, &b, r);
	case IFKIT_CMD_FETH_SET_MTU: {
		struct link_change chg = LINK_CHANGE_NONE;
		int ns;

		if (req->value < FETH_MIN_MTU || req->value > FETH_MAX_MTU)
			return reply_error(r, -EINVAL, "%s: mtu %u out of range [%d, %d]",
					   req->name, req->value, FETH_MIN_MTU, FETH_MAX_MTU);
		chg.mtu = (int)req->value;
		ns = ifkitd_netns_by_nsid(d, a.hidden.link_netnsid);
		if (ns < 0)
			return reply_error(r, ns, "%s: cannot find its network namespace", req->name);
		err = ifkitd_link_set_in(d, ns, a.hidden.link, &chg);
		close(ns);
		return err ? reply_error(r, err, "%s: mtu %u: %s", req->name, req->value,
					 d->nl.errmsg[0] ? d->nl.errmsg : strerror(-err)) : 0;
	}
	case IFKIT_CMD_FETH_SET_MEDIA:
		if (req->value >= FETH_MEDIA_COUNT)
			return reply_error(r, -EINVAL, "%s: unknown media %u", req->name, req->value);
		a.port.media = req->value;
		return port_write(d, a.hidden.ifindex, &a.port);
	}
	return reply_error(r, -EOPNOTSUPP, "unknown feth command");
}

/*
 * A hidden end disappeared (its feth was deleted with `ip link del`, or the
 * namespace holding the feth died): forget it and unpeer its partner.
 */
static void feth_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	struct feth_port_key key = { .hidden_ifindex = (__u32)link->ifindex };
	struct feth_port port;
	struct feth_dev peer;
	uint32_t unit;

	if (!d->feth || link->name[0] != 'h' || name_parse_unit(link->name + 1, FETH_PREFIX, &unit))
		return;
	unit_mark(d, unit, !deleted);
	if (!deleted)
		return;
	if (bpf_map_lookup_elem(d->feth->table_fd, &key, &port))
		return;
	port_delete(d, link->ifindex);
	stats_clear(d, unit);
	pr_info("feth%u: gone", unit);
	if (port.peer_unit != FETH_NO_PEER && dev_load(d, port.peer_unit, &peer) == 0 &&
	    peer.port.peer_unit == unit) {
		hidden_set_up(d, peer.hidden.ifindex, 0);
		set_peer(d, &peer, NULL);
		pr_info("feth%u: unpeered (feth%u is gone)", peer.unit, unit);
	}
}

static int mark_one(const struct link_info *link, void *arg)
{
	struct ifkitd *d = arg;
	uint32_t unit;

	if (link->name[0] == 'h' && name_parse_unit(link->name + 1, FETH_PREFIX, &unit) == 0)
		unit_mark(d, unit, true);
	return 0;
}

/* A table entry whose hidden end is gone: replay the deletion the monitor lost. */
static int replay_lost_deletion(const void *keyp, void *arg)
{
	const struct feth_port_key *key = keyp;
	struct ifkitd *d = arg;
	struct feth_port port;
	struct link_info li;

	if (bpf_map_lookup_elem(d->feth->table_fd, key, &port) ||
	    nl_link_get(&d->nl, NULL, (int)key->hidden_ifindex, -1, &li) != -ENODEV)
		return 0;
	memset(&li, 0, sizeof(li));
	li.ifindex = (int)key->hidden_ifindex;
	name_hidden(li.name, sizeof(li.name), FETH_PREFIX, port.unit);
	feth_link_event(d, &li, 1);
	return BPFMAP_WALK_RESTART;
}

static void feth_resync(struct ifkitd *d)
{
	memset(d->feth->unit_used, 0, sizeof(d->feth->unit_used));
	nl_link_dump(&d->nl, mark_one, d);
	bpfmap_walk(d->feth->table_fd, sizeof(struct feth_port_key), replay_lost_deletion, d);
}

struct adopt_ctx {
	struct ifkitd *d;
	int adopted;
};

static int adopt_one(const struct link_info *link, void *arg)
{
	struct adopt_ctx *ac = arg;
	struct ifkitd *d = ac->d;
	struct feth_dev dev, peer;
	uint32_t unit;
	int err;

	if (link->name[0] != 'h' || name_parse_unit(link->name + 1, FETH_PREFIX, &unit))
		return 0;
	unit_mark(d, unit, true);
	if (dev_load(d, unit, &dev))
		return 0;
	err = attach_cross(d, dev.hidden.ifindex, false);
	if (err)
		pr_warn("feth%u: cannot attach crossing: %s", unit, strerror(-err));
	/* A peer that vanished while no loader watched: unpeer this end. */
	if (dev.port.peer_unit != FETH_NO_PEER &&
	    (dev_load(d, dev.port.peer_unit, &peer) || peer.port.peer_unit != unit ||
	     (int)dev.port.peer_hidden_ifindex != peer.hidden.ifindex)) {
		hidden_set_up(d, dev.hidden.ifindex, 0);
		set_peer(d, &dev, NULL);
	} else if (!dev.has_port) {
		hidden_set_up(d, dev.hidden.ifindex, 0);
		port_write(d, dev.hidden.ifindex, &dev.port);
	}
	ac->adopted++;
	return 0;
}

/* A table entry whose hidden end no longer exists: drop it. */
static int prune_one(const void *keyp, void *arg)
{
	const struct feth_port_key *key = keyp;
	struct ifkitd *d = arg;
	struct link_info li;

	if (nl_link_get(&d->nl, NULL, (int)key->hidden_ifindex, -1, &li) != -ENODEV ||
	    bpf_map_delete_elem(d->feth->table_fd, key))
		return 0;
	return BPFMAP_WALK_RESTART;
}

static void prune_table(struct ifkitd *d)
{
	bpfmap_walk(d->feth->table_fd, sizeof(struct feth_port_key), prune_one, d);
}

static int feth_init(struct ifkitd *d)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = d->pin_dir);
	struct adopt_ctx ac = { .d = d };
	char path[512];
	int err;

	d->feth = calloc(1, sizeof(*d->feth));
	if (!d->feth)
		return -ENOMEM;
	d->feth->skel = feth_bpf__open_opts(&oopts);
	if (!d->feth->skel) {
		err = -errno;
		pr_err("feth: open BPF object: %s", strerror(-err));
		return err;
	}
	err = feth_bpf__load(d->feth->skel);
	if (err) {
		pr_err("feth: load BPF object: %s", strerror(-err));
		return err;
	}
	d->feth->table_fd = bpf_map__fd(d->feth->skel->maps.feth_peer_table);
	d->feth->stats_fd = bpf_map__fd(d->feth->skel->maps.feth_stats);
	d->feth->prog_fd = bpf_program__fd(d->feth->skel->progs.feth_cross);
	snprintf(path, sizeof(path), "%s/feth_cross", d->pin_dir);
	unlink(path);
	err = bpf_program__pin(d->feth->skel->progs.feth_cross, path);
	if (err)
		pr_warn("feth: pin %s: %s", path, strerror(-err));
	prune_table(d);
	nl_link_dump(&d->nl, adopt_one, &ac);
	if (ac.adopted)
		pr_info("feth: adopted %d existing device(s)", ac.adopted);
	return 0;
}

static void feth_fini(struct ifkitd *d)
{
	if (!d->feth)
		return;
	/* Pins and attachments stay: the pairs keep crossing without us. */
	feth_bpf__destroy(d->feth->skel);
	free(d->feth);
	d->feth = NULL;
}

static int feth_count(struct ifkitd *d)
{
	struct show_ctx sc = { .d = d };

	nl_link_dump(&d->nl, show_one, &sc);
	return sc.count;
}

static int teardown_one(const struct link_info *link, void *arg)
{
	struct ifkitd *d = arg;
	uint32_t unit;

	if (link->name[0] == 'h' && name_parse_unit(link->name + 1, FETH_PREFIX, &unit) == 0)
		nl_link_del(&d->nl, link->ifindex, -1);
	return 0;
}

static int feth_teardown(struct ifkitd *d)
{
	return nl_link_dump(&d->nl, teardown_one, d);
}

const struct ifkitd_module feth_module = {
	.name = "feth",
	.kind = IFKIT_KIND_FETH,
	.init = feth_init,
	.fini = feth_fini,
	.handle = feth_handle,
	.unpriv_ops = IFKITD_OP_BIT(IFKIT_CMD_FETH_SHOW),
	.link_event = feth_link_event,
	.resync = feth_resync,
	.count = feth_count,
	.teardown = feth_teardown,
};
