// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ifkit-wire: a user-space wire between two tunnel devices in two network
 * namespaces.  Every packet read from device A is written to device B and
 * back, so two namespaces talk through user space exactly as through a VPN
 * that does nothing to the packets.  It is what bench/utun.sh measures
 * (one backend per device type, iperf3 across) and what the utun tests use
 * to push 64 KB TCP/UDP through two utuns and check the checksums.
 *
 *   ifkit-wire --backend B --ns-a NSA --ns-b NSB [--addr-a 10.80.0.1]
 *              [--addr-b 10.80.0.2] [--mtu M] [--socket PATH] [-q]
 *
 * Backends:
 *   utun         libutun, fast path (shared AF_XDP rings), batches of 64
 *   utun-socket  libutun, packets over the descriptor (loader relay), batches
 *   utun-plain   libutun's descriptor with plain read()/write(), one packet per
 *                call: macOS's API, framed packets passed through unchanged
 *   utun-offload libutun's offload mode (utun_enable_offload): 64 KB GSO
 *                super-packets cross with their offload header, batches of 64
 *   tun          /dev/net/tun, IFF_TUN|IFF_NO_PI, one packet per read/write
 *   tun-vnet     same with IFF_VNET_HDR + TUNSETOFFLOAD(CSUM|TSO4|TSO6|USO4|USO6):
 *                64 KB GSO super-packets cross with their virtio_net_hdr
 *
 * Device A gets addr-a with peer addr-b in NSA, device B the reverse in NSB.
 * Runs until SIGINT/SIGTERM, then prints the packet counts (unless -q).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ifkit/utun.h"
#include "netns.h"

#define BATCH		64
#define PKT_MAX		(UTUN_HDR_LEN + 65535 + 16)
/* USO flags (Linux 6.2); older headers lack them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4	0x20
#define TUN_F_USO6	0x40
#endif

enum backend { BE_UTUN, BE_UTUN_SOCKET, BE_UTUN_PLAIN, BE_UTUN_OFFLOAD, BE_TUN, BE_TUN_VNET };

struct wire_dir {
	int from, to;
	enum backend be;
	unsigned long long packets, refused;
	unsigned long long gso;		/* offload: super-packets received (gso_size > 0) */
};

struct wire {
	enum backend be;
	const char *ns[2];
	const char *addr[2];
	const char *sock_path;
	unsigned int mtu;
	bool quiet;
	int fd[2];
	char ifname[2][IFNAMSIZ];
	struct wire_dir dir[2];
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit-wire --backend utun|utun-socket|utun-plain|utun-offload|tun|tun-vnet\n"
"                  --ns-a NSA --ns-b NSB\n"
"                  [--addr-a A] [--addr-b B] [--mtu M] [--socket PATH] [-q]\n"
"Reads every packet of a device in NSA and writes it to a device in NSB, and\n"
"back (a user-space wire for benchmarks and tests).  Runs until SIGTERM.\n");
}

