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
 * the iptap_events perf ring and of iptap_rings (its BPF ring buffers).
 *
 * iptaps live as long as the loader: its exit (or death) closes the TUN
 * descriptors, which removes the devices.  Tap programs a killed loader left
 * behind are found (by their reference to our pinned map) and removed when
 * the loader starts again or by `ifkitd --teardown`.  They hang on tcx links
 * where the kernel has tcx (pinned under <pin dir>/iptap_tcx), else on clsact
 * (iptap_tc.c).
 */
#include "iptap_int.h"

/* The kernel id of a map, by descriptor (0 if unknown). */
static uint32_t map_id_of(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

struct clear_arg {
	int fd;
};

static int clear_one(const void *key, void *arg)
{
	struct clear_arg *ca = arg;

	return bpf_map_delete_elem(ca->fd, key) == 0 ? BPFMAP_WALK_RESTART : -errno;
}

/* Forget every entry of a hash map. */
static void map_clear(int fd, size_t key_size)
{
	struct clear_arg ca = { fd };

	bpfmap_walk(fd, key_size, clear_one, &ca);
}

/*
 * tcx where the kernel has it (6.6+), else clsact + cls_bpf; decided once.
 * IFKITD_IPTAP_HOOK=clsact keeps clsact (tools that cannot show tcx links,
 * tests of the fallback).
 */
static bool hook_choose(struct iptap_state *st)
{
	const char *want = getenv("IFKITD_IPTAP_HOOK");
	bool tcx = iptap_tcx_probe(st->in_fd);

	if (want && !strcmp(want, "clsact"))
		tcx = false;
	else if (want && strcmp(want, "tcx"))
		pr_warn("iptap: IFKITD_IPTAP_HOOK=%s: not tcx or clsact; ignored", want);
	else if (want && !tcx)
		pr_warn("iptap: IFKITD_IPTAP_HOOK=tcx: this kernel has no tcx; using clsact");
	pr_debug("iptap: tap programs on %s", tcx ? "tcx links" : "clsact (cls_bpf)");
	return tcx;
}

/*
 * iptap_compat.bpf.o is iptap.bpf.c built without the BPF ring buffer write
 * (for kernels without bpf_dynptr_copy): the same maps and programs, so its
 * skeleton has iptap_bpf's layout and is used through it.
 */
_Static_assert(sizeof(struct iptap_compat_bpf) == sizeof(struct iptap_bpf) &&
	       offsetof(struct iptap_compat_bpf, maps.iptap_rings) ==
	       offsetof(struct iptap_bpf, maps.iptap_rings) &&
	       offsetof(struct iptap_compat_bpf, progs.iptap_connect6) ==
	       offsetof(struct iptap_bpf, progs.iptap_connect6) &&
	       offsetof(struct iptap_compat_bpf, rodata) == offsetof(struct iptap_bpf, rodata),
	       "iptap_compat.skel.h and iptap.skel.h differ");

/* Open and load the tap programs (compat: without BPF ring buffers); 0 or -errno. */
static int iptap_load(struct ifkitd *d, struct iptap_state *st, bool compat)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = d->pin_dir);
	uint32_t entries = (uint32_t)(IPTAP_MAX_READERS * st->nr_cpus);
	int err;

	st->skel = compat ? (struct iptap_bpf *)iptap_compat_bpf__open_opts(&oopts) :
		   iptap_bpf__open_opts(&oopts);
	if (!st->skel) {
		err = -errno;
		return err ? err : -ENOMEM;
	}
	st->skel->rodata->nr_cpus = (__u32)st->nr_cpus;
	bpf_map__set_max_entries(st->skel->maps.iptap_events, entries);
	bpf_map__set_max_entries(st->skel->maps.iptap_rings, entries);
	err = iptap_bpf__load(st->skel);
	if (err) {
		iptap_bpf__destroy(st->skel);
		st->skel = NULL;
		return err;
	}
	st->no_ringbuf = compat;
	return 0;
}

