// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ifkit iptap capture: the PKTAP reader.  It registers with the loader as a
 * PKTAP listener of an iptap (the connection stays open while it reads; the
 * loader gives it a slot of the pinned iptap_events perf ring), opens its
 * slot's per-CPU rings with watermark wake-ups (a wake-up per sample would
 * cost most of the CPU at small packets), and writes pcap (LINKTYPE_PKTAP)
 * or pcapng.  Ctrl-C ends it with a summary: packets written, packets lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "ctl.h"
#include "iptap.h"
#include "iptap_util.h"
#include "names.h"
#include "pcap.h"

#define RING_PAGES 4096		/* per CPU: 16 MiB */

struct cap {
	struct pcap_writer w;
	FILE *out;
	bool text;
	uint64_t count, written, lost, bad;
	int64_t tai_off;	/* CLOCK_TAI - CLOCK_REALTIME, ns */
	bool done;
	int werr;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void cap_usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit iptap capture [-i iptapN] [-w FILE|-] [-c COUNT] [-s SNAPLEN] [--pcapng]\n"
"  -i iptapN    the iptap to listen on (default: the first in this namespace)\n"
"  -w FILE      write a capture file (- = stdout); default: one text line per packet\n"
"  -c COUNT     stop after COUNT packets\n"
"  -s SNAPLEN   bytes of each IP packet to keep (default %u)\n"
"  --pcapng     pcapng (one interface per original interface, direction flags,\n"
"               the process in each packet's comment) instead of pcap/PKTAP\n"
"Ctrl-C stops it and prints packets written and packets lost in the ring.\n",
		IPTAP_DEFAULT_SNAPLEN);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void text_line(struct cap *c, const struct pktap_header *h, const uint8_t *pkt,
		      uint32_t caplen, uint32_t origlen, uint64_t ts)
{
	time_t sec = (time_t)(ts / 1000000000ULL);
	struct tm tm;
	const char *proto = "ip";

	localtime_r(&sec, &tm);
	switch (h->pth_ipproto) {
	case 6: proto = "tcp"; break;
	case 17: proto = "udp"; break;
	case 1: proto = "icmp"; break;
	case 58: proto = "icmp6"; break;
	}
	fprintf(c->out, "%02d:%02d:%02d.%06llu %-10.24s %-3s %s %s len %u",
		tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned long long)(ts / 1000 % 1000000),
		h->pth_ifname, pktap_dir_name(h->pth_flags),
		caplen && (pkt[0] >> 4) == 6 ? "IP6" : "IP", proto, origlen);
	if (h->pth_pid > 0 || h->pth_comm[0])
		fprintf(c->out, " pid %d comm %.16s", h->pth_pid, h->pth_comm);
	fputc('\n', c->out);
}

static enum bpf_perf_event_ret on_event(void *ctx, int cpu, struct perf_event_header *ev)
{
	struct cap *c = ctx;

	(void)cpu;
	if (ev->type == PERF_RECORD_SAMPLE) {
		struct { struct perf_event_header h; __u32 size; __u8 data[]; } *s = (void *)ev;
		struct pktap_header h;
		const uint8_t *pkt;
		uint32_t caplen, origlen;
		uint64_t ts;

		if (c->done)
			return LIBBPF_PERF_EVENT_DONE;
		if (iptap_record_decode(s->data, s->size, &h, &pkt, &caplen, &origlen)) {
			c->bad++;
			return LIBBPF_PERF_EVENT_CONT;
		}
		ts = (uint64_t)h.pth_tstamp.tv_sec * 1000000000ULL +
		     (uint64_t)h.pth_tstamp.tv_usec * 1000ULL;
		ts -= (uint64_t)c->tai_off;
		h.pth_tstamp.tv_sec = (int32_t)(ts / 1000000000ULL);
		h.pth_tstamp.tv_usec = (int32_t)(ts / 1000 % 1000000);
		if (c->text)
			text_line(c, &h, pkt, caplen, origlen, ts);
		else if (pcap_writer_packet(&c->w, &h, pkt, caplen, origlen, ts))
			c->werr = -EIO;
		c->written++;
		if (c->count && c->written >= c->count) {
			c->done = true;
			return LIBBPF_PERF_EVENT_DONE;
		}
	} else if (ev->type == PERF_RECORD_LOST) {
		struct { struct perf_event_header h; __u64 id; __u64 lost; } *l = (void *)ev;

		c->lost += l->lost;
	}
	return LIBBPF_PERF_EVENT_CONT;
}

static int pin_dir_of(struct cli *cli, char *out, size_t len)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	struct ifkit_status_info *st = NULL;
	size_t n = 0;
	int err;

	ctl_req_init(&req, IFKIT_CMD_STATUS);
	err = cli_call(cli, &req, &rep, (void **)&st, &n, NULL);
	if (err) {
		cli_report(&rep, err, "status");
		return err;
	}
	if (n != 1 || rep.item_type != IFKIT_ITEM_STATUS ||
	    rep.item_size != sizeof(struct ifkit_status_info)) {
		free(st);
		fprintf(stderr, "ifkit: capture: status: unexpected answer\n");
		return -EPROTO;
	}
	snprintf(out, len, "%s", st->pin_dir);
	free(st);
	return 0;
}

