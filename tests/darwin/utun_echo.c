/*
 * A macOS utun client, written as on macOS (only headers macOS has): it opens
 * a utun the way OpenVPN's utun_open_helper and wireguard-go's tun_darwin.go
 * do, and answers ICMP/ICMPv6 echo requests that arrive on it.  Built on
 * Linux unchanged with `cc utun_echo.c $(pkg-config --cflags --libs
 * libutun-darwin)`; tests/test_darwin.c runs it.
 *
 *   utun_echo [-u UNIT] [-n CONTROL_NAME] [-d] [-6] [-m PORT]
 *     -u UNIT   ask for utunUNIT (default: any, sc_unit 0)
 *     -n NAME   control name for CTLIOCGINFO (default UTUN_CONTROL_NAME)
 *     -d        drop privileges (setgid/setuid 65534) right after opening
 *     -6        write IPv6 replies with macOS's AF_INET6 value (30), as code
 *               that hard-codes it does
 *     -m PORT   also run ordinary sockets: a TCP and UDP self-test on
 *               127.0.0.1:PORT first, then echo UDP and TCP on PORT
 *     -N        set O_NONBLOCK and FD_CLOEXEC before connect; print whether
 *               the connected descriptor still has them
 *     -P        wait with poll() instead of select()
 *     -X        after opening, exec this program again with -i FD: the
 *               new image gets the descriptor but none of the library's state
 *     -i FD     use descriptor FD (already a utun) instead of opening one
 *
 * Packets are moved with readv/writev, read/write and recv/send in turn.
 *
 * Prints one line per step on stdout ("IFNAME utun3 7", "READY", ...); a
 * failed open prints the step and exits with its errno.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/kern_control.h>
#include <sys/sys_domain.h>
#include <net/if_utun.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DARWIN_AF_INET6 30

static uint16_t csum_add(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Turn an echo request into its reply in place; 0 if it is not one. */
static int make_reply(uint8_t *ip, size_t len, int v6)
{
	uint8_t tmp[16];
	uint16_t sum;

	if (!v6) {
		size_t ihl = (size_t)(ip[0] & 0x0f) * 4;

		if (len < ihl + 8 || ip[9] != IPPROTO_ICMP || ip[ihl] != 8)
			return 0;
		memcpy(tmp, ip + 12, 4);
		memcpy(ip + 12, ip + 16, 4);
		memcpy(ip + 16, tmp, 4);
		ip[ihl] = 0;
		ip[ihl + 2] = ip[ihl + 3] = 0;
		sum = (uint16_t)~csum_add(ip + ihl, len - ihl, 0);
		ip[ihl + 2] = (uint8_t)(sum >> 8);
		ip[ihl + 3] = (uint8_t)sum;
		return 1;
	}
	if (len < 48 || ip[6] != IPPROTO_ICMPV6 || ip[40] != 128)
		return 0;
	memcpy(tmp, ip + 8, 16);
	memcpy(ip + 8, ip + 24, 16);
	memcpy(ip + 24, tmp, 16);
	ip[40] = 129;
	ip[42] = ip[43] = 0;
	{
		uint32_t plen = (uint32_t)(len - 40);
		uint8_t pseudo[8] = { (uint8_t)(plen >> 24), (uint8_t)(plen >> 16),
				      (uint8_t)(plen >> 8), (uint8_t)plen, 0, 0, 0, IPPROTO_ICMPV6 };
		uint32_t s = csum_add(ip + 8, 32, 0);

		s = csum_add(pseudo, sizeof(pseudo), s);
		sum = (uint16_t)~csum_add(ip + 40, len - 40, s);
	}
	ip[42] = (uint8_t)(sum >> 8);
	ip[43] = (uint8_t)sum;
	return 1;
}

static int nonblock_before;

