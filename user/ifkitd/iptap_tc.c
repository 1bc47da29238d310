// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: attach/detach of the tap programs, and the sweep of what a killed
 * loader left behind.
 *
 * On kernels with tcx (6.6+) the programs hang on tcx links
 * (BPF_LINK_CREATE with BPF_TCX_INGRESS/EGRESS): no clsact qdisc, no
 * tcf_classify/cls_bpf around them.  libbpf 1.1 knows neither the attach
 * types nor the flags, so they are spelt here; bpf_link_create() passes
 * unknown attach types through.  The links of tapped interfaces are pinned
 * under <pin dir>/iptap_tcx/<netns cookie>-<ifindex>-<in|out>, so a killed
 * loader leaves them attached as it left its clsact filters, and the next
 * loader (or --teardown) finds and removes them without walking every
 * namespace.  iptap_sink's link is not pinned: its device dies with the
 * loader.  Older kernels get clsact + cls_bpf (bpf_tc_attach), as before.
 */
#include "iptap_int.h"

/* include/uapi/linux/bpf.h of 6.6+ (enum bpf_attach_type, attach flags). */
#define IPTAP_TCX_INGRESS	46
#define IPTAP_TCX_EGRESS	47
#define IPTAP_F_BEFORE		(1U << 3)	/* no relative program: first of the chain */

/* ---- tcx --------------------------------------------------------------------- */

/*
 * A link to a missing device: ENODEV where the kernel knows tcx, EINVAL
 * where BPF_LINK_CREATE has no case for tc programs.
 */
bool iptap_tcx_probe(int prog_fd)
{
	int fd = bpf_link_create(prog_fd, 0, (enum bpf_attach_type)IPTAP_TCX_INGRESS, NULL);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return fd == -ENODEV;
}

static void tcx_pin_path(const struct iptap_state *st, uint64_t cookie, int ifindex, int dir,
			 char *path, size_t len)
{
	snprintf(path, len, "%s/%016llx-%d-%s", st->tcx_dir, (unsigned long long)cookie, ifindex,
		 dir ? "out" : "in");
}

static void link_drop(int fd, const char *pin)
{
	if (fd >= 0) {
		/* Detached now, even if someone else holds the link open. */
		bpf_link_detach(fd);
		close(fd);
	}
	if (pin)
		unlink(pin);
}

/* The link of one program on one hook, first in the chain; pinned if pin is set. */
static int tcx_link(int prog_fd, int ifindex, int type, const char *pin, int *link)
{
	LIBBPF_OPTS(bpf_link_create_opts, o, .flags = IPTAP_F_BEFORE);
	int fd, err;

	if (pin) {
		/* A pin of an earlier loader (or of a reused ifindex): its link goes. */
		fd = bpf_obj_get(pin);
		if (fd >= 0 || errno != ENOENT) {
			pr_debug("iptap: replacing stale link pin %s", pin);
			link_drop(fd, pin);
		}
	}
	fd = bpf_link_create(prog_fd, ifindex, (enum bpf_attach_type)type, &o);
	if (fd < 0)
		return fd;
	if (pin && bpf_obj_pin(fd, pin)) {
		err = -errno;
		pr_warn("iptap: pin %s: %s", pin, strerror(-err));
		link_drop(fd, NULL);
		return err;
	}
	*link = fd;
	return 0;
}

void iptap_tcx_detach(struct iptap_state *st, uint64_t cookie, int ifindex, int link[2])
{
	char pin[512];

	for (int dir = 0; dir < 2; dir++) {
		if (link[dir] < 0)
			continue;
		tcx_pin_path(st, cookie, ifindex, dir, pin, sizeof(pin));
		link_drop(link[dir], pin);
		link[dir] = -1;
	}
}

static int tcx_fn(struct iptap_attach_arg *a)
{
	struct iptap_state *st = a->st;
	char pin[512];
	int err;

	if (a->sink)	/* not pinned: the iptap goes with the loader */
		return tcx_link(st->sink_fd, a->ifindex, IPTAP_TCX_INGRESS, NULL, &a->link[0]);
	tcx_pin_path(st, a->cookie, a->ifindex, 0, pin, sizeof(pin));
	err = tcx_link(st->in_fd, a->ifindex, IPTAP_TCX_INGRESS, pin, &a->link[0]);
	if (err)
		return err;
	tcx_pin_path(st, a->cookie, a->ifindex, 1, pin, sizeof(pin));
	err = tcx_link(st->out_fd, a->ifindex, IPTAP_TCX_EGRESS, pin, &a->link[1]);
	if (err) {
		tcx_pin_path(st, a->cookie, a->ifindex, 0, pin, sizeof(pin));
		link_drop(a->link[0], pin);
		a->link[0] = -1;
	}
	return err;
}

/*
 * Every pinned link of dir (a loader that was killed): detached and
 * unpinned.  Returns how many.
 */
int iptap_sweep_tcx_pins(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *dp = opendir(dir);
	int n = 0;

	if (!dp)
		return 0;
	while ((de = readdir(dp))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		link_drop(fd, path);
		n += fd >= 0;
	}
	closedir(dp);
	return n;
}

/* ---- attach/detach (in the interface's namespace) ------------------------------ */

int iptap_tc_fn(void *arg)
{
	struct iptap_attach_arg *a = arg;
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = IPTAP_TC_HANDLE,
			    .priority = IPTAP_TC_PRIO);
	int err;

	if (a->detach && a->st->tcx) {
		iptap_tcx_detach(a->st, a->cookie, a->ifindex, a->link);
		return 0;
	}
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
	/*
	 * No qdisc on the iptap (as on veth and lo): outgoing copies go
	 * straight to the packet taps and the TUN's drop, without a queue lock.
	 */
	if (a->sink && (err = qdisc_replace_root(a->ifindex, "noqueue")))
		pr_debug("iptap: ifindex %d: noqueue: %s", a->ifindex, strerror(-err));
	if (a->st->tcx)
		return tcx_fn(a);
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
	iptap_cookie_fn(&sc->cookie);
	if (nl_open(&nl))
		return 0;
	nl_link_dump(&nl, sweep_link, arg);
	nl_close(&nl);
	return 0;
}

struct sweep_walk {
	struct ifkitd *d;
	struct sweep_ctx *sc;
};

static int sweep_ns(int ns_fd, const struct stat *st, void *arg)
{
	struct sweep_walk *sw = arg;

	(void)st;
	if (sw->d->priv_ns_fd < 0 || netns_same(ns_fd, sw->d->priv_ns_fd) != 1)
		ifkitd_in_netns(sw->d, ns_fd, sweep_fn, sw->sc);
	return 0;
}

/* Every namespace (named ones and every process's) once. */
int iptap_sweep_stale(struct ifkitd *d, uint32_t map_id, int ifaces_fd)
{
	struct sweep_ctx sc = { .map_id = map_id, .ifaces_fd = ifaces_fd };
	struct sweep_walk sw = { d, &sc };
	libbpf_print_fn_t print;

	if (!map_id)
		return 0;
	/* Most links have no clsact: the kernel's complaints about that are no news. */
	print = libbpf_set_print(NULL);
	netns_walk(sweep_ns, &sw, 0);
	libbpf_set_print(print);
	if (sc.removed)
		pr_info("iptap: removed %d tap program(s) and %d clsact qdisc(s) left by an earlier "
			"loader", sc.removed, sc.qdiscs);
	return sc.removed;
}
