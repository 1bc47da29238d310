// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: the TUN devices and the commands (create, destroy, show, listen,
 * reader maps).
 */
#include "iptap_int.h"

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
	struct iptap_attach_arg a = IPTAP_ATTACH_ARG(st, 0);
	struct nl_sock nl;
	int err;

	v = calloc(1, sizeof(*v));
	if (!v)
		return reply_error(r, -ENOMEM, "out of memory");
	v->unit = unit;
	v->tun_fd = -1;
	v->sink_link = -1;
	a.sink = true;
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
	err = iptap_nl_in(d, ns, &nl);
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
		a.cookie = ns->cookie;
		err = ifkitd_in_netns(d, ns->ns_fd, iptap_tc_fn, &a);
		v->sink_link = a.link[0];
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

void iptap_destroy_dev(struct ifkitd *d, struct iptap_dev *v, bool gone)
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
	if (v->sink_link >= 0)
		close(v->sink_link);
	close(v->tun_fd);	/* the TUN device goes with its last descriptor */
	pr_info("%s: destroyed", v->name);
	free(v);
	for (struct iptap_dev *o = st->devs; o; o = o->next)
		if (o->ns == ns)
			last = false;
	if (last)
		iptap_ns_put(d, ns, false);
	else
		iptap_ns_update_cfg(ns);
	if (!st->devs)
		iptap_cgroup_detach(st);
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
	err = iptap_ns_cookie(d, ns_fd, &cookie);
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
	fresh = iptap_ns_find(st, cookie) == NULL;
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
	ns = iptap_ns_get(d, ns_fd, cookie);
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
			iptap_ns_put(d, ns, false);
		return err;
	}
	iptap_cgroup_attach(st);
	if (fresh)
		iptap_ns_rescan(d, ns, false);
	iptap_ns_update_cfg(ns);
	return 0;
}

/* An iptap by name: in the caller's namespace first, else anywhere (units are global). */
static struct iptap_dev *dev_find(struct ifkitd *d, const char *name, int ns_fd)
{
	struct iptap_dev *any = NULL;
	uint64_t cookie = 0;

	if (ns_fd >= 0)
		iptap_ns_cookie(d, ns_fd, &cookie);
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
	bpfmap_percpu_sum_u64(st->rstats_fd, &slot, sizeof(*sum), sum);
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
	info->hook = st->tcx ? IFKIT_IPTAP_HOOK_TCX : IFKIT_IPTAP_HOOK_CLSACT;
	iptap_ns_stats(v->ns, &sum);
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

	iptap_refresh_all(d);
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
	if (zero_stats)
		bpfmap_percpu_zero(st->rstats_fd, &slot, sizeof(struct iptap_reader_stat));
}

/* Back to the interpreter: the slot's tail call finds no program. */
static void reader_jit_drop(struct iptap_state *st, struct reader *rd)
{
	uint32_t slot = (uint32_t)(rd - st->readers);

	if (rd->jit_fd < 0)
		return;
	bpf_map_delete_elem(st->jit_fd, &slot);
	close(rd->jit_fd);
	rd->jit_fd = -1;
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
		/* Its BPF ring buffers too: a dead reader's rings are freed with it. */
		bpf_map_delete_elem(d->iptap->rings_fd, &key);
	}
	reader_jit_drop(d->iptap, rd);
	reader_slot_reset(d->iptap, (uint32_t)(rd - d->iptap->readers), false);
	pr_info("iptap: PKTAP reader pid %d (slot %ld) left", c->pid,
		(long)(rd - d->iptap->readers));
	memset(rd, 0, sizeof(*rd));
	c->priv = NULL;
	if (ns)
		iptap_ns_update_cfg(ns);
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
		.snaplen = req->value ? req->value : IPTAP_DEFAULT_SNAPLEN,
		.jit_fd = -1 };
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
	iptap_ns_update_cfg(v->ns);
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
 * reaches it unfiltered) and reads its counters from iptap_reader_stats;
 * it puts the BPF ring buffers it creates into iptap_rings at its slot's
 * keys (deleted here when the connection closes, so a killed reader's rings
 * do not stay).
 */
static int cmd_reader_map(struct ifkitd *d, struct client *c, const struct ifkit_req *req,
			  struct reply *r)
{
	struct reader *rd = c ? c->priv : NULL;