static int open_utun(int unit, const char *ctl_name)
{
	struct ctl_info info;
	struct sockaddr_ctl sc;
	int fd = socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);

	int err;

	if (fd < 0) {
		err = errno;
		printf("socket: %s\n", strerror(err));
		errno = err;
		return -1;
	}
	memset(&info, 0, sizeof(info));
	strncpy(info.ctl_name, ctl_name, sizeof(info.ctl_name));
	if (ioctl(fd, CTLIOCGINFO, &info) < 0) {
		err = errno;
		printf("CTLIOCGINFO: %s\n", strerror(err));
		goto fail;
	}
	if (nonblock_before &&
	    (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	     fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
		err = errno;
		goto fail;
	}
	memset(&sc, 0, sizeof(sc));
	sc.sc_len = sizeof(sc);
	sc.sc_family = AF_SYSTEM;
	sc.ss_sysaddr = AF_SYS_CONTROL;
	sc.sc_id = info.ctl_id;
	sc.sc_unit = (uint32_t)(unit + 1);	/* 0 = any */
	if (connect(fd, (struct sockaddr *)&sc, sizeof(sc)) < 0) {
		err = errno;
		printf("connect: %s\n", strerror(err));
		goto fail;
	}
	if (nonblock_before)
		printf("FLAGS_KEPT %d %d\n", !!(fcntl(fd, F_GETFL) & O_NONBLOCK),
		       !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
	return fd;
fail:
	close(fd);
	errno = err;
	return -1;
}

/* The options as a client sees them; printed for the test to check. */
static void report_options(int fd)
{
	char name[32], shortname[4];
	socklen_t len = sizeof(name);
	uint32_t flags = 0;
	uint16_t small;
	int rc;

	rc = getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, &len);
	printf("GET_IFNAME %d %d %s %u\n", rc, rc ? errno : 0, rc ? "-" : name, (unsigned)len);
	len = sizeof(shortname);
	rc = getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, shortname, &len);
	printf("GET_IFNAME_SHORT %d %d %s %u\n", rc, rc ? errno : 0, rc ? "-" : shortname,
	       (unsigned)len);
	len = sizeof(flags);
	rc = getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &flags, &len);
	printf("GET_FLAGS %d %d %u\n", rc, rc ? errno : 0, flags);
	len = sizeof(small);
	rc = getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &small, &len);
	printf("GET_FLAGS_LEN2 %d %d\n", rc, rc ? errno : 0);
	len = sizeof(flags);
	rc = getsockopt(fd, SYSPROTO_CONTROL, 99, &flags, &len);
	printf("GET_UNKNOWN %d %d\n", rc, rc ? errno : 0);
	flags = UTUN_FLAGS_NO_INPUT;
	rc = setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &flags, sizeof(flags));
	printf("SET_FLAGS %d %d\n", rc, rc ? errno : 0);
	flags = 0;
	rc = setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &flags, sizeof(flags));
	printf("SET_FLAGS_0 %d %d\n", rc, rc ? errno : 0);
	rc = setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &small, sizeof(small));
	printf("SET_FLAGS_LEN2 %d %d\n", rc, rc ? errno : 0);
	flags = 0x80;	/* no such flag */
	rc = setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_FLAGS, &flags, sizeof(flags));
	printf("SET_FLAGS_UNKNOWN %d %d\n", rc, rc ? errno : 0);
	rc = setsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, (socklen_t)strlen(name));
	printf("SET_IFNAME %d %d\n", rc, rc ? errno : 0);
}