int iptap_capture(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "pcapng", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *ifname = "", *file = NULL;
	unsigned int snaplen = IPTAP_DEFAULT_SNAPLEN, count = 0;
	bool ng = false;
	struct cap c = { 0 };
	struct ifkit_req req;
	struct ifkit_rep rep;
	struct perf_event_attr attr = { 0 };
	struct perf_buffer *pb = NULL;
	char pin_dir[128], path[256];
	int sock = -1, ns_fd, map_fd = -1, ncpu, opt, err, ret = EXIT_FAIL;
	int *cpus = NULL, *keys = NULL;
	struct sigaction sa = { 0 };

	optind = 1;
	while ((opt = getopt_long(argc, argv, "i:w:c:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (!ifname_valid(optarg)) {
				fprintf(stderr, "ifkit: capture: invalid interface '%s'\n", optarg);
				return EXIT_USAGE;
			}
			ifname = optarg;
			break;
		case 'w': file = optarg; break;
		case 'c':
			if (cli_parse_uint(optarg, &count) || !count) {
				fprintf(stderr, "ifkit: capture: invalid count '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (cli_parse_uint(optarg, &snaplen) || snaplen < 20 ||
			    snaplen > IPTAP_DEFAULT_SNAPLEN) {
				fprintf(stderr, "ifkit: capture: snaplen must be 20..%u\n",
					IPTAP_DEFAULT_SNAPLEN);
				return EXIT_USAGE;
			}
			break;
		case 'n': ng = true; break;
		case 'h': cap_usage(stdout); return EXIT_OK;
		default: cap_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ifkit: capture: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (pin_dir_of(cli, pin_dir, sizeof(pin_dir)))
		return EXIT_FAIL;

	c.count = count;
	c.text = !file;
	c.tai_off = clock_ns(CLOCK_TAI) - clock_ns(CLOCK_REALTIME);
	if (!file || !strcmp(file, "-")) {
		c.out = stdout;
	} else {
		c.out = fopen(file, "we");
		if (!c.out) {
			fprintf(stderr, "ifkit: capture: %s: %s\n", file, strerror(errno));
			return EXIT_FAIL;
		}
	}
	setvbuf(c.out, NULL, _IOFBF, 1 << 20);
	if (!c.text && pcap_writer_open(&c.w, c.out, ng, snaplen)) {
		fprintf(stderr, "ifkit: capture: cannot write the file header\n");
		goto out;
	}
	if (!c.text)
		fflush(c.out);

	/* Become a PKTAP listener: the connection stays open while we read. */
	sock = ctl_connect(cli->sock_path);
	if (sock < 0) {
		fprintf(stderr, "ifkit: cannot reach the loader at %s: %s\n", cli->sock_path,
			strerror(-sock));
		goto out;
	}
	ctl_req_init(&req, IFKIT_CMD_IPTAP_LISTEN);
	snprintf(req.name, sizeof(req.name), "%s", ifname);
	req.value = snaplen;
	req.seq = (unsigned int)getpid();
	ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	memset(&rep, 0, sizeof(rep));
	err = ctl_call(sock, &req, ns_fd, &rep, NULL, NULL, &map_fd);
	if (ns_fd >= 0)
		close(ns_fd);
	if (err) {
		cli_report(&rep, err, "capture");
		goto out;
	}

	/* The loader passes the ring; the pin is the way when it did not. */
	snprintf(path, sizeof(path), "%s/iptap_events", pin_dir);
	if (map_fd < 0)
		map_fd = bpf_obj_get(path);
	if (map_fd < 0) {
		fprintf(stderr, "ifkit: capture: %s: %s\n", path, strerror(errno));
		goto out;
	}
	ncpu = libbpf_num_possible_cpus();
	cpus = calloc((size_t)ncpu, sizeof(int));
	keys = calloc((size_t)ncpu, sizeof(int));
	if (ncpu <= 0 || !cpus || !keys)
		goto out;
	for (int i = 0; i < ncpu; i++) {
		cpus[i] = i;
		keys[i] = (int)(rep.value * (unsigned int)ncpu) + i;
	}
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_type = PERF_SAMPLE_RAW;
	attr.watermark = 1;
	attr.wakeup_watermark = RING_PAGES * 4096 / 32;
	{
		LIBBPF_OPTS(perf_buffer_raw_opts, popts, .cpu_cnt = ncpu, .cpus = cpus,
			    .map_keys = keys);

		pb = perf_buffer__new_raw(map_fd, RING_PAGES, &attr, on_event, &c, &popts);
	}
	if (!pb) {
		fprintf(stderr, "ifkit: capture: perf ring: %s\n", strerror(errno));
		goto out;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "ifkit: capturing on %s (snaplen %u%s)\n", rep.name, snaplen,
		c.text ? "" : ng ? ", pcapng" : ", pcap LINKTYPE_PKTAP");

	while (!stop && !c.done && !c.werr) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN | POLLRDHUP };

		err = perf_buffer__poll(pb, 100);
		if (err == 0)
			perf_buffer__consume(pb);	/* below the watermark: drain anyway */
		else if (err < 0 && err != -EINTR)
			break;
		if (c.text)
			fflush(c.out);
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLIN))) {
			fprintf(stderr, "ifkit: capture: the iptap or the loader went away\n");
			break;
		}
	}
	if (!c.done)
		perf_buffer__consume(pb);
	ret = EXIT_OK;
out:
	if (c.out) {
		if (fflush(c.out) && !c.werr)
			c.werr = -EIO;
	}
	if (pb)
		fprintf(stderr, "%llu packets captured, %llu packets lost in the ring%s\n",
			(unsigned long long)c.written, (unsigned long long)c.lost,
			c.bad ? " (some records malformed)" : "");
	if (c.werr) {
		fprintf(stderr, "ifkit: capture: write error\n");
		ret = EXIT_FAIL;
	}
	perf_buffer__free(pb);
	if (c.out && c.out != stdout)
		fclose(c.out);
	if (map_fd >= 0)
		close(map_fd);
	if (sock >= 0)
		close(sock);
	free(cpus);
	free(keys);
	return ret;
}
