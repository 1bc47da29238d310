// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ifkit-tunnel: the simplest VPN - IP packets carried in UDP datagrams
 * between two hosts, no crypto.  The tunnel device is a utun from libutun
 * (default) or a Linux TUN device (--backend tun), so the same program can
 * be measured on both.
 *
 *   ifkit-tunnel --local 10.0.0.1:5000 --remote 10.0.0.2:5000 \
 *                --addr 10.9.0.1 --peer 10.9.0.2
 *
 * On the wire each UDP datagram is one raw IP packet (no header); the utun
 * family header is derived from the IP version on the way in.  Two threads,
 * one per direction, each moving batches (utun_recv_batch/utun_send_batch,
 * recvmmsg/sendmmsg); TUN has no batch interface, so it reads and writes
 * one packet per call.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ifkit/utun.h"

#define BATCH 64
#define BUF_SIZE 65536
#define MAX_ADDRS 4

struct tunnel {
	bool utun;
	int dev;		/* utun descriptor or TUN fd */
	int udp;
	char ifname[IFNAMSIZ];
	unsigned long long to_net, to_dev, dev_drops;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit-tunnel --local ADDR:PORT --remote ADDR:PORT --addr A --peer B [options]\n"
"IP over UDP between two hosts through a utun (libutun) or TUN device.\n"
"\n"
"  --local ADDR:PORT    UDP address to bind ([v6]:port for IPv6)\n"
"  --remote ADDR:PORT   UDP address of the other end\n"
"  --addr A --peer B    point-to-point addresses of the tunnel device (v4 or v6;\n"
"                       may be given up to %d times)\n"
"  --backend utun|tun   device kind (default utun)\n"
"  --unit N             utun unit / TUN name suffix (default: first free)\n"
"  --mtu M              device MTU (default 1400)\n"
"  --socket PATH        loader socket for utun (default $IFKIT_SOCKET or %s)\n"
"  --no-fastpath        utun: relay through the loader's socket instead of\n"
"                       driving the shared AF_XDP rings (utun_enable_fastpath)\n"
"  -q, --quiet          no messages except errors\n"
"  -h, --help           this text\n", MAX_ADDRS, "/run/ifkit/ifkitd.sock");
}

static int parse_hostport(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], *port;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res;

	if (strlen(arg) >= sizeof(host))
		return -1;
	strcpy(host, arg);
	if (host[0] == '[') {
		char *end = strchr(host, ']');

		if (!end || end[1] != ':')
			return -1;
		*end = '\0';
		port = end + 2;
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else {
		port = strrchr(host, ':');
		if (!port)
			return -1;
		*port++ = '\0';
	}
	if (getaddrinfo(host, port, &hints, &res))
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int open_tun(int unit, char *ifname)
{
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (unit >= 0)
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tun%d", unit);
	else
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tun%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* device -> UDP */
static void *dev_to_net(void *arg)
{
	struct tunnel *t = arg;
	static __thread unsigned char bufs[BATCH][2048 + UTUN_HDR_LEN];
	struct utun_pkt pkts[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];

	for (int i = 0; i < BATCH; i++) {
		pkts[i].buf = bufs[i];
		pkts[i].cap = sizeof(bufs[i]);
	}
	while (!stopping) {
		int n = 0, sent = 0;

		if (t->utun) {
			n = utun_recv_batch(t->dev, pkts, BATCH, 0);
			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				break;	/* 0: the loader closed the tunnel */
			}
			for (int i = 0; i < n; i++) {
				size_t len = pkts[i].len > pkts[i].cap ? 0 : pkts[i].len;

				iov[i].iov_base = bufs[i] + UTUN_HDR_LEN;
				iov[i].iov_len = len > UTUN_HDR_LEN ? len - UTUN_HDR_LEN : 0;
			}
		} else {
			ssize_t len = read(t->dev, bufs[0] + UTUN_HDR_LEN, sizeof(bufs[0]) - UTUN_HDR_LEN);

			if (len <= 0) {
				if (len < 0 && errno == EINTR)
					continue;
				break;
			}
			iov[0].iov_base = bufs[0] + UTUN_HDR_LEN;
			iov[0].iov_len = (size_t)len;
			n = 1;
		}
		for (int i = 0; i < n; i++) {
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		while (sent < n) {
			int k = sendmmsg(t->udp, msgs + sent, (unsigned int)(n - sent), 0);

			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				break;	/* ECONNREFUSED etc.: the other end is not up yet */
			}
			sent += k;
		}
		t->to_net += (unsigned long long)sent;
	}
	stopping = 1;
	return NULL;
}

/* UDP -> device */
static void *net_to_dev(void *arg)
{
	struct tunnel *t = arg;
	static __thread unsigned char bufs[BATCH][2048 + UTUN_HDR_LEN];
	struct utun_pkt pkts[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];

	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i] + UTUN_HDR_LEN;
		iov[i].iov_len = sizeof(bufs[i]) - UTUN_HDR_LEN;
	}
	while (!stopping) {
		int n, m = 0;

		for (int i = 0; i < BATCH; i++) {
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(t->udp, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == ECONNREFUSED || errno == EAGAIN))
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			unsigned char *p = bufs[i] + UTUN_HDR_LEN;
			size_t len = msgs[i].msg_len;
			int family;

			if (len < 1 || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
				continue;
			family = (p[0] >> 4) == 6 ? AF_INET6 : AF_INET;
			if (!t->utun) {
				if (write(t->dev, p, len) < 0)
					t->dev_drops++;
				else
					t->to_dev++;
				continue;
			}
			utun_frame_hdr(bufs[i], family);
			pkts[m].buf = bufs[i];
			pkts[m].len = len + UTUN_HDR_LEN;
			m++;
		}
		if (m) {
			int done = 0, refused = 0;

			while (done < m) {
				int k = utun_send_batch(t->dev, pkts + done, (unsigned int)(m - done), 0);

				if (k <= 0) {
					if (k < 0 && errno == EINTR)
						continue;
					/* pkts[done] was refused (EINVAL): skip it, send the rest. */
					if (k < 0 && errno == EINVAL) {
						refused++;
						done++;
						continue;
					}
					break;
				}
				done += k;
			}
			t->to_dev += (unsigned long long)(done - refused);
			t->dev_drops += (unsigned long long)(m - done + refused);
		}
	}
	stopping = 1;
	return NULL;
}