static int enter_ns(const char *name)
{
	int fd = netns_open(name), err = 0;

	if (fd < 0)
		return fd;
	if (setns(fd, CLONE_NEWNET) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int tun_open(char *ifname, bool vnet)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	if (vnet) {
		unsigned int off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;

		if (ioctl(fd, TUNSETOFFLOAD, off) < 0 &&
		    ioctl(fd, TUNSETOFFLOAD, off & ~(TUN_F_USO4 | TUN_F_USO6)) < 0)
			goto fail;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
fail:
	{
		int err = -errno;

		close(fd);
		return err;
	}
}

/* Open side i's device in its namespace and give it its addresses. */
static int side_open(struct wire *w, int i)
{
	char cmd[512], mtu_opt[32] = "";
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), err, fd;

	if (home < 0)
		return -errno;
	err = enter_ns(w->ns[i]);
	if (err) {
		close(home);
		return err;
	}
	switch (w->be) {
	case BE_UTUN:
	case BE_UTUN_SOCKET:
	case BE_UTUN_PLAIN:
	case BE_UTUN_OFFLOAD:
		fd = utun_open_at(w->sock_path, -1, w->ifname[i], IFNAMSIZ);
		if (fd < 0)
			fd = -errno;
		else if (w->be == BE_UTUN && utun_enable_fastpath(fd) < 0)
			fd = -errno;
		else if (w->be == BE_UTUN_OFFLOAD && utun_enable_offload(fd) < 0)
			fd = -errno;
		break;
	default:
		fd = tun_open(w->ifname[i], w->be == BE_TUN_VNET);
		break;
	}
	if (setns(home, CLONE_NEWNET) < 0 && fd >= 0) {
		close(fd);
		fd = -errno;
	}
	close(home);
	if (fd < 0)
		return fd;
	w->fd[i] = fd;
	if (w->mtu)
		snprintf(mtu_opt, sizeof(mtu_opt), " mtu %u", w->mtu);
	snprintf(cmd, sizeof(cmd), "ip -n %s link set %s up%s && ip -n %s addr add %s peer %s dev %s",
		 w->ns[i], w->ifname[i], mtu_opt, w->ns[i], w->addr[i], w->addr[1 - i], w->ifname[i]);
	return system(cmd) == 0 ? 0 : -EIO;
}

static void *utun_pump(void *arg)
{
	struct wire_dir *d = arg;
	struct utun_pkt pkts[BATCH];
	uint8_t *mem = malloc((size_t)BATCH * PKT_MAX);

	if (!mem)
		return NULL;
	for (;;) {
		int n, done = 0;

		for (int i = 0; i < BATCH; i++)
			pkts[i] = (struct utun_pkt){ .buf = mem + (size_t)i * PKT_MAX, .cap = PKT_MAX };
		n = utun_recv_batch(d->from, pkts, BATCH, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		while (done < n) {
			int k = utun_send_batch(d->to, pkts + done, (unsigned int)(n - done), 0);

			if (k < 0 && errno == EINVAL) {	/* refused (e.g. over B's MTU): skip it */
				d->refused++;
				done++;
				continue;
			}
			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				break;
			}
			done += k;
			d->packets += (unsigned long long)k;
		}
	}
	free(mem);
	return NULL;
}

/* Offload mode: GSO super-packets and their headers pass through unchanged. */
static void *offload_pump(void *arg)
{
	struct wire_dir *d = arg;
	struct utun_gso_pkt pkts[BATCH];
	uint8_t *mem = malloc((size_t)BATCH * 65536);

	if (!mem)
		return NULL;
	for (;;) {
		int n, done = 0;

		for (int i = 0; i < BATCH; i++)
			pkts[i] = (struct utun_gso_pkt){ .buf = mem + (size_t)i * 65536, .cap = 65536 };
		n = utun_recv_offload(d->from, pkts, BATCH, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++)
			d->gso += pkts[i].hdr.gso_size > 0;
		while (done < n) {
			int k = utun_send_offload(d->to, pkts + done, (unsigned int)(n - done), 0);

			if (k < 0 && errno == EINVAL) {	/* refused (e.g. over B's MTU): skip it */
				d->refused++;
				done++;
				continue;
			}
			if (k <= 0) {
				if (k < 0 && (errno == EINTR || errno == ENOBUFS))
					continue;
				break;
			}
			done += k;
			d->packets += (unsigned long long)k;
		}
	}
	free(mem);
	return NULL;
}

static void *tun_pump(void *arg)
{
	struct wire_dir *d = arg;
	uint8_t *buf = malloc(PKT_MAX);

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t n = read(d->from, buf, PKT_MAX);

		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break;
		}
		if (write(d->to, buf, (size_t)n) == n)
			d->packets++;
		else
			d->refused++;
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "ns-a", required_argument, NULL, 'A' },
		{ "ns-b", required_argument, NULL, 'B' },
		{ "addr-a", required_argument, NULL, 'x' },
		{ "addr-b", required_argument, NULL, 'y' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct wire w = { .addr = { "10.80.0.1", "10.80.0.2" }, .fd = { -1, -1 } };
	const char *backend = "utun";
	pthread_t th[2];
	sigset_t set;
	int c, sig, err;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'A': w.ns[0] = optarg; break;
		case 'B': w.ns[1] = optarg; break;
		case 'x': w.addr[0] = optarg; break;
		case 'y': w.addr[1] = optarg; break;
		case 'm': w.mtu = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 's': w.sock_path = optarg; break;
		case 'q': w.quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!strcmp(backend, "utun"))
		w.be = BE_UTUN;
	else if (!strcmp(backend, "utun-socket"))
		w.be = BE_UTUN_SOCKET;
	else if (!strcmp(backend, "utun-plain"))
		w.be = BE_UTUN_PLAIN;
	else if (!strcmp(backend, "utun-offload"))
		w.be = BE_UTUN_OFFLOAD;
	else if (!strcmp(backend, "tun"))
		w.be = BE_TUN;
	else if (!strcmp(backend, "tun-vnet"))
		w.be = BE_TUN_VNET;
	else {
		usage(stderr);
		return 2;
	}
	if (!w.ns[0] || !w.ns[1] || optind != argc || (w.mtu && (w.mtu < 68 || w.mtu > 65535))) {
		usage(stderr);
		return 2;
	}
	/* libutun's calls on an open descriptor (offload, flags) find the loader there. */
	if (w.sock_path)
		setenv("IFKIT_SOCKET", w.sock_path, 1);
	/* Signals go to main only, which waits for them; the pumps just run. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < 2; i++) {
		err = side_open(&w, i);
		if (err) {
			fprintf(stderr, "ifkit-wire: %s device in %s: %s\n", backend, w.ns[i],
				strerror(-err));
			return 1;
		}
	}
	for (int i = 0; i < 2; i++) {
		w.dir[i] = (struct wire_dir){ .from = w.fd[i], .to = w.fd[1 - i], .be = w.be };
		if (pthread_create(&th[i], NULL,
				   w.be == BE_UTUN_OFFLOAD ? offload_pump :
				   w.be == BE_UTUN || w.be == BE_UTUN_SOCKET ? utun_pump : tun_pump,
				   &w.dir[i])) {
			fprintf(stderr, "ifkit-wire: thread: %s\n", strerror(errno));
			return 1;
		}
	}
	if (!w.quiet)
		fprintf(stderr, "ifkit-wire: %s %s (%s) <-> %s (%s)\n", backend, w.ifname[0], w.ns[0],
			w.ifname[1], w.ns[1]);
	sigwait(&set, &sig);
	if (!w.quiet)
		fprintf(stderr, "ifkit-wire: a->b %llu packets (%llu refused, %llu gso), "
			"b->a %llu (%llu refused, %llu gso)\n",
			w.dir[0].packets, w.dir[0].refused, w.dir[0].gso,
			w.dir[1].packets, w.dir[1].refused, w.dir[1].gso);
	/* Exiting closes both devices (utuns disappear with their descriptors). */
	return 0;
}
