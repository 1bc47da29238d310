/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * iptap in the loader: what its files share.
 *
 *   iptap.c        the module row: init (BPF load, stale sweep), fini, teardown
 *   iptap_dev.c    TUN devices and the commands (create, destroy, show, listen)
 *   iptap_ns.c     tapped namespaces: interface scans, link monitor, the
 *                  configuration the programs read, raw listener counting,
 *                  deleted namespaces
 *   iptap_tc.c     tap program attach/detach (tcx links, or clsact on kernels
 *                  without tcx) and the sweep of a dead loader's programs
 *   iptap_owner.c  cgroup programs (socket owners) and the backfill of sockets
 *                  older than the first iptap
 */
#ifndef IFKITD_IPTAP_INT_H
#define IFKITD_IPTAP_INT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_tun.h>
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
#include "bpfmap.h"
#include "iptap.h"
#include "iptap.skel.h"
#include "iptap_compat.skel.h"
#include "iptap_jit.h"
#include "iptap_util.h"
#include "ifkitd.h"
#include "log.h"
#include "names.h"
#include "netns.h"
#include "netns_walk.h"
#include "qdisc.h"

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
	int link[2];		/* tcx: ingress, egress link (pinned), else -1 */
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
	int sink_link;		/* tcx: iptap_sink's link (not pinned: the device dies with us) */
	struct tap_ns *ns;
	uint32_t raw;		/* packet sockets bound to it */
};

struct reader {
	bool used;
	struct client *c;
	struct iptap_dev *dev;
	uint32_t snaplen;
	char comm[16];		/* the reader's command, for `show` */
	int jit_fd;		/* its filter as eBPF, in iptap_jit[slot], or -1 */
};

struct iptap_state {
	struct iptap_bpf *skel;
	int cfg_fd, fast_fd, ifaces_fd, stats_fd, events_fd, rings_fd, filters_fd, rstats_fd, jit_fd;
	int in_fd, out_fd, sink_fd;
	bool no_ringbuf;	/* iptap_compat.bpf.o loaded: readers use the perf ring */
	bool tcx;		/* the hook: tcx links (kernel >= 6.6), else clsact + cls_bpf */
	char tcx_dir[256];	/* pinned tcx links: <pin dir>/iptap_tcx */
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

struct iptap_attach_arg {
	struct iptap_state *st;
	uint64_t cookie;	/* of the namespace: names the pins */
	int ifindex;
	bool detach;
	bool sink;
	bool created;		/* clsact: we made the qdisc */
	int link[2];		/* tcx: in (ingress) and out (egress) links; -1 none */
};

/* iptap_ns.c */
int iptap_cookie_fn(void *arg);		/* in a namespace: its cookie into *(uint64_t *)arg */
int iptap_ns_cookie(struct ifkitd *d, int ns_fd, uint64_t *cookie);
int iptap_nl_in(struct ifkitd *d, struct tap_ns *ns, struct nl_sock *nl);
bool iptap_is_iptap(struct iptap_state *st, struct tap_ns *ns, int ifindex);
struct tap_ns *iptap_ns_find(struct iptap_state *st, uint64_t cookie);
struct tap_ns *iptap_ns_get(struct ifkitd *d, int ns_fd, uint64_t cookie);
void iptap_ns_put(struct ifkitd *d, struct tap_ns *ns, bool dead);
void iptap_ns_free_list(struct tap_ns *ns);
int iptap_ns_rescan(struct ifkitd *d, struct tap_ns *ns, bool lost);
void iptap_ns_update_cfg(struct tap_ns *ns);
void iptap_ns_fast_clear(struct iptap_state *st);
void iptap_stats_clear(struct iptap_state *st, uint32_t idx);
void iptap_ns_stats(struct tap_ns *ns, struct iptap_stat *sum);
void iptap_refresh_all(struct ifkitd *d);
void iptap_timer_cb(struct ifkitd *d, struct watch *w, uint32_t events);

/* iptap_tc.c */
#define IPTAP_ATTACH_ARG(s, idx) { .st = (s), .ifindex = (idx), .link = { -1, -1 } }
int iptap_tc_fn(void *arg);		/* in a namespace: struct iptap_attach_arg */
void iptap_tcx_detach(struct iptap_state *st, uint64_t cookie, int ifindex, int link[2]);
bool iptap_tcx_probe(int prog_fd);
int iptap_sweep_stale(struct ifkitd *d, uint32_t map_id, int ifaces_fd);
int iptap_sweep_tcx_pins(const char *dir);

/* iptap_owner.c */
void iptap_cgroup_attach(struct iptap_state *st);
void iptap_cgroup_detach(struct iptap_state *st);

/* iptap_dev.c */
void iptap_destroy_dev(struct ifkitd *d, struct iptap_dev *v, bool gone);
int iptap_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		 struct reply *r);
void iptap_link_event(struct ifkitd *d, const struct link_info *link, int deleted);
int iptap_count(struct ifkitd *d);

#endif