/* Ordinary sockets next to the utun socket: TCP and UDP over loopback. */
static int mix_selftest(int port)
{
	struct sockaddr_in sa;
	char buf[16];
	int one = 1, ls, cs, as, us, uc, ok = 0;
	socklen_t len = sizeof(int);
	int type = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)(port + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	cs = socket(AF_INET, SOCK_STREAM, 0);
	us = socket(AF_INET, SOCK_DGRAM, 0);
	uc = socket(AF_INET, SOCK_DGRAM, 0);
	if (ls < 0 || cs < 0 || us < 0 || uc < 0)
		goto out;
	if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    getsockopt(ls, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1) ||
	    connect(cs, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	as = accept(ls, NULL, NULL);
	if (as < 0)
		goto out;
	if (write(cs, "tcp", 3) == 3 && read(as, buf, sizeof(buf)) == 3 && !memcmp(buf, "tcp", 3))
		ok++;
	close(as);
	if (bind(us, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    connect(uc, (struct sockaddr *)&sa, sizeof(sa)) == 0 && send(uc, "udp", 3, 0) == 3) {
		int queued = 0;

		if (recv(us, buf, sizeof(buf), 0) == 3 && !memcmp(buf, "udp", 3))
			ok++;
		/* ioctl on an ordinary socket reaches the system untouched */
		if (ioctl(us, FIONREAD, &queued) == 0 && queued == 0)
			ok++;
	}
out:
	if (ls >= 0)
		close(ls);
	if (cs >= 0)
		close(cs);
	if (us >= 0)
		close(us);
	if (uc >= 0)
		close(uc);
	return ok == 3 ? 0 : -1;
}

static int listen_on(int type, int port)
{
	struct sockaddr_in sa;
	int one = 1, s = socket(AF_INET, type, 0);

	if (s < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || (type == SOCK_STREAM && listen(s, 4))) {
		close(s);
		return -1;
	}
	return s;
}

/*
 * Read one packet and answer it if it is an echo request.  method rotates
 * through the ways macOS code moves packets: readv/writev (header and packet
 * in two buffers), read/write (one buffer), recv/send.  1 handled, 0 end of
 * stream, -1 error.
 */
static int echo_one(int fd, int method, int darwin_af6)
{
	static uint8_t frame[4 + 65536];
	uint8_t *ip = frame + 4;
	uint32_t hdr;
	struct iovec iov[2];
	ssize_t n;

	if (method == 0) {
		iov[0].iov_base = frame;
		iov[0].iov_len = 4;
		iov[1].iov_base = ip;
		iov[1].iov_len = sizeof(frame) - 4;
		n = readv(fd, iov, 2);
	} else if (method == 1) {
		n = read(fd, frame, sizeof(frame));
	} else {
		n = recv(fd, frame, sizeof(frame), 0);
	}
	if (n == 0)
		return 0;
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 1;
		printf("read: %s\n", strerror(errno));
		return -1;
	}
	if (n < 4)
		return 1;
	n -= 4;
	memcpy(&hdr, frame, 4);
	if (ntohl(hdr) == AF_INET && make_reply(ip, (size_t)n, 0)) {
		/* as read */
	} else if (ntohl(hdr) == AF_INET6 && make_reply(ip, (size_t)n, 1)) {
		if (darwin_af6)
			hdr = htonl(DARWIN_AF_INET6);
	} else {
		return 1;
	}
	memcpy(frame, &hdr, 4);
	if (method == 0) {
		iov[1].iov_len = (size_t)n;
		n = writev(fd, iov, 2);
	} else if (method == 1) {
		n = write(fd, frame, 4 + (size_t)n);
	} else {
		n = send(fd, frame, 4 + (size_t)n, 0) == 4 + n ? 4 + n : -1;
	}
	if (n < 4) {
		printf("write: %s\n", strerror(errno));
		return -1;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *ctl_name = UTUN_CONTROL_NAME;
	int unit = -1, drop = 0, darwin_af6 = 0, port = 0, opt, fd;
	int udp = -1, tcp = -1, conn = -1, use_poll = 0, reexec = 0, given_fd = -1;
	unsigned long seen = 0;

	while ((opt = getopt(argc, argv, "u:n:d6m:NPXi:")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'n': ctl_name = optarg; break;
		case 'd': drop = 1; break;
		case '6': darwin_af6 = 1; break;
		case 'm': port = atoi(optarg); break;
		case 'N': nonblock_before = 1; break;
		case 'P': use_poll = 1; break;
		case 'X': reexec = 1; break;
		case 'i': given_fd = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-u unit] [-n name] [-d] [-6] [-m port] [-N] [-P] [-X] [-i fd]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (port && mix_selftest(port)) {
		printf("MIX_BEFORE failed\n");
		return 3;
	}
	fd = given_fd >= 0 ? given_fd : open_utun(unit, ctl_name);
	if (fd < 0)
		return errno;
	if (reexec) {
		char arg[16];

		snprintf(arg, sizeof(arg), "%d", fd);
		fcntl(fd, F_SETFD, 0);
		printf("EXEC %s\n", arg);
		execl(argv[0], argv[0], "-i", arg, (char *)NULL);
		printf("exec: %s\n", strerror(errno));
		return 5;
	}
	if (drop) {
		if (setgid(65534) || setuid(65534)) {
			printf("setuid: %s\n", strerror(errno));
			return 4;
		}
		printf("DROPPED %d\n", (int)geteuid());
	}
	report_options(fd);
	if (port) {
		if (mix_selftest(port)) {
			printf("MIX_AFTER failed\n");
			return 3;
		}
		udp = listen_on(SOCK_DGRAM, port);
		tcp = listen_on(SOCK_STREAM, port);
		if (udp < 0 || tcp < 0) {
			printf("listen: %s\n", strerror(errno));
			return 3;
		}
		printf("MIX ok\n");
	}
	printf("READY\n");
	for (;;) {
		static uint8_t buf[65536];
		fd_set rd;
		int maxfd = fd;
		ssize_t n;

		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		if (udp >= 0) {
			FD_SET(udp, &rd);
			FD_SET(tcp, &rd);
			maxfd = udp > maxfd ? udp : maxfd;
			maxfd = tcp > maxfd ? tcp : maxfd;
		}
		if (conn >= 0) {
			FD_SET(conn, &rd);
			maxfd = conn > maxfd ? conn : maxfd;
		}
		if (use_poll) {
			/* the same wait with poll(): the result put back into rd */
			struct pollfd pfd[4];
			int cand[4] = { fd, udp, tcp, conn }, np = 0;

			for (int i = 0; i < 4; i++) {
				if (cand[i] >= 0) {
					pfd[np].fd = cand[i];
					pfd[np].events = POLLIN;
					pfd[np++].revents = 0;
				}
			}
			if (poll(pfd, (nfds_t)np, -1) < 0) {
				if (errno == EINTR)
					continue;
				printf("poll: %s\n", strerror(errno));
				return 1;
			}
			FD_ZERO(&rd);
			for (int i = 0; i < np; i++)
				if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
					FD_SET(pfd[i].fd, &rd);
		} else if (select(maxfd + 1, &rd, NULL, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			printf("select: %s\n", strerror(errno));
			return 1;
		}
		if (udp >= 0 && FD_ISSET(udp, &rd)) {
			struct sockaddr_in from;
			socklen_t flen = sizeof(from);

			n = recvfrom(udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
			if (n > 0)
				sendto(udp, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
		}
		if (tcp >= 0 && FD_ISSET(tcp, &rd) && conn < 0)
			conn = accept(tcp, NULL, NULL);
		if (conn >= 0 && FD_ISSET(conn, &rd)) {
			n = read(conn, buf, sizeof(buf));
			if (n <= 0 || write(conn, buf, (size_t)n) != n) {
				close(conn);
				conn = -1;
			}
		}
		if (!FD_ISSET(fd, &rd))
			continue;
		switch (echo_one(fd, (int)(seen++ % 3), darwin_af6)) {
		case 0:
			printf("EOF\n");
			return 0;
		case -1:
			return 1;
		}
	}
}