	if (!rd || c->on_close != reader_close)
		return reply_error(r, -EINVAL, "not a PKTAP reader connection (LISTEN first)");
	if (req->value > 2)
		return reply_error(r, -EINVAL, "no reader map %u", req->value);
	if (req->value == 2 && d->iptap->no_ringbuf)
		return reply_error(r, -EOPNOTSUPP, "the tap programs were loaded without BPF "
				   "ring buffers (kernel without bpf_dynptr_copy)");
	r->fd = req->value == 0 ? d->iptap->filters_fd :
		req->value == 1 ? d->iptap->rstats_fd : d->iptap->rings_fd;
	r->hdr.value = (__u32)(rd - d->iptap->readers);
	return 0;
}

/*
 * The reader's cBPF program (already in iptap_filters[slot]) as eBPF in place
 * of the interpreter: translated, loaded as a tc program and put into
 * iptap_jit[slot], which the slot's iptap_slot_filterN tail-calls.  It
 * stays there as long as the LISTEN connection.  On failure the interpreter
 * goes on running the program and the reply says why (never EPERM: that
 * would end the connection).
 */
static int cmd_filter_jit(struct ifkitd *d, struct client *c, struct reply *r)
{
	struct iptap_state *st = d->iptap;
	struct reader *rd = c ? c->priv : NULL;
	struct iptap_filter f;
	struct bpf_insn *insns = NULL;
	unsigned int n = 0;
	char why[256] = "";
	uint32_t slot;
	int err;

	if (!rd || c->on_close != reader_close)
		return reply_error(r, -EINVAL, "not a PKTAP reader connection (LISTEN first)");
	slot = (uint32_t)(rd - st->readers);
	reader_jit_drop(st, rd);
	if (bpf_map_lookup_elem(st->filters_fd, &slot, &f))
		return reply_error(r, -EIO, "iptap_filters[%u]: %s", slot, strerror(errno));
	if (!(f.flags & IPTAP_RF_BPF) || !f.len)
		return reply_error(r, -ENOENT, "no filter program in slot %u", slot);
	insns = calloc(IPTAP_JIT_MAX_INSNS, sizeof(*insns));
	if (!insns)
		return reply_error(r, -ENOMEM, "out of memory");
	err = iptap_jit_translate(f.insn, f.len, insns, IPTAP_JIT_MAX_INSNS, &n);
	if (err) {
		reply_error(r, err, "cannot translate the program: %s", strerror(-err));
		goto cleanup;
	}
	rd->jit_fd = iptap_jit_load(insns, n, why, sizeof(why));
	if (rd->jit_fd < 0) {
		err = rd->jit_fd;
		rd->jit_fd = -1;
		reply_error(r, err == -EPERM ? -EACCES : err, "load: %s%s%s", strerror(-err),
			    why[0] ? ": " : "", why);
		goto cleanup;
	}
	if (bpf_map_update_elem(st->jit_fd, &slot, &rd->jit_fd, BPF_ANY)) {
		err = -errno;
		close(rd->jit_fd);
		rd->jit_fd = -1;
		reply_error(r, err == -EPERM ? -EACCES : err, "iptap_jit[%u]: %s", slot,
			    strerror(-err));
		goto cleanup;
	}
	r->hdr.value = n;
	pr_info("iptap: reader slot %u: filter of %u cBPF instructions runs as %u eBPF "
		"instructions", slot, f.len, n);
cleanup:
	free(insns);
	return err;
}

int iptap_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
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
	case IFKIT_CMD_IPTAP_FILTER_JIT:
		return cmd_filter_jit(d, c, r);
	case IFKIT_CMD_IPTAP_LISTEN:
		return cmd_listen(d, c, req, ns_fd, r);
	case IFKIT_CMD_IPTAP_DESTROY:
		if (!req->name[0])
			return reply_error(r, -EINVAL, "missing iptap name");
		v = dev_find(d, req->name, ns_fd);
		if (!v)
			return reply_error(r, -ENODEV, "%s: no such iptap", req->name);
		iptap_destroy_dev(d, v, false);
		return 0;
	}
	return reply_error(r, -EOPNOTSUPP, "unknown iptap command");
}

void iptap_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	/* Link events of the private namespace: nothing is tapped there. */
	(void)d, (void)link, (void)deleted;
}

int iptap_count(struct ifkitd *d)
{
	int n = 0;

	if (d->iptap)
		for (struct iptap_dev *v = d->iptap->devs; v; v = v->next)
			n++;
	return n;
}