static int run_ip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_ip(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "local", required_argument, NULL, 'l' },
		{ "remote", required_argument, NULL, 'r' },
		{ "addr", required_argument, NULL, 'a' },
		{ "peer", required_argument, NULL, 'p' },
		{ "backend", required_argument, NULL, 'b' },
		{ "unit", required_argument, NULL, 'u' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-fastpath", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *local = NULL, *remote = NULL, *sock_path = NULL;
	const char *addrs[MAX_ADDRS], *peers[MAX_ADDRS];
	int naddr = 0, npeer = 0, unit = -1, mtu = 1400, opt;
	bool quiet = false, fastpath = true;
	struct tunnel t = { .utun = true, .dev = -1, .udp = -1 };
	struct sockaddr_storage ls, rs;
	socklen_t llen, rlen;
	pthread_t th;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': local = optarg; break;
		case 'r': remote = optarg; break;
		case 'a': if (naddr < MAX_ADDRS) addrs[naddr++] = optarg; break;
		case 'p': if (npeer < MAX_ADDRS) peers[npeer++] = optarg; break;
		case 'b':
			if (!strcmp(optarg, "utun")) {
				t.utun = true;
			} else if (!strcmp(optarg, "tun")) {
				t.utun = false;
			} else {
				fprintf(stderr, "ifkit-tunnel: unknown backend '%s'\n", optarg);
				return 2;
			}
			break;
		case 'u': unit = atoi(optarg); break;
		case 'm': mtu = atoi(optarg); break;
		case 's': sock_path = optarg; break;
		case 'q': quiet = true; break;
		case 'F': fastpath = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!local || !remote || naddr == 0 || naddr != npeer || mtu < 68) {
		usage(stderr);
		return 2;
	}
	if (parse_hostport(local, &ls, &llen) || parse_hostport(remote, &rs, &rlen)) {
		fprintf(stderr, "ifkit-tunnel: bad ADDR:PORT\n");
		return 2;
	}
	t.udp = socket(ls.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t.udp < 0 || bind(t.udp, (struct sockaddr *)&ls, llen) < 0 ||
	    connect(t.udp, (struct sockaddr *)&rs, rlen) < 0) {
		perror("ifkit-tunnel: udp socket");
		return 1;
	}
	{
		int sz = 4 << 20;

		setsockopt(t.udp, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(t.udp, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (t.utun) {
		t.dev = utun_open_at(sock_path, unit, t.ifname, sizeof(t.ifname));
		if (t.dev < 0) {
			fprintf(stderr, "ifkit-tunnel: utun_open: %s\n", strerror(errno));
			return 1;
		}
		if (fastpath && utun_enable_fastpath(t.dev) < 0)
			fprintf(stderr, "ifkit-tunnel: fast path unavailable (%s), using the socket\n",
				strerror(errno));
	} else {
		t.dev = open_tun(unit, t.ifname);
		if (t.dev < 0) {
			fprintf(stderr, "ifkit-tunnel: /dev/net/tun: %s\n", strerror(errno));
			return 1;
		}
	}
	if (run_ip("ip link set dev %s mtu %d up", t.ifname, mtu))
		fprintf(stderr, "ifkit-tunnel: cannot set %s up\n", t.ifname);
	for (int i = 0; i < naddr; i++) {
		bool v6 = strchr(addrs[i], ':') != NULL;

		if (run_ip("ip %s addr add %s peer %s dev %s%s", v6 ? "-6" : "-4", addrs[i],
			   peers[i], t.ifname, v6 ? " nodad" : "")) {
			fprintf(stderr, "ifkit-tunnel: cannot add %s peer %s to %s\n", addrs[i],
				peers[i], t.ifname);
			return 1;
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!quiet) {
		printf("ifkit-tunnel: %s up (%s), %s <-> %s\n", t.ifname, t.utun ? "utun" : "tun",
		       local, remote);
		fflush(stdout);
	}
	{
		sigset_t set, old;

		/* SIGINT/SIGTERM go to the main thread; the worker is woken with SIGUSR1. */
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		if (pthread_create(&th, NULL, net_to_dev, &t)) {
			perror("ifkit-tunnel: thread");
			return 1;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	dev_to_net(&t);
	/* Unblock the other thread's recvmmsg. */
	shutdown(t.udp, SHUT_RDWR);
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	if (!quiet)
		fprintf(stderr, "ifkit-tunnel: %s: %llu packets to the network, %llu to the device, "
			"%llu dropped\n", t.ifname, t.to_net, t.to_dev, t.dev_drops);
	if (t.utun)
		utun_close(t.dev);
	else
		close(t.dev);
	close(t.udp);
	return 0;
}