static int iptap_init(struct ifkitd *d)
{
	const char *rb = getenv("IFKITD_IPTAP_RINGBUF");
	bool compat = rb && !strcmp(rb, "0");	/* as on a kernel without them (tests) */
	struct iptap_state *st;
	uint32_t entries;
	int err, swept;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->nr_cpus = libbpf_num_possible_cpus();
	st->timer_fd = -1;
	entries = (uint32_t)(IPTAP_MAX_READERS * st->nr_cpus);
	err = iptap_load(d, st, compat);
	if (err) {
		/* A pin from a build with another layout or CPU count: start afresh. */
		char path[512];
		static const char *const pins[] = { "iptap_ns_cfg", "iptap_ns_fast", "iptap_ifaces",
			"iptap_stats", "iptap_events", "iptap_sk_owner", "iptap_filters",
			"iptap_reader_stats", "iptap_rings" };

		pr_warn("iptap: load failed (%s); replacing old pins", strerror(-err));
		for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", d->pin_dir, pins[i]);
			unlink(path);
		}
		err = iptap_load(d, st, compat);
	}
	if (err && !compat) {
		pr_warn("iptap: load failed (%s); loading it without BPF ring buffers "
			"(readers use the perf ring)", strerror(-err));
		err = iptap_load(d, st, true);
	}
	if (err) {
		pr_err("iptap: load BPF object: %s", strerror(-err));
		free(st);
		return err;
	}
	if (st->no_ringbuf)
		pr_info("iptap: no BPF ring buffers: PKTAP readers use the perf ring");
	st->cfg_fd = bpf_map__fd(st->skel->maps.iptap_ns_cfg);
	st->fast_fd = bpf_map__fd(st->skel->maps.iptap_ns_fast);
	st->ifaces_fd = bpf_map__fd(st->skel->maps.iptap_ifaces);
	st->stats_fd = bpf_map__fd(st->skel->maps.iptap_stats);
	st->events_fd = bpf_map__fd(st->skel->maps.iptap_events);
	st->rings_fd = bpf_map__fd(st->skel->maps.iptap_rings);
	st->filters_fd = bpf_map__fd(st->skel->maps.iptap_filters);
	st->rstats_fd = bpf_map__fd(st->skel->maps.iptap_reader_stats);
	st->jit_fd = bpf_map__fd(st->skel->maps.iptap_jit);
	st->in_fd = bpf_program__fd(st->skel->progs.iptap_in);
	st->out_fd = bpf_program__fd(st->skel->progs.iptap_out);
	st->sink_fd = bpf_program__fd(st->skel->progs.iptap_sink);
	iptap_ns_cookie(d, d->priv_ns_fd, &st->priv_cookie);
	snprintf(st->tcx_dir, sizeof(st->tcx_dir), "%s/iptap_tcx", d->pin_dir);
	st->tcx = hook_choose(st);
	d->iptap = st;

	/* Nothing is tapped while no loader holds an iptap: forget old state. */
	iptap_sweep_stale(d, map_id_of(st->cfg_fd), st->ifaces_fd);
	swept = iptap_sweep_tcx_pins(st->tcx_dir);
	if (swept)
		pr_info("iptap: removed %d tcx link(s) left by an earlier loader", swept);
	if (st->tcx && mkdir(st->tcx_dir, 0700) < 0 && errno != EEXIST) {
		pr_warn("iptap: %s: %s; tapping with clsact", st->tcx_dir, strerror(errno));
		st->tcx = false;
	}
	map_clear(st->cfg_fd, sizeof(__u64));
	iptap_ns_fast_clear(st);
	map_clear(st->ifaces_fd, sizeof(struct iptap_if_key));
	/* Readers of a killed loader: their rings would stay in the pinned array. */
	for (uint32_t k = 0; k < entries; k++)
		bpf_map_delete_elem(st->rings_fd, &k);

	st->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (st->timer_fd >= 0) {
		struct itimerspec its = {
			.it_interval = { 0, IPTAP_POLL_MS * 1000000L },
			.it_value = { 0, IPTAP_POLL_MS * 1000000L },
		};

		timerfd_settime(st->timer_fd, 0, &its, NULL);
		st->timer_w = (struct watch){ st->timer_fd, iptap_timer_cb, NULL };
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
		iptap_destroy_dev(d, st->devs, false);
	while (st->nss)
		iptap_ns_put(d, st->nss, false);
	iptap_cgroup_detach(st);
	if (st->timer_fd >= 0) {
		ifkitd_watch_del(d, &st->timer_w);
		close(st->timer_fd);
	}
	/* After the event loop: nothing can dispatch to them any more. */
	iptap_ns_free_list(st->dead_old);
	iptap_ns_free_list(st->dead_new);
	iptap_bpf__destroy(st->skel);
	free(st);
	d->iptap = NULL;
}

static int iptap_teardown(struct ifkitd *d)
{
	char path[512];
	int fd, ifaces_fd, n;

	/* iptaps died with their loader; only programs of a killed one may remain. */
	snprintf(path, sizeof(path), "%s/iptap_tcx", d->pin_dir);
	n = iptap_sweep_tcx_pins(path);
	if (n)
		pr_info("iptap: removed %d tcx link(s) left by a loader", n);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/iptap_ns_cfg", d->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/iptap_ifaces", d->pin_dir);
	ifaces_fd = bpf_obj_get(path);
	iptap_sweep_stale(d, map_id_of(fd), ifaces_fd);
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
