// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: pktap header layout, pcap/pcapng writers and record decoding
 * (pure), the tap program through BPF_PROG_TEST_RUN, then end to end in
 * namespaces through the real loader, tcpdump, `ifkit iptap capture` and
 * tshark.
 */
#include <errno.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <CUnit/CUnit.h>
#include "harness.h"
#include "iptap.h"
#include "iptap.skel.h"
#include "iptap_filter.h"
#include "iptap_jit.h"
#include "iptap_util.h"
#include "pcap.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* ---------- pure: header, writers, decoding, counting ---------- */

static const uint8_t ip4_pkt[28] = {
	0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
	10, 9, 0, 1, 10, 9, 0, 2,
	0x1f, 0x90, 0x1f, 0x91, 0x00, 0x08, 0x00, 0x00,
};

static void fill_hdr(struct pktap_header *h, const char *ifname, uint32_t flags, int pid,
		     const char *comm)
{
	memset(h, 0, sizeof(*h));
	h->pth_length = PKTAP_HDR_LEN;
	h->pth_type_next = PTH_TYPE_PACKET;
	h->pth_dlt = PKTAP_DLT_RAW;
	snprintf(h->pth_ifname, sizeof(h->pth_ifname), "%s", ifname);
	h->pth_flags = flags;
	h->pth_protocol_family = 2;
	h->pth_pid = pid;
	snprintf(h->pth_comm, sizeof(h->pth_comm), "%s", comm);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* What a writer put in its memfd. */
static void slurp(int fd, char **buf, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);

	*len = 0;
	*buf = malloc(end > 0 ? (size_t)end : 1);
	if (*buf && end > 0 && pread(fd, *buf, (size_t)end, 0) == end)
		*len = (size_t)end;
}

static void test_pcap_writer(void)
{
	struct pcap_writer w;
	struct pktap_header h;
	char *buf = NULL;
	size_t len = 0;
	int fd = memfd_create("pcap", MFD_CLOEXEC);
	const uint8_t *p;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pcap_writer_open(&w, fd, false, 100), 0);
	fill_hdr(&h, "veth7", PTH_FLAG_DIR_IN, 4242, "nc");
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, sizeof(ip4_pkt), 28,
					   1700000000123456789ULL), 0);
	CU_ASSERT_EQUAL(pcap_writer_close(&w), 0);
	CU_ASSERT_EQUAL(w.packets, 1);
	slurp(fd, &buf, &len);
	close(fd);
	CU_ASSERT_EQUAL_FATAL(len, 24 + 16 + 156 + 28);
	p = (const uint8_t *)buf;
	CU_ASSERT_EQUAL(rd32(p), PCAP_MAGIC_USEC);
	CU_ASSERT_EQUAL(rd16(p + 4), 2);
	CU_ASSERT_EQUAL(rd16(p + 6), 4);
	CU_ASSERT_EQUAL(rd32(p + 20), LINKTYPE_PKTAP);
	p += 24;
	CU_ASSERT_EQUAL(rd32(p), 1700000000);
	CU_ASSERT_EQUAL(rd32(p + 4), 123456);
	CU_ASSERT_EQUAL(rd32(p + 8), 156 + 28);
	CU_ASSERT_EQUAL(rd32(p + 12), 156 + 28);
	p += 16;
	CU_ASSERT_EQUAL(rd32(p), 156);				/* pth_length */
	CU_ASSERT_EQUAL(rd32(p + 8), 12);			/* pth_dlt */
	CU_ASSERT_STRING_EQUAL((const char *)p + 12, "veth7");
	CU_ASSERT_EQUAL(rd32(p + 36), PTH_FLAG_DIR_IN);
	CU_ASSERT_EQUAL(rd32(p + 52), 4242);
	CU_ASSERT_STRING_EQUAL((const char *)p + 56, "nc");
	CU_ASSERT_EQUAL(memcmp(p + 156, ip4_pkt, sizeof(ip4_pkt)), 0);
	free(buf);
}

/*
 * A write that fails part-way (here the file size limit, as a full disk would):
 * the error is reported, the records written whole are counted, and the
 * file is cut back to them.
 */
static void test_pcap_writer_partial(void)
{
	struct pcap_writer w;
	struct pktap_header h;
	struct rlimit old, lim;
	const size_t rec = 16 + 156 + 28;
	int fd = memfd_create("partial", MFD_CLOEXEC), err = 0;
	struct stat st;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(pcap_writer_open(&w, fd, false, 100), 0);
	fill_hdr(&h, "vA", PTH_FLAG_DIR_OUT, 1, "x");
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 1000000000ULL), 0);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 24 + 3 * rec + rec / 2;	/* room for 3.5 records */
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	err = pcap_writer_flush(&w);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CU_ASSERT_EQUAL(err, -EFBIG);
	CU_ASSERT_EQUAL(w.packets, 3);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT_EQUAL((size_t)st.st_size, 24 + 3 * rec);
	/* Nothing more is written once it failed. */
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 1000000000ULL), -EFBIG);
	pcap_writer_close(&w);
	close(fd);
}

/*
 * Large packets (TCP's GSO packets) are written from the caller's memory
 * (writev), small ones buffered: the file has them all in order, and a
 * write failing inside a large packet leaves only the whole records.
 */
static void test_pcap_writer_large(void)
{
	static uint8_t big[20000];
	struct pcap_writer w;
	struct pktap_header h;
	struct rlimit old, lim;
	const size_t small = 16 + 156 + 28, large = 16 + 156 + sizeof(big);
	char *buf = NULL;
	size_t len = 0;
	int fd = memfd_create("large", MFD_CLOEXEC), fd2 = memfd_create("large2", MFD_CLOEXEC);
	const uint8_t *p;
	struct stat st;

	CU_ASSERT_FATAL(fd >= 0 && fd2 >= 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	memcpy(big, ip4_pkt, 20);
	CU_ASSERT_EQUAL_FATAL(pcap_writer_open(&w, fd, false, 65535), 0);
	fill_hdr(&h, "vA", PTH_FLAG_DIR_OUT, 1, "x");
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 1000000000ULL), 0);
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, big, sizeof(big), sizeof(big), 2000000000ULL), 0);
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 3000000000ULL), 0);
	CU_ASSERT_EQUAL(pcap_writer_close(&w), 0);
	CU_ASSERT_EQUAL(w.packets, 3);
	slurp(fd, &buf, &len);
	CU_ASSERT_EQUAL_FATAL(len, 24 + 2 * small + large);
	p = (const uint8_t *)buf + 24;
	CU_ASSERT_EQUAL(rd32(p), 1);
	p += small;
	CU_ASSERT_EQUAL(rd32(p), 2);
	CU_ASSERT_EQUAL(rd32(p + 8), 156 + sizeof(big));
	CU_ASSERT_EQUAL(memcmp(p + 16 + 156, big, sizeof(big)), 0);
	p += large;
	CU_ASSERT_EQUAL(rd32(p), 3);
	CU_ASSERT_EQUAL(memcmp(p + 16 + 156, ip4_pkt, 28), 0);
	free(buf);
	close(fd);

	/* The file may grow to half of the large record: the small one before it stays. */
	CU_ASSERT_EQUAL_FATAL(pcap_writer_open(&w, fd2, false, 65535), 0);
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 1000000000ULL), 0);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 24 + small + large / 2;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, big, sizeof(big), sizeof(big), 2000000000ULL),
			-EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CU_ASSERT_EQUAL(w.packets, 1);
	CU_ASSERT_EQUAL(fstat(fd2, &st), 0);
	CU_ASSERT_EQUAL((size_t)st.st_size, 24 + small);
	pcap_writer_close(&w);
	close(fd2);
}

/* Walk pcapng blocks; returns the number of blocks, checking lengths. */
static void test_pcapng_writer(void)
{
	struct pcap_writer w;
	struct pktap_header h;
	char *buf = NULL;
	size_t len = 0, off;
	int fd = memfd_create("pcapng", MFD_CLOEXEC);
	int idb = 0, epb = 0;
	uint32_t ids[3], dirs[3], pkttype[3];
	char comments[3][64];

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pcap_writer_open(&w, fd, true, 1500), 0);
	fill_hdr(&h, "vA", PTH_FLAG_DIR_OUT, 77, "iptcli");
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 1000000000ULL), 0);
	fill_hdr(&h, "lo", PTH_FLAG_DIR_IN, -1, "");
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 27, 28, 2000000000ULL), 0);
	fill_hdr(&h, "vA", PTH_FLAG_DIR_IN, 78, "srv");
	h.pth_svc = 800;
	CU_ASSERT_EQUAL(pcap_writer_packet(&w, &h, ip4_pkt, 28, 28, 3000000000ULL), 0);
	CU_ASSERT_EQUAL(pcap_writer_close(&w), 0);
	slurp(fd, &buf, &len);
	close(fd);
	memset(comments, 0, sizeof(comments));
	memset(dirs, 0, sizeof(dirs));
	for (off = 0; off + 12 <= len;) {
		const uint8_t *b = (const uint8_t *)buf + off;
		uint32_t type = rd32(b), blen = rd32(b + 4);

		CU_ASSERT_FATAL(blen >= 12 && blen % 4 == 0 && off + blen <= len);
		CU_ASSERT_EQUAL(rd32(b + blen - 4), blen);
		if (type == PCAPNG_SHB) {
			CU_ASSERT_EQUAL(off, 0);
			CU_ASSERT_EQUAL(rd32(b + 8), PCAPNG_BOM);
		} else if (type == PCAPNG_IDB) {
			/* One link type for every interface (libpcap 1.10.3 refuses mixed ones). */
			CU_ASSERT_EQUAL(rd16(b + 8), LINKTYPE_LINUX_SLL2);
			CU_ASSERT_EQUAL(rd16(b + 16), 2);	/* if_name */
			CU_ASSERT_STRING_EQUAL((const char *)b + 20, idb == 0 ? "vA" : "lo");
			idb++;
		} else if (type == PCAPNG_EPB && epb < 3) {
			uint32_t cap = rd32(b + 20);
			const uint8_t *o = b + 28 + ((cap + 3) & ~3u);

			ids[epb] = rd32(b + 8);
			CU_ASSERT_EQUAL(rd32(b + 24), SLL2_HDR_LEN + 28);	/* original length */
			CU_ASSERT(b[28] == 0x08 && b[29] == 0x00);		/* SLL2 protocol */
			pkttype[epb] = b[28 + 10];
			CU_ASSERT_EQUAL(memcmp(b + 28 + SLL2_HDR_LEN, ip4_pkt, cap - SLL2_HDR_LEN), 0);
			while (o < b + blen - 4 && rd16(o) != 0) {
				uint16_t code = rd16(o), olen = rd16(o + 2);

				if (code == 2)
					dirs[epb] = rd32(o + 4);
				if (code == 1)
					memcpy(comments[epb], o + 4, olen < 63 ? olen : 63);
				o += 4 + ((olen + 3u) & ~3u);
			}
			epb++;
		}
		off += blen;
	}
	CU_ASSERT_EQUAL(off, len);
	CU_ASSERT_EQUAL(idb, 2);
	CU_ASSERT_EQUAL_FATAL(epb, 3);
	CU_ASSERT(ids[0] == 0 && ids[1] == 1 && ids[2] == 0);
	CU_ASSERT(dirs[0] == 2 && dirs[1] == 1 && dirs[2] == 1);
	CU_ASSERT(pkttype[0] == 4 && pkttype[1] == 0 && pkttype[2] == 0);	/* OUTGOING, HOST */
	CU_ASSERT_STRING_EQUAL(comments[0], "pid=77 comm=iptcli svc=0");
	CU_ASSERT_STRING_EQUAL(comments[1], "");	/* no process: no comment */
	CU_ASSERT_STRING_EQUAL(comments[2], "pid=78 comm=srv svc=800");
	free(buf);
}

static void test_record_decode(void)
{
	uint8_t sample[156 + 14 + 28 + 6];
	struct pktap_header h, out;
	const uint8_t *pkt;
	uint32_t cap, orig;

	fill_hdr(&h, "vA", PTH_FLAG_DIR_IN, 1, "x");
	h.pth_length = 156 + 14;
	h.pth_frame_pre_length = 14;
	memset(sample, 0xee, sizeof(sample));
	memcpy(sample, &h, sizeof(h));
	memcpy(sample + 170, ip4_pkt, sizeof(ip4_pkt));
	/* Full packet followed by perf padding: the IP length decides. */
	CU_ASSERT_EQUAL(iptap_record_decode(sample, sizeof(sample), &out, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(cap, 28);
	CU_ASSERT_EQUAL(orig, 28);
	CU_ASSERT_PTR_EQUAL(pkt, sample + 170);
	CU_ASSERT_EQUAL(out.pth_length, 156);
	CU_ASSERT_EQUAL(out.pth_frame_pre_length, 0);
	CU_ASSERT_STRING_EQUAL(out.pth_ifname, "vA");
	CU_ASSERT_EQUAL(out.pth_ifunit, 0);
	/* The tap leaves pth_ifunit 0: the reader reads the name's trailing number. */
	memset(h.pth_ifname, 0, sizeof(h.pth_ifname));
	memcpy(h.pth_ifname, "veth1042", 8);
	h.pth_ifunit = 0;
	memcpy(sample, &h, sizeof(h));
	CU_ASSERT_EQUAL(iptap_record_decode(sample, sizeof(sample), &out, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(out.pth_ifunit, 1042);
	memcpy(h.pth_ifname, "v4lan001", 8);
	memcpy(sample, &h, sizeof(h));
	CU_ASSERT_EQUAL(iptap_record_decode(sample, sizeof(sample), &out, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(out.pth_ifunit, 1);
	/* Cut by the snap length. */
	CU_ASSERT_EQUAL(iptap_record_decode(sample, 170 + 24, &out, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(cap, 24);
	CU_ASSERT_EQUAL(orig, 28);
	/* A small ring record: pth_ifunit says the bytes before its padding. */
	h.pth_ifunit = 14 + 24;
	memcpy(sample, &h, sizeof(h));
	CU_ASSERT_EQUAL(iptap_record_decode(sample, sizeof(sample), &out, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(cap, 24);
	CU_ASSERT_EQUAL(orig, 28);
	CU_ASSERT_EQUAL(out.pth_ifunit, 1);	/* the reader's, from the name */
	h.pth_ifunit = sizeof(sample) - 156 + 1;
	memcpy(sample, &h, sizeof(h));
	CU_ASSERT_EQUAL(iptap_record_decode(sample, sizeof(sample), &out, &pkt, &cap, &orig),
			-EINVAL);
	h.pth_ifunit = 0;
	memcpy(sample, &h, sizeof(h));
	/* Malformed: too short, inconsistent header length. */
	CU_ASSERT_EQUAL(iptap_record_decode(sample, 100, &out, &pkt, &cap, &orig), -EINVAL);
	h.pth_length = 156;
	memcpy(sample, &h, sizeof(h));
	CU_ASSERT_EQUAL(iptap_record_decode(sample, sizeof(sample), &out, &pkt, &cap, &orig),
			-EINVAL);
}

static void test_tap_counting(void)
{
	const char *text =
		"sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n"
		"ffff8881063a4000 3      3    0003   7     1 0      0      4242\n"
		"ffff8881063a5000 3      3    0003   7     1 0      0      4243\n"
		"ffff8881063a6000 3      3    0003   0     1 0      0      4244\n"
		"ffff8881063a7000 3      2    0800   17    1 0      0      4245\n";

	CU_ASSERT_EQUAL(packet_sockets_on(text, 7), 2);
	CU_ASSERT_EQUAL(packet_sockets_on(text, 17), 1);
	CU_ASSERT_EQUAL(packet_sockets_on(text, 0), 0);	/* "any" is no iptap listener */
	CU_ASSERT_EQUAL(packet_sockets_on(text, 3), 0);
	CU_ASSERT_EQUAL(packet_sockets_on("", 7), 0);
}

/* ---------- BPF_PROG_TEST_RUN ---------- */

static struct {
	char ns[H_NAME_LEN];
	char pin_dir[128];
	struct iptap_bpf *skel;
	int sink_ifindex;
	uint64_t cookie;
	int ncpu;
} B;

static int bpf_init(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	char out[64];
	socklen_t len = sizeof(B.cookie);
	int fd;

	B.ncpu = libbpf_num_possible_cpus();
	if (h_pin_dir("iptapbpf", B.pin_dir, sizeof(B.pin_dir)))
		return -1;
	opts.pin_root_path = B.pin_dir;
	if (h_ns_create("ipb", B.ns, sizeof(B.ns)))
		return -1;
	/* A device to send raw copies to (its other end is in the same namespace). */
	if (h_sh("ip -n %s link add sa type veth peer name sb && ip -n %s link set sa up && "
		 "ip -n %s link set sb up", B.ns, B.ns, B.ns))
		return -1;
	if (h_sh_out(out, sizeof(out), "ip netns exec %s cat /sys/class/net/sa/ifindex", B.ns))
		return -1;
	B.sink_ifindex = atoi(out);
	if (h_enter_ns(B.ns))
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &B.cookie, &len) < 0) {
		if (fd >= 0)
			close(fd);
		h_leave_ns();
		return -1;
	}
	close(fd);
	h_leave_ns();
	B.skel = iptap_bpf__open_opts(&opts);
	if (!B.skel)
		return -1;
	B.skel->rodata->nr_cpus = (__u32)B.ncpu;
	bpf_map__set_max_entries(B.skel->maps.iptap_events, (__u32)(IPTAP_MAX_READERS * B.ncpu));
	bpf_map__set_max_entries(B.skel->maps.iptap_rings, (__u32)(IPTAP_MAX_READERS * B.ncpu));
	return iptap_bpf__load(B.skel) ? -1 : 0;
}

static int bpf_cleanup(void)
{
	iptap_bpf__destroy(B.skel);
	B.skel = NULL;
	h_ns_delete(B.ns);
	h_sh("rm -rf %s", B.pin_dir);
	return 0;
}

static void set_cfg(uint32_t n_raw, uint32_t mask)
{
	struct iptap_ns_cfg cfg = { .idx = 5, .n_raw = n_raw, .reader_mask = mask };

	cfg.raw_ifindex[0] = (__u32)B.sink_ifindex;
	cfg.snaplen[0] = 200;
	CU_ASSERT_EQUAL(bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie,
					    &cfg, BPF_ANY), 0);
}

static void get_stat(struct iptap_stat *sum)
{
	struct iptap_stat *per = calloc((size_t)B.ncpu, sizeof(*per));
	__u32 idx = 5;

	memset(sum, 0, sizeof(*sum));
	if (per && bpf_map_lookup_elem(bpf_map__fd(B.skel->maps.iptap_stats), &idx, per) == 0) {
		for (int i = 0; i < B.ncpu; i++) {
			sum->packets += per[i].packets;
			sum->copies += per[i].copies;
			sum->records += per[i].records;
			sum->record_errors += per[i].record_errors;
		}
	}
	free(per);
}

enum frame_kind { F_IPV4, F_IPV6, F_ARP };

/* Run prog on a frame on device ifindex (0: the namespace's lo). */
static int run_frame_on(struct bpf_program *prog, enum frame_kind kind, int ifindex,
			__u32 *retval)
{
	uint8_t frame[14 + 48];
	struct __sk_buff ctx = { .ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .repeat = 1,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int err;

	memset(frame, 0, sizeof(frame));
	memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	if (kind == F_IPV4) {
		frame[12] = 0x08;
		memcpy(frame + 14, ip4_pkt, sizeof(ip4_pkt));
		topts.data_size_in = 14 + sizeof(ip4_pkt);
	} else if (kind == F_IPV6) {
		frame[12] = 0x86;
		frame[13] = 0xdd;
		frame[14] = 0x60;
		frame[19] = 8;		/* payload length */
		frame[20] = 17;		/* UDP */
		frame[21] = 64;
		frame[22] = 0xfd;
		frame[37] = 1;
		frame[38] = 0xfd;
		frame[53] = 2;
		frame[55] = 0x50;
		frame[57] = 0x51;
		frame[59] = 8;
		topts.data_size_in = 14 + 48;
	} else {
		frame[12] = 0x08;
		frame[13] = 0x06;
		frame[14] = 0x00; frame[15] = 0x01; frame[16] = 0x08; frame[17] = 0x00;
		frame[18] = 6; frame[19] = 4; frame[21] = 1;
		topts.data_size_in = 14 + 28;
	}
	topts.data_in = frame;
	if (h_enter_ns(B.ns))
		return -1;
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &topts);
	h_leave_ns();
	*retval = topts.retval;
	return err;
}

static int run_frame(struct bpf_program *prog, enum frame_kind kind, __u32 *retval)
{
	return run_frame_on(prog, kind, 0, retval);
}

static void test_bpf_raw_copies_only_ip(void)
{
	struct iptap_stat a, b;
	__u32 ret = 0;

	set_cfg(1, 0);
	get_stat(&a);
	CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_in, F_IPV4, &ret), 0);
	CU_ASSERT_EQUAL(ret, (__u32)-1);	/* TC_ACT_UNSPEC: the packet goes on */
	CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_out, F_IPV6, &ret), 0);
	CU_ASSERT_EQUAL(ret, (__u32)-1);
	get_stat(&b);
	CU_ASSERT_EQUAL(b.packets, a.packets + 2);
	CU_ASSERT_EQUAL(b.copies, a.copies + 2);
	CU_ASSERT_EQUAL(b.records + b.record_errors, a.records + a.record_errors);
	CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_in, F_ARP, &ret), 0);
	CU_ASSERT_EQUAL(ret, (__u32)-1);
	get_stat(&a);
	CU_ASSERT_EQUAL(a.packets, b.packets);
	CU_ASSERT_EQUAL(a.copies, b.copies);
}

static void test_bpf_no_listener_nothing(void)
{
	struct iptap_stat a, b;
	__u32 ret = 0;

	set_cfg(0, 0);
	get_stat(&a);
	CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_in, F_IPV4, &ret), 0);
	CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_out, F_IPV6, &ret), 0);
	get_stat(&b);
	CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof(a)), 0);
	/* No configuration for the namespace at all: the same. */
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
	CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_in, F_IPV4, &ret), 0);
	CU_ASSERT_EQUAL(ret, (__u32)-1);
	get_stat(&a);
	CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof(a)), 0);
}

struct rec_ctx {
	int n;
	uint8_t data[1024];
	uint32_t size;
};

static enum bpf_perf_event_ret rec_cb(void *ctx, int cpu, struct perf_event_header *ev)
{
	struct rec_ctx *rc = ctx;
	struct { struct perf_event_header h; __u32 size; __u8 data[]; } *s = (void *)ev;

	(void)cpu;
	if (ev->type == PERF_RECORD_SAMPLE) {
		rc->n++;
		rc->size = s->size < sizeof(rc->data) ? s->size : sizeof(rc->data);
		memcpy(rc->data, s->data, rc->size);
	}
	return LIBBPF_PERF_EVENT_CONT;
}

/* A perf buffer on slot 0's keys of iptap_events (a ring per CPU), records to rec_cb(ctx). */
static struct perf_buffer *slot0_perf_buffer(void *ctx)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT, .sample_type = PERF_SAMPLE_RAW,
		.wakeup_events = 1 };
	int *cpus = calloc((size_t)B.ncpu, sizeof(int)), *keys = calloc((size_t)B.ncpu, sizeof(int));
	struct perf_buffer *pb = NULL;

	if (cpus && keys) {
		LIBBPF_OPTS(perf_buffer_raw_opts, popts, .cpu_cnt = B.ncpu, .cpus = cpus,
			    .map_keys = keys);

		for (int i = 0; i < B.ncpu; i++) {
			cpus[i] = i;
			keys[i] = i;	/* slot 0 */
		}
		pb = perf_buffer__new_raw(bpf_map__fd(B.skel->maps.iptap_events), 8, &attr,
					  rec_cb, ctx, &popts);
	}
	free(cpus);
	free(keys);
	return pb;
}

static void test_bpf_pktap_records(void)
{
	struct iptap_if_key key = { .netns_cookie = B.cookie, .ifindex = 1 };
	struct iptap_if_info info = { .name = "tst0", .iftype = PKTAP_IFT_ETHER, .unit = 0,
				      .l2len = 14 };
	struct rec_ctx rc = { 0 };
	struct perf_buffer *pb;
	struct iptap_stat a, b;
	struct pktap_header h;
	const uint8_t *pkt;
	uint32_t cap, orig;
	__u32 ret;

	pb = slot0_perf_buffer(&rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
	/* test_run puts the packet on the namespace's loopback (ifindex 1). */
	bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_ifaces), &key, &info, BPF_ANY);
	set_cfg(0, 1);
	get_stat(&a);
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_in, F_ARP, &ret), 0);
	perf_buffer__consume(pb);
	CU_ASSERT_EQUAL(rc.n, 0);
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
	perf_buffer__consume(pb);
	get_stat(&b);
	CU_ASSERT_EQUAL(b.records, a.records + 1);
	CU_ASSERT_EQUAL(b.copies, a.copies);		/* no raw listener: no copy */
	CU_ASSERT_EQUAL_FATAL(rc.n, 1);
	CU_ASSERT_EQUAL_FATAL(iptap_record_decode(rc.data, rc.size, &h, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(h.pth_dlt, PKTAP_DLT_RAW);
	CU_ASSERT_EQUAL(h.pth_type_next, PTH_TYPE_PACKET);
	CU_ASSERT_EQUAL(h.pth_flags, PTH_FLAG_DIR_OUT);
	CU_ASSERT_EQUAL(h.pth_protocol_family, 2);
	CU_ASSERT_EQUAL(h.pth_ipproto, 17);
	/* The device's own (lo), not what the (stale) map entry says. */
	CU_ASSERT_EQUAL(h.pth_iftype, PKTAP_IFT_LOOP);
	CU_ASSERT_STRING_EQUAL(h.pth_ifname, "lo");
	CU_ASSERT_EQUAL(cap, sizeof(ip4_pkt));
	CU_ASSERT_EQUAL(memcmp(pkt, ip4_pkt, sizeof(ip4_pkt)), 0);
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_in, F_IPV6, &ret), 0);
	perf_buffer__consume(pb);
	CU_ASSERT_EQUAL_FATAL(rc.n, 2);
	CU_ASSERT_EQUAL(iptap_record_decode(rc.data, rc.size, &h, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(h.pth_flags, PTH_FLAG_DIR_IN);
	CU_ASSERT_EQUAL(h.pth_protocol_family, 10);
	CU_ASSERT_EQUAL(cap, 48);
	perf_buffer__free(pb);
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
}

/* What the loader writes into iptap_ifaces for a device (iptap_ns.c's if_info_fill()). */
static void loader_if_info(const char *name, int arphrd, struct iptap_if_info *info)
{
	uint32_t unit = 0;
	size_t n = strlen(name);

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", name);
	while (n && name[n - 1] >= '0' && name[n - 1] <= '9')
		n--;
	for (const char *p = name + n; *p; p++)
		unit = unit * 10 + (uint32_t)(*p - '0');
	info->unit = (__u16)unit;
	info->iftype = arphrd == 1 ? PKTAP_IFT_ETHER : arphrd == 772 ? PKTAP_IFT_LOOP :
		       PKTAP_IFT_OTHER;
	info->l2len = arphrd == 1 || arphrd == 772 ? 14 : 0;
}

/* A UDP socket in the test namespace bound to addr:port, with an owner and a priority. */
static int owned_socket(const char *addr, int port, int prio, __u32 pid, const char *comm)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct iptap_owner own = { .pid = pid };
	int fd;

	snprintf(own.comm, sizeof(own.comm), "%s", comm);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (h_enter_ns(B.ns))
		return -1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	h_leave_ns();
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_sk_owner), &fd, &own, BPF_ANY)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The record's fields for packets on three devices, both directions, with
 * and without a socket owner: ifname, iftype, unit as the loader's rule
 * (which the tap programs apply to the device itself), direction, family,
 * ipproto, pid/comm (and epid/ecomm) of the owning socket found by its
 * 4-tuple, svc from its priority, pid -1 and no command without owner.
 * The interface entries the loader would write are in iptap_ifaces, so
 * programs that took the fields from there wrote the same records.
 */
static void test_bpf_record_fields(void)
{
	static const struct {
		const char *dev;
		int arphrd, out, v6;
		int pid;
		const char *comm;
		uint32_t svc;
	} cases[] = {
		{ "lo", 772, 1, 0, 4242, "rec-out", 800 },	/* SO_PRIORITY 6: SO_TC_VO */
		{ "iptv42", 1, 0, 0, 4343, "rec-in", 200 },	/* SO_PRIORITY 2: SO_TC_BK */
		{ "iptw7", 1, 1, 1, -1, "", 0 },		/* IPv6, no socket */
	};
	int s_out = -1, s_in = -1;
	struct rec_ctx rc = { 0 };
	struct perf_buffer *pb = NULL;

	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s link add iptv42 type veth peer name iptw7 && "
				   "ip -n %s link set iptv42 up && ip -n %s link set iptw7 up && "
				   "ip -n %s addr add 10.9.0.1/32 dev lo && "
				   "ip -n %s addr add 10.9.0.2/32 dev lo", B.ns, B.ns, B.ns, B.ns,
				   B.ns), 0);
	s_out = owned_socket("10.9.0.1", 8080, 6, 4242, "rec-out");
	s_in = owned_socket("10.9.0.2", 8081, 2, 4343, "rec-in");
	CU_ASSERT_FATAL(s_out >= 0 && s_in >= 0);
	pb = slot0_perf_buffer(&rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
	set_cfg(0, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct iptap_if_key key = { .netns_cookie = B.cookie };
		struct iptap_if_info info;
		struct pktap_header h;
		const uint8_t *pkt;
		uint32_t cap, orig;
		struct timespec t0, t1;
		char out[32];
		int n = rc.n;
		int64_t us;
		__u32 ret;

		CU_ASSERT_EQUAL_FATAL(h_sh_out(out, sizeof(out), "ip netns exec %s cat "
					       "/sys/class/net/%s/ifindex", B.ns, cases[i].dev), 0);
		key.ifindex = (__u32)atoi(out);
		loader_if_info(cases[i].dev, cases[i].arphrd, &info);
		bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_ifaces), &key, &info, BPF_ANY);
		clock_gettime(CLOCK_TAI, &t0);
		CU_ASSERT_EQUAL(run_frame_on(cases[i].out ? B.skel->progs.iptap_out :
					     B.skel->progs.iptap_in, cases[i].v6 ? F_IPV6 : F_IPV4,
					     (int)key.ifindex, &ret), 0);
		clock_gettime(CLOCK_TAI, &t1);
		perf_buffer__consume(pb);
		CU_ASSERT_EQUAL_FATAL(rc.n, n + 1);
		CU_ASSERT_EQUAL_FATAL(iptap_record_decode(rc.data, rc.size, &h, &pkt, &cap, &orig), 0);
		CU_ASSERT_STRING_EQUAL(h.pth_ifname, cases[i].dev);
		CU_ASSERT_EQUAL(h.pth_iftype, info.iftype);
		CU_ASSERT_EQUAL(h.pth_ifunit, info.unit);
		CU_ASSERT_EQUAL(h.pth_flags, cases[i].out ? PTH_FLAG_DIR_OUT : PTH_FLAG_DIR_IN);
		CU_ASSERT_EQUAL(h.pth_protocol_family, cases[i].v6 ? 10 : 2);
		CU_ASSERT_EQUAL(h.pth_ipproto, 17);
		CU_ASSERT_EQUAL(h.pth_pid, cases[i].pid);
		CU_ASSERT_EQUAL(h.pth_epid, cases[i].pid);
		CU_ASSERT_STRING_EQUAL(h.pth_comm, cases[i].comm);
		CU_ASSERT_STRING_EQUAL(h.pth_ecomm, cases[i].comm);
		CU_ASSERT_EQUAL(h.pth_svc, cases[i].svc);
		CU_ASSERT_EQUAL(h.pth_dlt, PKTAP_DLT_RAW);
		CU_ASSERT_EQUAL(cap, cases[i].v6 ? 48 : sizeof(ip4_pkt));
		/* The ring's time is CLOCK_TAI, in seconds and microseconds. */
		us = (int64_t)h.pth_tstamp.tv_sec * 1000000 + h.pth_tstamp.tv_usec;
		CU_ASSERT(h.pth_tstamp.tv_usec >= 0 && h.pth_tstamp.tv_usec < 1000000);
		CU_ASSERT(us >= (int64_t)t0.tv_sec * 1000000 + t0.tv_nsec / 1000 &&
			  us <= (int64_t)t1.tv_sec * 1000000 + t1.tv_nsec / 1000);
		if (strcmp(h.pth_ifname, cases[i].dev) || h.pth_pid != cases[i].pid)
			fprintf(stderr, "  record on %s: ifname %s unit %u pid %d comm %s svc %u\n",
				cases[i].dev, h.pth_ifname, h.pth_ifunit, h.pth_pid, h.pth_comm,
				h.pth_svc);
	}
	perf_buffer__free(pb);
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
	close(s_out);
	close(s_in);
	h_sh("ip -n %s link del iptv42; ip -n %s addr del 10.9.0.1/32 dev lo; "
	     "ip -n %s addr del 10.9.0.2/32 dev lo", B.ns, B.ns, B.ns);
}

static int jit_prog(const struct iptap_cbpf *prog, unsigned int len, const char *what);

/* Average ns per run of prog on an IPv4 UDP frame (BPF_PROG_TEST_RUN, many repeats). */
static unsigned int tap_ns(struct bpf_program *prog)
{
	uint8_t frame[14 + sizeof(ip4_pkt)];
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 200000);

	memset(frame, 0, sizeof(frame));
	frame[12] = 0x08;
	memcpy(frame + 14, ip4_pkt, sizeof(ip4_pkt));
	if (h_enter_ns(B.ns))
		return 0;
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &topts))
		topts.duration = 0;
	h_leave_ns();
	return topts.duration;
}

/*
 * A reader slot with a pcap-filter expression gets the packets it matches
 * and counts the others filtered: in the cBPF interpreter and, with the
 * translation in iptap_jit[slot] (tail-called from the slot's function), as
 * eBPF.  Both decide alike; the figures printed are the tap program's cost
 * per packet with a filter that matches nothing, each way.
 */
static void test_bpf_filter_expression(void)
{
	struct iptap_if_key key = { .netns_cookie = B.cookie, .ifindex = 1 };
	struct iptap_if_info info = { .name = "tst0", .iftype = PKTAP_IFT_ETHER, .l2len = 14 };
	static const char *const exprs[] = { "udp dst port 8081", "ip and udp[0:2] = 8080",
		"udp port 8081 and len = 28", "tcp", "ip6", "udp dst port 8080", "ip[9] = 6",
		"udp port 9" };
	static const bool match[] = { true, true, true, false, false, false, false, false };
	int rs_fd = bpf_map__fd(B.skel->maps.iptap_reader_stats);
	int jit_map = bpf_map__fd(B.skel->maps.iptap_jit);
	unsigned int ns[2] = { 0, 0 };
	__u32 slot = 0, ret;

	bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_ifaces), &key, &info, BPF_ANY);
	set_cfg(0, 1);
	for (int jit = 0; jit < 2; jit++) {
		for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
			struct iptap_filter f;
			struct iptap_expr *e = NULL;
			struct iptap_reader_stat *per = calloc((size_t)B.ncpu, sizeof(*per));
			uint64_t filtered = 0, tried = 0;
			char why[256];
			int fd = -1;

			CU_ASSERT_PTR_NOT_NULL_FATAL(per);
			memset(&f, 0, sizeof(f));
			CU_ASSERT_EQUAL_FATAL(iptap_expr_compile(exprs[i], 65535, &f, &e, why,
								 sizeof(why)), 0);
			CU_ASSERT(f.flags & IPTAP_RF_BPF);
			CU_ASSERT_EQUAL(bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_filters),
							    &slot, &f, BPF_ANY), 0);
			if (jit) {
				fd = jit_prog(f.insn, f.len, exprs[i]);
				CU_ASSERT_FATAL(fd >= 0);
				CU_ASSERT_EQUAL(bpf_map_update_elem(jit_map, &slot, &fd, BPF_ANY), 0);
			}
			bpf_map_update_elem(rs_fd, &slot, per, BPF_ANY);	/* zeroed */
			CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
			CU_ASSERT_EQUAL(bpf_map_lookup_elem(rs_fd, &slot, per), 0);
			for (int c = 0; c < B.ncpu; c++) {
				filtered += per[c].filtered;
				tried += per[c].records + per[c].lost + per[c].unmapped;
			}
			if (filtered + tried != 1 || (filtered == 0) != match[i])
				fprintf(stderr, "  '%s' (%s): filtered %llu, written or tried %llu\n",
					exprs[i], jit ? "eBPF" : "interpreter",
					(unsigned long long)filtered, (unsigned long long)tried);
			CU_ASSERT_EQUAL(filtered + tried, 1);
			CU_ASSERT_EQUAL(filtered == 0, match[i]);
			/* The reader's own check agrees with the kernel's. */
			CU_ASSERT_EQUAL(iptap_expr_match(e, ip4_pkt, sizeof(ip4_pkt), sizeof(ip4_pkt)),
					match[i]);
			if (!strcmp(exprs[i], "udp port 9"))
				ns[jit] = tap_ns(B.skel->progs.iptap_out);
			if (jit) {
				bpf_map_delete_elem(jit_map, &slot);
				close(fd);
			}
			iptap_expr_free(e);
			free(per);
		}
	}
	fprintf(stderr, "  iptap_out with a reader filtering 'udp port 9' (no match): "
		"%u ns per packet interpreted, %u ns as eBPF\n", ns[0], ns[1]);
	{
		struct iptap_filter none;

		memset(&none, 0, sizeof(none));
		bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_filters), &slot, &none, BPF_ANY);
	}
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
}

/*
 * The namespace's configuration from its tagged iptap_ns_fast entry: that
 * entry wins over iptap_ns_cfg; an entry tagged for another namespace (the
 * same index) or being written (tag 0) is passed over for the hash.
 */
static void test_bpf_ns_fast(void)
{
	int fast_fd = bpf_map__fd(B.skel->maps.iptap_ns_fast);
	__u32 i = (__u32)(B.cookie % IPTAP_NS_FAST), ret;
	struct iptap_ns_fast fe;
	struct iptap_stat a, b;
	static const uint64_t tags[] = { 0, 1, 2 };	/* mine, another's, being written */

	set_cfg(1, 0);		/* the hash: one raw listener (copies to sa) */
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		memset(&fe, 0, sizeof(fe));
		fe.cfg.idx = 5;	/* the array: nobody listens */
		fe.cookie = t == 0 ? B.cookie : t == 1 ? B.cookie + IPTAP_NS_FAST : 0;
		CU_ASSERT_EQUAL(bpf_map_update_elem(fast_fd, &i, &fe, BPF_ANY), 0);
		get_stat(&a);
		CU_ASSERT_EQUAL_FATAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
		get_stat(&b);
		CU_ASSERT_EQUAL(b.copies, a.copies + (t == 0 ? 0 : 1));
		CU_ASSERT_EQUAL(b.packets, a.packets + (t == 0 ? 0 : 1));
	}
	memset(&fe, 0, sizeof(fe));
	bpf_map_update_elem(fast_fd, &i, &fe, BPF_ANY);
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
	(void)tags;
}

/* Sum of a reader slot's per-CPU counters. */
static void reader_stat_sum(__u32 slot, struct iptap_reader_stat *sum)
{
	struct iptap_reader_stat *per = calloc((size_t)B.ncpu, sizeof(*per));

	memset(sum, 0, sizeof(*sum));
	if (per && bpf_map_lookup_elem(bpf_map__fd(B.skel->maps.iptap_reader_stats), &slot,
				       per) == 0) {
		for (int c = 0; c < B.ncpu; c++) {
			sum->records += per[c].records;
			sum->lost += per[c].lost;
			sum->unmapped += per[c].unmapped;
			sum->filtered += per[c].filtered;
		}
	}
	free(per);
}

static int ring_rec_cb(void *ctx, void *data, size_t size)
{
	struct rec_ctx *rc = ctx;

	rc->n++;
	rc->size = size < sizeof(rc->data) ? (uint32_t)size : sizeof(rc->data);
	memcpy(rc->data, data, rc->size);
	return 0;
}

/* BPF ring buffers of size bytes at slot 0's keys of iptap_rings, read by rb. */
static struct ring_buffer *slot0_ringbufs(int *fds, uint32_t size, struct rec_ctx *rc)
{
	int rings_fd = bpf_map__fd(B.skel->maps.iptap_rings);
	struct ring_buffer *rb = NULL;

	for (int i = 0; i < B.ncpu; i++) {
		__u32 k = (__u32)i;

		fds[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tst_ring", 0, 0, size, NULL);
		if (fds[i] < 0 || bpf_map_update_elem(rings_fd, &k, &fds[i], BPF_ANY))
			return NULL;
		if (!rb)
			rb = ring_buffer__new(fds[i], ring_rec_cb, rc, NULL);
		else if (ring_buffer__add(rb, fds[i], ring_rec_cb, rc))
			return NULL;
		if (!rb)
			return NULL;
	}
	return rb;
}

static void slot0_ringbufs_free(struct ring_buffer *rb, int *fds)
{
	int rings_fd = bpf_map__fd(B.skel->maps.iptap_rings);

	ring_buffer__free(rb);
	for (int i = 0; i < B.ncpu; i++) {
		__u32 k = (__u32)i;

		bpf_map_delete_elem(rings_fd, &k);
		if (fds[i] >= 0)
			close(fds[i]);
	}
}

/*
 * The record in the slot's BPF ring buffer is the perf ring's record byte
 * for byte (but the time); with a perf ring at the key too (bpftool's
 * event_pipe taking the slot over) the record goes there; a full ring
 * buffer counts each record it cannot take as lost, exactly (written +
 * lost = runs, and the ring holds the written ones); with neither ring the
 * record counts as unmapped.
 */
static void test_bpf_ringbuf_records(void)
{
	int *fds = calloc((size_t)B.ncpu, sizeof(int));
	struct rec_ctx pc = { 0 }, rc = { 0 };
	struct iptap_reader_stat a, b;
	struct perf_buffer *pb = NULL;
	struct ring_buffer *rb = NULL;
	struct pktap_header hp, hr;
	const uint8_t *pkt;
	uint32_t cap, orig;
	__u32 ret;

	CU_ASSERT_FATAL(fds != NULL);
	for (int i = 0; i < B.ncpu; i++) {
		fds[i] = -1;
	}
	pb = slot0_perf_buffer(&pc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
	set_cfg(0, 1);
	/* The perf ring's record. */
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
	perf_buffer__consume(pb);
	CU_ASSERT_EQUAL_FATAL(pc.n, 1);

	/* Both rings: the perf ring's entry wins (bpftool map event_pipe). */
	rb = slot0_ringbufs(fds, 4096, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rb);
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
	perf_buffer__consume(pb);
	ring_buffer__consume(rb);
	CU_ASSERT_EQUAL(pc.n, 2);
	CU_ASSERT_EQUAL(rc.n, 0);

	/* The ring buffer alone: the same record. */
	perf_buffer__free(pb);		/* takes its entries out of iptap_events */
	pb = NULL;
	reader_stat_sum(0, &a);
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
	ring_buffer__consume(rb);
	reader_stat_sum(0, &b);
	CU_ASSERT_EQUAL(b.records, a.records + 1);
	CU_ASSERT_EQUAL(b.lost, a.lost);
	CU_ASSERT_EQUAL_FATAL(rc.n, 1);
	/*
	 * Header + frame + 2 bytes of padding (a small record's size class: 156 +
	 * 44 bytes), pth_ifunit saying 42 (the perf sample's raw size includes
	 * its own padding).
	 */
	CU_ASSERT_EQUAL(rc.size, sizeof(struct pktap_header) + 44);
	CU_ASSERT_EQUAL(((struct pktap_header *)rc.data)->pth_ifunit, 14 + sizeof(ip4_pkt));
	((struct pktap_header *)rc.data)->pth_ifunit = 0;
	rc.size = sizeof(struct pktap_header) + 14 + sizeof(ip4_pkt);
	CU_ASSERT(pc.size >= rc.size && pc.size < rc.size + 8);
	CU_ASSERT_EQUAL_FATAL(iptap_record_decode(pc.data, pc.size, &hp, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL_FATAL(iptap_record_decode(rc.data, rc.size, &hr, &pkt, &cap, &orig), 0);
	CU_ASSERT_EQUAL(cap, sizeof(ip4_pkt));
	CU_ASSERT_EQUAL(memcmp(pkt, ip4_pkt, sizeof(ip4_pkt)), 0);
	CU_ASSERT_STRING_EQUAL(hr.pth_ifname, "lo");
	CU_ASSERT_EQUAL(hr.pth_flags, PTH_FLAG_DIR_OUT);
	/* Byte for byte but the time. */
	memset(&pc.data[offsetof(struct pktap_header, pth_tstamp)], 0, sizeof(hp.pth_tstamp));
	memset(&rc.data[offsetof(struct pktap_header, pth_tstamp)], 0, sizeof(hr.pth_tstamp));
	CU_ASSERT_EQUAL(memcmp(pc.data, rc.data, rc.size < pc.size ? rc.size : pc.size), 0);

	/* A full ring: 100 runs into 4 KiB, every one written or lost, none both. */
	{
		LIBBPF_OPTS(bpf_test_run_opts, topts, .repeat = 100);
		uint8_t frame[14 + sizeof(ip4_pkt)];
		struct __sk_buff ctx = { .ifindex = 0 };
		int n0 = rc.n;

		memset(frame, 0, sizeof(frame));
		memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
		memcpy(frame + 14, ip4_pkt, sizeof(ip4_pkt));
		topts.data_in = frame;
		topts.data_size_in = sizeof(frame);
		topts.ctx_in = &ctx;
		topts.ctx_size_in = sizeof(ctx);
		reader_stat_sum(0, &a);
		CU_ASSERT_FATAL(h_enter_ns(B.ns) == 0);
		CU_ASSERT_EQUAL(bpf_prog_test_run_opts(bpf_program__fd(B.skel->progs.iptap_out),
						       &topts), 0);
		h_leave_ns();
		ring_buffer__consume(rb);
		reader_stat_sum(0, &b);
		fprintf(stderr, "  full ring: %llu written, %llu lost, %d read\n",
			(unsigned long long)(b.records - a.records),
			(unsigned long long)(b.lost - a.lost), rc.n - n0);
		CU_ASSERT(b.lost > a.lost);
		CU_ASSERT(b.records > a.records);
		CU_ASSERT_EQUAL(b.records - a.records + b.lost - a.lost, 100);
		CU_ASSERT_EQUAL((uint64_t)(rc.n - n0), b.records - a.records);
		CU_ASSERT_EQUAL(b.unmapped, a.unmapped);
	}

	/* No ring at all: unmapped. */
	slot0_ringbufs_free(rb, fds);
	rb = NULL;
	reader_stat_sum(0, &a);
	CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
	reader_stat_sum(0, &b);
	CU_ASSERT_EQUAL(b.unmapped, a.unmapped + 1);
	CU_ASSERT_EQUAL(b.records, a.records);
	CU_ASSERT_EQUAL(b.lost, a.lost);

	if (rb)
		slot0_ringbufs_free(rb, fds);
	perf_buffer__free(pb);
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
	free(fds);
}

/* Run prog once per repeat on an IPv4 UDP frame of len bytes (14 + IP). */
static int run_udp_frame(struct bpf_program *prog, uint32_t len, int repeat)
{
	uint8_t frame[1024];
	struct __sk_buff ctx = { .ifindex = 0 };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = len,
		    .repeat = repeat, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int err;

	if (len < 14 + sizeof(ip4_pkt) || len > sizeof(frame))
		return -1;
	for (uint32_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(i * 7 + 1);
	memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	memcpy(frame + 14, ip4_pkt, 20 + 8);
	frame[16] = (uint8_t)((len - 14) >> 8);		/* IPv4 total length */
	frame[17] = (uint8_t)(len - 14);
	frame[38] = (uint8_t)((len - 34) >> 8);		/* UDP length */
	frame[39] = (uint8_t)(len - 34);
	if (h_enter_ns(B.ns))
		return -1;
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &topts);
	h_leave_ns();
	return err;
}

/*
 * Records of every size through both ring buffer paths (at most 252 bytes
 * of frame: a fixed-size reservation by size class and bpf_skb_load_bytes;
 * more: dynptrs) are the perf ring's record: the same bytes but the time,
 * the same packet and lengths decoded, a cut packet too (whose small
 * record ends in padding the decoder must not take for packet bytes).  A
 * full ring counts each large record it cannot take as lost, exactly, as
 * test_bpf_ringbuf_records does for small ones.
 */
static void test_bpf_ringbuf_sizes(void)
{
	static const struct { uint32_t len, snap, cap; } cases[] = {
		{ 42, 1000, 42 }, { 251, 1000, 251 }, { 252, 1000, 252 },
		{ 253, 1000, 253 }, { 340, 1000, 340 },
		{ 340, 200, 208 },	/* 14 + 200 cut to 8-byte alignment */
		{ 340, 100, 112 },
	};
	int *fds = calloc((size_t)B.ncpu, sizeof(int));
	struct iptap_ns_cfg cfg = { .idx = 5, .reader_mask = 1 };
	struct rec_ctx pc = { 0 }, rc = { 0 };
	struct iptap_reader_stat a, b;
	struct ring_buffer *rb = NULL;

	CU_ASSERT_FATAL(fds != NULL);
	for (int i = 0; i < B.ncpu; i++) {
		fds[i] = -1;
	}
	rb = slot0_ringbufs(fds, 4096, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rb);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cap = cases[i].cap, room;
		struct pktap_header hp, hr;
		const uint8_t *pp, *pr;
		uint32_t capp, capr, origp, origr;
		struct perf_buffer *pb;

		cfg.snaplen[0] = cases[i].snap;
		CU_ASSERT_EQUAL(bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg),
						    &B.cookie, &cfg, BPF_ANY), 0);
		/* The perf ring at the key takes the record first. */
		pb = slot0_perf_buffer(&pc);
		CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
		pc.n = 0;
		CU_ASSERT_EQUAL(run_udp_frame(B.skel->progs.iptap_out, cases[i].len, 1), 0);
		perf_buffer__consume(pb);
		perf_buffer__free(pb);
		rc.n = 0;
		CU_ASSERT_EQUAL(run_udp_frame(B.skel->progs.iptap_out, cases[i].len, 1), 0);
		ring_buffer__consume(rb);
		CU_ASSERT_EQUAL(pc.n, 1);
		CU_ASSERT_EQUAL(rc.n, 1);
		if (pc.n != 1 || rc.n != 1)
			continue;
		/* Small: reserved by size class (n = 4 + 8 j), pth_ifunit = bytes. */
		room = cap <= 252 ? (cap + 3) / 8 * 8 + 4 : cap;
		CU_ASSERT_EQUAL(rc.size, sizeof(struct pktap_header) + room);
		CU_ASSERT_EQUAL(((struct pktap_header *)rc.data)->pth_ifunit, cap <= 252 ? cap : 0);
		CU_ASSERT(pc.size >= sizeof(struct pktap_header) + cap &&
			  pc.size < sizeof(struct pktap_header) + cap + 8);
		CU_ASSERT_EQUAL_FATAL(iptap_record_decode(pc.data, pc.size, &hp, &pp, &capp, &origp), 0);
		CU_ASSERT_EQUAL_FATAL(iptap_record_decode(rc.data, rc.size, &hr, &pr, &capr, &origr), 0);
		CU_ASSERT_EQUAL(capr, capp);
		CU_ASSERT_EQUAL(origr, origp);
		CU_ASSERT_EQUAL(capr, cap - 14);
		CU_ASSERT_EQUAL(origr, cases[i].len - 14);
		CU_ASSERT_EQUAL(memcmp(pr, pp, capr), 0);
		hp.pth_tstamp = hr.pth_tstamp;
		CU_ASSERT_EQUAL(memcmp(&hp, &hr, sizeof(hp)), 0);
		/* The raw records: the same bytes but the time and pth_ifunit. */
		memset(&pc.data[offsetof(struct pktap_header, pth_tstamp)], 0, sizeof(hp.pth_tstamp));
		memset(&rc.data[offsetof(struct pktap_header, pth_tstamp)], 0, sizeof(hr.pth_tstamp));
		((struct pktap_header *)rc.data)->pth_ifunit = 0;
		CU_ASSERT_EQUAL(memcmp(pc.data, rc.data, sizeof(struct pktap_header) + cap), 0);
	}

	/* A full ring, large records: every run written or lost, none both. */
	cfg.snaplen[0] = 1000;
	CU_ASSERT_EQUAL(bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg),
					    &B.cookie, &cfg, BPF_ANY), 0);
	rc.n = 0;
	reader_stat_sum(0, &a);
	CU_ASSERT_EQUAL(run_udp_frame(B.skel->progs.iptap_out, 340, 100), 0);
	ring_buffer__consume(rb);
	reader_stat_sum(0, &b);
	fprintf(stderr, "  full ring, 340-byte frames: %llu written, %llu lost, %d read\n",
		(unsigned long long)(b.records - a.records),
		(unsigned long long)(b.lost - a.lost), rc.n);
	CU_ASSERT(b.lost > a.lost);
	CU_ASSERT(b.records > a.records);
	CU_ASSERT_EQUAL(b.records - a.records + b.lost - a.lost, 100);
	CU_ASSERT_EQUAL((uint64_t)rc.n, b.records - a.records);

	slot0_ringbufs_free(rb, fds);
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
	free(fds);
}

/*
 * A reader's filter is decided before anything a record needs: without the
 * interface's iptap_ifaces entry (the record's name, type and unit) a packet
 * the filter refuses is still counted filtered, so the refusal did not look
 * the interface up.  The link header length the filter starts at comes from
 * the device (lo: 14 bytes, as the loader's rule), so 'udp dst port 8081'
 * still matches, and its record (whose interface fields come from the
 * device too) is tried.
 */
static void test_bpf_filter_before_lookups(void)
{
	struct iptap_if_key key = { .netns_cookie = B.cookie, .ifindex = 1 };
	static const char *const exprs[] = { "udp port 9", "udp dst port 8081" };
	int rs_fd = bpf_map__fd(B.skel->maps.iptap_reader_stats);
	int jit_map = bpf_map__fd(B.skel->maps.iptap_jit);
	__u32 slot = 0, ret;

	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ifaces), &key);
	set_cfg(0, 1);
	for (int i = 0; i < 2; i++) {
		struct iptap_reader_stat *zero = calloc((size_t)B.ncpu, sizeof(*zero)), sum;
		struct iptap_filter f;
		struct iptap_expr *e = NULL;
		char why[256];
		int fd;

		CU_ASSERT_PTR_NOT_NULL_FATAL(zero);
		memset(&f, 0, sizeof(f));
		CU_ASSERT_EQUAL_FATAL(iptap_expr_compile(exprs[i], 65535, &f, &e, why, sizeof(why)), 0);
		CU_ASSERT_EQUAL(bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_filters), &slot,
						    &f, BPF_ANY), 0);
		fd = jit_prog(f.insn, f.len, exprs[i]);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_EQUAL(bpf_map_update_elem(jit_map, &slot, &fd, BPF_ANY), 0);
		bpf_map_update_elem(rs_fd, &slot, zero, BPF_ANY);
		CU_ASSERT_EQUAL(run_frame(B.skel->progs.iptap_out, F_IPV4, &ret), 0);
		reader_stat_sum(slot, &sum);
		CU_ASSERT_EQUAL(sum.filtered, i == 0 ? 1 : 0);
		CU_ASSERT_EQUAL(sum.records + sum.lost + sum.unmapped, i == 0 ? 0 : 1);
		bpf_map_delete_elem(jit_map, &slot);
		close(fd);
		iptap_expr_free(e);
		free(zero);
	}
	{
		struct iptap_filter none;

		memset(&none, 0, sizeof(none));
		bpf_map_update_elem(bpf_map__fd(B.skel->maps.iptap_filters), &slot, &none, BPF_ANY);
	}
	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.iptap_ns_cfg), &B.cookie);
}

/* ---------- the cBPF -> eBPF translation against libpcap ---------- */

struct jpkt {
	const char *what;
	uint8_t ip[1500];
	uint32_t len;
};

static void ip4_hdr(uint8_t *p, uint32_t total, uint8_t proto, const uint8_t src[4],
		    const uint8_t dst[4], uint16_t frag, uint8_t ihl)
{
	p[0] = 0x40 | ihl;
	p[2] = (uint8_t)(total >> 8);
	p[3] = (uint8_t)total;
	p[6] = (uint8_t)(frag >> 8);
	p[7] = (uint8_t)frag;
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
}

/* Packets of every shape the expressions below distinguish. */
static size_t jit_packets(struct jpkt *pk)
{
	static const uint8_t a[4] = { 10, 9, 0, 1 }, b[4] = { 10, 9, 0, 2 }, m[4] = { 224, 0, 0, 9 },
			     o[4] = { 192, 168, 7, 7 };
	size_t n = 0;
	struct jpkt *q;

#define NEWPKT(name) do { q = &pk[n++]; memset(q, 0, sizeof(*q)); q->what = (name); } while (0)
	/* TCP SYN 10.9.0.1:40000 -> 10.9.0.2:80 */
	NEWPKT("tcp syn :80");
	ip4_hdr(q->ip, 40, 6, a, b, 0, 5);
	q->ip[20] = 0x9c; q->ip[21] = 0x40; q->ip[23] = 80; q->ip[32] = 0x50; q->ip[33] = 0x02;
	q->len = 40;
	/* TCP ACK with "GET /" payload to 443, and a long payload */
	NEWPKT("tcp get :443");
	ip4_hdr(q->ip, 1200, 6, b, a, 0x4000, 5);
	q->ip[20] = 0x01; q->ip[21] = 0xbb; q->ip[22] = 0x9c; q->ip[23] = 0x41;
	q->ip[32] = 0x50; q->ip[33] = 0x18;
	memcpy(q->ip + 40, "GET / HTTP/1.1", 14);
	memset(q->ip + 200, 'A', 1000);
	q->len = 1200;
	/* IPv4 with options (ihl 6), TCP to port 80, SYN-ACK */
	NEWPKT("tcp opts :80");
	ip4_hdr(q->ip, 44, 6, a, o, 0, 6);
	q->ip[24 + 2] = 0; q->ip[24 + 3] = 80; q->ip[24 + 12] = 0x50; q->ip[24 + 13] = 0x12;
	q->len = 44;
	/* UDP 53 and UDP 9, UDP to a multicast group, UDP with payload AAAA */
	NEWPKT("udp :53");
	ip4_hdr(q->ip, 60, 17, a, b, 0, 5);
	q->ip[21] = 53; q->ip[23] = 53; q->ip[25] = 40;
	q->len = 60;
	NEWPKT("udp :9");
	ip4_hdr(q->ip, 28, 17, b, a, 0, 5);
	q->ip[20] = 0x1f; q->ip[23] = 9; q->ip[25] = 8;
	q->len = 28;
	NEWPKT("udp mcast :55");
	ip4_hdr(q->ip, 32, 17, a, m, 0, 5);
	q->ip[21] = 55; q->ip[23] = 55; q->ip[25] = 12;
	memcpy(q->ip + 28, "AAAA", 4);
	q->len = 32;
	/* ICMP echo request, and a non-first fragment of a UDP datagram */
	NEWPKT("icmp echo");
	ip4_hdr(q->ip, 84, 1, a, b, 0, 5);
	q->ip[20] = 8;
	q->len = 84;
	NEWPKT("udp fragment");
	ip4_hdr(q->ip, 100, 17, a, b, 0x00b9, 5);
	q->len = 100;
	/* GRE, and an IPv4 header alone that says TCP (loads of TCP fields fail) */
	NEWPKT("gre");
	ip4_hdr(q->ip, 24, 47, o, a, 0, 5);
	q->len = 24;
	NEWPKT("tcp truncated");
	ip4_hdr(q->ip, 20, 6, a, b, 0, 5);
	q->len = 20;
	/* IPv6: TCP to port 80, UDP 53, ICMPv6 echo */
	NEWPKT("ip6 tcp :80");
	q->ip[0] = 0x60; q->ip[5] = 20; q->ip[6] = 6; q->ip[7] = 64;
	q->ip[8] = 0xfd; q->ip[23] = 1; q->ip[24] = 0xfd; q->ip[39] = 2;
	q->ip[40] = 0x9c; q->ip[43] = 80; q->ip[52] = 0x50; q->ip[53] = 0x02;
	q->len = 60;
	NEWPKT("ip6 udp :53");
	q->ip[0] = 0x60; q->ip[5] = 8; q->ip[6] = 17; q->ip[7] = 64;
	q->ip[8] = 0xfd; q->ip[23] = 2; q->ip[24] = 0xfd; q->ip[39] = 1;
	q->ip[41] = 53; q->ip[43] = 53;
	q->len = 48;
	NEWPKT("ip6 icmp6");
	q->ip[0] = 0x60; q->ip[5] = 8; q->ip[6] = 58; q->ip[7] = 255;
	q->ip[8] = 0xfe; q->ip[9] = 0x80; q->ip[23] = 1; q->ip[24] = 0xfd; q->ip[39] = 2;
	q->ip[40] = 128;
	q->len = 48;
#undef NEWPKT
	return n;
}

/* Run a translation (tc program) on one IP packet behind a 14-byte Ethernet header. */
static int jit_run(int fd, const struct jpkt *p, uint32_t *ret)
{
	static uint8_t frame[14 + 1500];
	struct __sk_buff ctx = { .cb = { 14 } };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = 14 + p->len,
		    .repeat = 1, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int err;

	memset(frame, 0, 14);
	memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	frame[12] = (p->ip[0] >> 4) == 6 ? 0x86 : 0x08;
	frame[13] = (p->ip[0] >> 4) == 6 ? 0xdd : 0x00;
	memcpy(frame + 14, p->ip, p->len);
	err = bpf_prog_test_run_opts(fd, &topts);
	*ret = topts.retval;
	return err;
}

/* Translate and load cBPF prog; the program fd or -1 (with why said). */
static int jit_prog(const struct iptap_cbpf *prog, unsigned int len, const char *what)
{
	struct bpf_insn insns[IPTAP_JIT_MAX_INSNS];
	unsigned int n = 0;
	char why[256];
	int err, fd;

	err = iptap_jit_translate(prog, len, insns, IPTAP_JIT_MAX_INSNS, &n);
	if (err) {
		fprintf(stderr, "  '%s': translation: %s\n", what, strerror(-err));
		return -1;
	}
	fd = iptap_jit_load(insns, n, why, sizeof(why));
	if (fd < 0)
		fprintf(stderr, "  '%s': load: %s: %s\n", what, strerror(-fd), why);
	return fd;
}

/*
 * pcap-filter expressions, translated to eBPF and run by the kernel
 * (BPF_PROG_TEST_RUN), decide every crafted packet as libpcap's own
 * bpf_filter() does (pcap_offline_filter), expressions and packets chosen so
 * that each expression matches some and not others.
 */
static void test_jit_agrees_with_libpcap(void)
{
	static const char *const exprs[] = {
		"tcp port 80", "udp and host 10.9.0.2", "ip6", "icmp", "portrange 50-60",
		"tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) = (tcp-syn|tcp-ack)",
		"len > 100", "len <= 40", "greater 60", "less 30", "ip[6:2] & 0x1fff != 0",
		"host fd00::2", "ip6 and tcp dst port 80", "ip6 and udp port 53", "icmp6",
		"net 10.9.0.0/16", "dst net 192.168.0.0/16", "udp[8:4] = 0x41414141",
		"ip proto 47", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "ip[0] & 0xf > 5",
		"not tcp", "ip and (tcp or udp) and not port 22", "ip multicast",
		"icmp[icmptype] = icmp-echo", "tcp[13] = 0x12", "ip[2:2] / 4 > 10", "ip[2:2] % 7 = 3",
		"ip[2:2] * 2 > 100", "ip[2:2] - 20 > 30", "(ip[0] << 2) & 0xff = 0x14",
		"ip[0] >> 4 = 4", "ip[1] ^ 0xff = 0xff", "len - 20 > 50", "ip[1000] = 0x41",
		"tcp[1100] = 0x41", "ip[2:2] & 3 = 0 or udp", "src host 10.9.0.1 and dst port 53",
		"ip6 and ip6[40] = 128",
	};
	static struct jpkt pk[16];
	size_t np = jit_packets(pk);
	unsigned int checked = 0, bad = 0;

	if (!h_is_root()) {
		h_skip("BPF_PROG_TEST_RUN needs root");
		return;
	}
	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct iptap_filter f;
		struct iptap_expr *e = NULL;
		unsigned int matched = 0;
		char why[256];
		int fd;

		memset(&f, 0, sizeof(f));
		CU_ASSERT_EQUAL_FATAL(iptap_expr_compile(exprs[i], 65535, &f, &e, why, sizeof(why)), 0);
		fd = jit_prog(f.insn, f.len, exprs[i]);
		CU_ASSERT(fd >= 0);
		for (size_t k = 0; fd >= 0 && k < np; k++) {
			bool want = iptap_expr_match(e, pk[k].ip, pk[k].len, pk[k].len);
			uint32_t ret = 0;

			CU_ASSERT_EQUAL(jit_run(fd, &pk[k], &ret), 0);
			checked++;
			matched += want;
			if ((ret != 0) != want) {
				bad++;
				fprintf(stderr, "  '%s' on %s: eBPF %u, libpcap %d\n", exprs[i],
					pk[k].what, ret, want);
			}
		}
		/* Every expression matches some packets and not others (or the test says nothing). */
		if (!matched || matched == np)
			fprintf(stderr, "  '%s' matches %u of %zu packets\n", exprs[i], matched, np);
		CU_ASSERT(matched > 0 && matched < np);
		if (fd >= 0)
			close(fd);
		iptap_expr_free(e);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(checked >= 40 * 13);
	/* Backward jumps (libpcap's protochain) are left to the interpreter. */
	{
		struct iptap_filter f;
		struct iptap_expr *e = NULL;
		struct bpf_insn insns[IPTAP_JIT_MAX_INSNS];
		unsigned int n;
		char why[256];

		memset(&f, 0, sizeof(f));
		CU_ASSERT_EQUAL_FATAL(iptap_expr_compile("ip6 protochain 6", 65535, &f, &e, why,
							 sizeof(why)), 0);
		CU_ASSERT_EQUAL(iptap_jit_translate(f.insn, f.len, insns, IPTAP_JIT_MAX_INSNS, &n),
				-EINVAL);
		iptap_expr_free(e);
	}
}

/* A random valid-looking cBPF instruction (opcodes libpcap knows, edgy constants). */
static struct iptap_cbpf rand_insn(unsigned int *seed, unsigned int i, unsigned int len)
{
	static const uint16_t codes[] = {
		0x06, 0x16, 0x20, 0x28, 0x30, 0x80, 0x81, 0x40, 0x48, 0x50, 0xb1, 0x00, 0x01,
		0x60, 0x61, 0x02, 0x03, 0x05, 0x25, 0x35, 0x15, 0x45, 0x2d, 0x3d, 0x1d, 0x4d,
		0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x94, 0x9c, 0x54, 0x5c, 0x44,
		0x4c, 0xa4, 0xac, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x07, 0x87,
	};
	static const uint32_t ks[] = { 0, 1, 2, 3, 4, 6, 9, 12, 14, 17, 20, 22, 31, 32, 33, 40,
		59, 60, 61, 0xff, 0x1fff, 1000, 1199, 1200, 0x7fff0000, 0x7fffffff, 0xfffff000,
		0xffffffff };
	struct iptap_cbpf in;
	unsigned int left = len - i - 1;

	in.code = codes[rand_r(seed) % (sizeof(codes) / sizeof(codes[0]))];
	in.k = rand_r(seed) % 3 ? ks[rand_r(seed) % (sizeof(ks) / sizeof(ks[0]))] :
				  (uint32_t)rand_r(seed);
	in.jt = (uint8_t)(left ? rand_r(seed) % (left < 4 ? left : 4) : 0);
	in.jf = (uint8_t)(left ? rand_r(seed) % (left < 4 ? left : 4) : 0);
	if ((in.code & 0x07) == 0x02 || (in.code & 0x07) == 0x03 || in.code == 0x60 ||
	    in.code == 0x61)
		in.k %= 16;		/* scratch memory words */
	if (in.code == 0x05)
		in.k = left ? (uint32_t)rand_r(seed) % left : 0;
	return in;
}

/*
 * Random programs that libpcap's validator accepts (scratch memory zeroed
 * first, as the translation does) translate, pass the verifier and return
 * exactly what libpcap's bpf_filter() returns, on every crafted packet.
 */
static void test_jit_random_programs(void)
{
	static struct jpkt pk[16];
	size_t np = jit_packets(pk);
	unsigned int seed = 20261123, tried = 0, valid = 0, bad = 0;

	if (!h_is_root()) {
		h_skip("BPF_PROG_TEST_RUN needs root");
		return;
	}
	while (valid < 400 && tried < 200000) {
		struct iptap_cbpf prog[17 + 24];
		unsigned int body = 1 + (unsigned int)rand_r(&seed) % 24, len = 17 + body;
		bool back = false;
		int fd;

		tried++;
		/* ld #0; st M[0..15] */
		prog[0] = (struct iptap_cbpf){ .code = 0x00, .k = 0 };
		for (unsigned int m = 0; m < 16; m++)
			prog[1 + m] = (struct iptap_cbpf){ .code = 0x02, .k = m };
		for (unsigned int i = 17; i < len; i++)
			prog[i] = rand_insn(&seed, i, len);
		prog[len - 1] = (struct iptap_cbpf){ .code = rand_r(&seed) % 2 ? 0x16 : 0x06,
						     .k = (uint32_t)rand_r(&seed) % 3 };
		if (!iptap_cbpf_valid(prog, len))
			continue;
		for (unsigned int i = 0; i < len; i++)
			back |= prog[i].code == 0x05 && (uint64_t)i + 1 + prog[i].k >= len;
		if (back)
			continue;
		valid++;
		fd = jit_prog(prog, len, "random program");
		CU_ASSERT(fd >= 0);
		if (fd < 0) {
			bad++;
			continue;
		}
		for (size_t k = 0; k < np; k++) {
			uint32_t want = iptap_cbpf_filter(prog, pk[k].ip, pk[k].len, pk[k].len), ret = 0;

			CU_ASSERT_EQUAL(jit_run(fd, &pk[k], &ret), 0);
			if (ret != want) {
				bad++;
				fprintf(stderr, "  random program %u on %s: eBPF %u, libpcap %u\n",
					valid, pk[k].what, ret, want);
				for (unsigned int i = 17; i < len; i++)
					fprintf(stderr, "    %u: code 0x%02x jt %u jf %u k 0x%x\n", i,
						prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
				break;
			}
		}
		close(fd);
	}
	CU_ASSERT_EQUAL(valid, 400);
	CU_ASSERT_EQUAL(bad, 0);
}

/* ---------- end to end ---------- */

/*
 * Every end-to-end test builds its own fixture: a loader of its own, two
 * namespaces joined by a veth (vA 10.61.0.1 / fd00:61::1 in ns1, vB .2 in
 * ns2) and, when asked, iptap0 in ns1.  fx_up() tears down the previous
 * test's fixture first, so a test that stopped half-way leaves nothing to
 * the next one (the harness removes the rest at exit).
 */
static struct {
	struct h_loader l;
	char ns1[H_NAME_LEN], ns2[H_NAME_LEN];
	bool up;
	int seq;
} E;

static void fx_down(void)
{
	if (!E.up)
		return;
	h_loader_teardown(&E.l);
	h_ns_delete(E.ns1);
	h_ns_delete(E.ns2);
	E.up = false;
}

static bool v6_answers(void *arg)
{
	(void)arg;
	return h_sh("ip netns exec %s ping -c1 -W1 -q fd00:61::2 >/dev/null 2>&1", E.ns1) == 0;
}

static int fx_up(bool with_iptap)
{
	char t1[16], t2[16], out[64];
	int id = (int)getpid() % 10000 * 100 + E.seq % 100;

	fx_down();
	if (!h_is_root())
		return -1;
	E.seq++;
	snprintf(t1, sizeof(t1), "a%d", E.seq);
	snprintf(t2, sizeof(t2), "b%d", E.seq);
	memset(&E.l, 0, sizeof(E.l));
	if (h_loader_start(&E.l)) {
		fprintf(stderr, "  fx_up: the loader did not start\n");
		return -1;
	}
	E.up = true;
	if (h_ns_create(t1, E.ns1, sizeof(E.ns1)) || h_ns_create(t2, E.ns2, sizeof(E.ns2))) {
		fprintf(stderr, "  fx_up: namespaces\n");
		return -1;
	}
	if (h_sh("ip link add ipt%d netns %s type veth peer name ipu%d netns %s", id, E.ns1, id,
		 E.ns2) ||
	    h_sh("ip -n %s link set ipt%d name vA && ip -n %s link set ipu%d name vB",
		 E.ns1, id, E.ns2, id)) {
		fprintf(stderr, "  fx_up: veth\n");
		return -1;
	}
	if (h_sh("ip -n %s addr add 10.61.0.1/24 dev vA && ip -n %s addr add fd00:61::1/64 dev vA nodad"
		 " && ip -n %s link set vA up", E.ns1, E.ns1, E.ns1) ||
	    h_sh("ip -n %s addr add 10.61.0.2/24 dev vB && ip -n %s addr add fd00:61::2/64 dev vB nodad"
		 " && ip -n %s link set vB up", E.ns2, E.ns2, E.ns2)) {
		fprintf(stderr, "  fx_up: addresses\n");
		return -1;
	}
	/* IPv6 on a fresh veth answers once carrier and addrconf are through. */
	if (!h_wait_for(v6_answers, NULL, 10000)) {
		fprintf(stderr, "  fx_up: no IPv6 answer within 10 s\n");
		return -1;
	}
	if (with_iptap && h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create")) {
		fprintf(stderr, "  fx_up: iptap create: %s\n", out);
		return -1;
	}
	return 0;
}

#define FX_UP(iptap) CU_ASSERT_EQUAL_FATAL(fx_up(iptap), 0)

/* A field of `ifkit iptap show -j NAME` in ns1 (-1 if absent). */
static long show_field(const char *name, const char *field)
{
	char out[4096], key[64], *p;

	if (h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap show -j %s", name))
		return -1;
	snprintf(key, sizeof(key), "\"%s\":", field);
	p = strstr(out, key);
	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ')
		p++;
	return strtol(p, NULL, 10);
}

struct want {
	const char *dev, *field;
	long value;
};

static bool field_is(void *arg)
{
	struct want *w = arg;

	return show_field(w->dev, w->field) == w->value;
}

static bool wait_field(const char *dev, const char *field, long value)
{
	struct want w = { dev, field, value };

	return h_wait_for(field_is, &w, 3000);
}

/* enum bpf_attach_type of 6.6+ (Debian 12's headers lack them). */
#define T_TCX_INGRESS 46
#define T_TCX_EGRESS 47

/*
 * Programs whose name contains prog (NULL: any) on dev's tcx hook (dir
 * "ingress" or "egress") in ns, by BPF_PROG_QUERY; -1 if the query fails
 * (no such device, or a kernel without tcx).
 */
static int tcx_count(const char *ns, const char *dev, const char *dir, const char *prog)
{
	__u32 ids[16], cnt = 16, flags = 0;
	int ifindex, err, n = 0;

	if (h_enter_ns(ns))
		return -1;
	ifindex = (int)if_nametoindex(dev);
	err = !ifindex || bpf_prog_query(ifindex, (enum bpf_attach_type)(strcmp(dir, "egress") ?
					 T_TCX_INGRESS : T_TCX_EGRESS), 0, &flags, ids, &cnt);
	h_leave_ns();
	if (err)
		return -1;
	for (__u32 i = 0; i < cnt && i < 16; i++) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && (!prog || strstr(info.name, prog)))
			n++;
		close(fd);
	}
	return n;
}

/* prog on dev's hook in ns: a tc (clsact) filter or a tcx program, whichever the loader uses. */
static int filters_on(const char *ns, const char *dev, const char *dir, const char *prog)
{
	char out[2048];

	h_sh_out(out, sizeof(out), "ip netns exec %s tc filter show dev %s %s", ns, dev, dir);
	return strstr(out, prog) != NULL || tcx_count(ns, dev, dir, prog) > 0;
}

static void test_create_and_programs(void)
{
	char out[1024];

	FX_UP(false);

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_STRING_EQUAL(out, "iptap0\n");
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip -n %s -d link show iptap0", E.ns1), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "link/none"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ",UP,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "addrgenmode none"));
	/* Every interface tapped both ways, loopback too; the iptap only has its sink. */
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	CU_ASSERT(filters_on(E.ns1, "vA", "egress", "iptap_out"));
	CU_ASSERT(filters_on(E.ns1, "lo", "ingress", "iptap_in"));
	CU_ASSERT(filters_on(E.ns1, "lo", "egress", "iptap_out"));
	CU_ASSERT(filters_on(E.ns1, "iptap0", "ingress", "iptap_sink"));
	CU_ASSERT(!filters_on(E.ns1, "iptap0", "egress", "iptap"));
	/* The other namespace has no iptap and no program. */
	CU_ASSERT(!filters_on(E.ns2, "vB", "ingress", "iptap"));
	CU_ASSERT_EQUAL(show_field("iptap0", "tapped_interfaces"), 2);
	/* The caller-namespace rule and the name rules. */
	CU_ASSERT_NOT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create iptap0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "exists"));
	CU_ASSERT_NOT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create feth3"), 0);
}

static void test_no_listener_counts_zero(void)
{
	long before;

	FX_UP(true);

	CU_ASSERT_EQUAL(show_field("iptap0", "raw_listeners"), 0);
	CU_ASSERT_EQUAL(show_field("iptap0", "pktap_listeners"), 0);
	CU_ASSERT_EQUAL(show_field("iptap0", "total_tap_count"), 0);
	before = show_field("iptap0", "packets");
	CU_ASSERT_FATAL(before >= 0);	/* show answered (a failing show reads as -1) */
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 3 -i 0.1 -q 10.61.0.2 >/dev/null", E.ns1), 0);
	/* Nobody listens: the programs stop after their lookup, nothing counted or copied. */
	CU_ASSERT_EQUAL(show_field("iptap0", "packets"), before);
}


/* ---- readiness helpers ---- */

struct text_in {
	const char *path, *text;
};

static bool file_has(void *arg)
{
	struct text_in *t = arg;

	return h_sh("grep -qF -- '%s' %s 2>/dev/null", t->text, t->path) == 0;
}

/* Wait until path contains text (a log line, a ready mark). */
static bool wait_text(const char *path, const char *text, int timeout_ms)
{
	return h_wait_file(path, text, timeout_ms);
}

/* tcpdump on iptap0 in ns1 (extra options in opts), ready when it says "listening on". */
static pid_t tcpdump_start(const char *opts, const char *file)
{
	char err[256];
	pid_t p;

	snprintf(err, sizeof(err), "%s.err", file);
	p = h_spawn(E.ns1, "exec tcpdump --immediate-mode -U -n %s -w %s 2>%s", opts, file, err);
	if (p > 0 && !wait_text(err, "listening on", 5000)) {
		h_kill(p, SIGKILL);
		return -1;
	}
	return p;
}

/*
 * `ifkit iptap capture ARGS` in ns1, its stderr in errfile; ready when it
 * says "capturing on" (its filters are in the kernel and its rings mapped).
 */
static pid_t capture_start(const char *errfile, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static pid_t capture_start(const char *errfile, const char *fmt, ...)
{
	char args[1024];
	va_list ap;
	pid_t p;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	/*
	 * An earlier capture's text in a reused file name ("capturing on")
	 * would end the wait below before this one has even started.
	 */
	unlink(errfile);
	p = h_spawn(E.ns1, "exec %s -s %s iptap capture %s 2>%s", h_bin("ifkit"), E.l.sock, args,
		    errfile);
	if (p > 0 && !wait_text(errfile, "capturing on", 5000)) {
		h_kill(p, SIGKILL);
		return -1;
	}
	return p;
}

static int count_lines(const char *file, const char *pattern);

struct lines_want {
	const char *file, *pattern;
	int n;
};

static bool lines_reached(void *arg)
{
	struct lines_want *lw = arg;

	return count_lines(lw->file, lw->pattern) >= lw->n;
}

/* Wait until `tcpdump -nr file` shows n lines matching pattern. */
static bool wait_lines(const char *file, const char *pattern, int n)
{
	struct lines_want lw = { file, pattern, n };

	return h_wait_for(lines_reached, &lw, 5000);
}

static bool exists(void *arg)
{
	return access(arg, F_OK) == 0;
}

static void gen_traffic(void)
{
	h_sh("ip netns exec %s ping -c 2 -i 0.2 -q 10.61.0.2 >/dev/null", E.ns1);
	h_sh("ip netns exec %s ping -c 2 -i 0.2 -q fd00:61::2 >/dev/null", E.ns1);
	h_sh("ip netns exec %s ping -c 1 -q 127.0.0.1 >/dev/null", E.ns1);
	h_sh("ip netns exec %s ping -c 1 -q ::1 >/dev/null", E.ns1);
}

static int count_lines(const char *file, const char *pattern)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "tcpdump -nr %s 2>/dev/null | grep -c -- '%s'", file,
		     pattern) < 0)
		return -1;
	if (getenv("IPTAP_DEBUG")) {
		char dump[8192];

		h_sh_out(dump, sizeof(dump), "tcpdump -nr %s 2>&1", file);
		fprintf(stderr, "--- %s [%s]: %d\n%s", file, pattern, atoi(out), dump);
	}
	return atoi(out);
}

static void test_tcpdump_directions(void)
{
	const char *fin = h_tmp("in.pcap"), *fout = h_tmp("out.pcap"), *fall = h_tmp("all.pcap");
	char out[512];
	pid_t a, b, c;

	FX_UP(true);

	a = tcpdump_start("-i iptap0 -Q in", fin);
	b = tcpdump_start("-i iptap0 -Q out", fout);
	c = tcpdump_start("-i iptap0", fall);
	CU_ASSERT_FATAL(a > 0 && b > 0 && c > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "raw_listeners", 3));
	CU_ASSERT_EQUAL(show_field("iptap0", "total_tap_count"), 3);
	gen_traffic();
	/* v4+v6 on veth 8, lo 8 (each packet out and in): all of them, then stop. */
	CU_ASSERT(wait_lines(fall, "ICMP", 16));
	CU_ASSERT(wait_lines(fin, "ICMP", 8));
	CU_ASSERT(wait_lines(fout, "ICMP", 8));
	h_kill(a, SIGINT);
	h_kill(b, SIGINT);
	h_kill(c, SIGINT);
	h_sh_out(out, sizeof(out), "cat %s.err", fall);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "link-type RAW"));
	/* veth, IPv4 and IPv6: requests leave, replies arrive. */
	CU_ASSERT_EQUAL(count_lines(fout, "10.61.0.1 > 10.61.0.2: ICMP echo request"), 2);
	CU_ASSERT_EQUAL(count_lines(fout, "ICMP echo reply"), 0 + count_lines(fout, "127.0.0.1 > 127.0.0.1: ICMP echo reply"));
	CU_ASSERT_EQUAL(count_lines(fin, "10.61.0.2 > 10.61.0.1: ICMP echo reply"), 2);
	CU_ASSERT_EQUAL(count_lines(fin, "10.61.0.1 > 10.61.0.2"), 0);
	CU_ASSERT_EQUAL(count_lines(fout, "fd00:61::1 > fd00:61::2: ICMP6, echo request"), 2);
	CU_ASSERT_EQUAL(count_lines(fin, "fd00:61::2 > fd00:61::1: ICMP6, echo reply"), 2);
	CU_ASSERT_EQUAL(count_lines(fin, "fd00:61::1 > fd00:61::2"), 0);
	/* lo: each packet leaves and arrives, so it shows once in each direction. */
	CU_ASSERT_EQUAL(count_lines(fout, "127.0.0.1 > 127.0.0.1: ICMP echo request"), 1);
	CU_ASSERT_EQUAL(count_lines(fin, "127.0.0.1 > 127.0.0.1: ICMP echo request"), 1);
	CU_ASSERT_EQUAL(count_lines(fout, "::1 > ::1: ICMP6, echo request"), 1);
	CU_ASSERT_EQUAL(count_lines(fin, "::1 > ::1: ICMP6, echo reply"), 1);
	/* Without -Q: both. */
	CU_ASSERT_EQUAL(count_lines(fall, "10.61.0.* ICMP echo"), 4);
	CU_ASSERT(wait_field("iptap0", "raw_listeners", 0));
}

static void test_sink_and_refusal(void)
{
	char out[2048];
	long drops_before, drops_after;
	pid_t td;

	FX_UP(true);

	/* Copies of incoming packets never reach the IP stack: no duplicate replies. */
	td = h_spawn(E.ns1, "exec tcpdump -n -i iptap0 -w /dev/null 2>/dev/null");
	CU_ASSERT_FATAL(td > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "raw_listeners", 1));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s ping -c 3 -i 0.2 10.61.0.2",
				 E.ns1), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 received"));
	CU_ASSERT_PTR_NULL(strstr(out, "DUP"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s ping -c 2 -i 0.2 fd00:61::2",
				 E.ns1), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "DUP"));
	h_kill(td, SIGINT);
	/* What is routed to the iptap is dropped (counted), never sent anywhere. */
	h_sh_out(out, sizeof(out), "ip netns exec %s cat /sys/class/net/iptap0/statistics/tx_dropped",
		 E.ns1);
	drops_before = atol(out);
	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s route add 10.63.0.0/24 dev iptap0", E.ns1), 0);
	CU_ASSERT_NOT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s ping -c 2 -i 0.2 -W 1 "
				     "10.63.0.9", E.ns1), 0);
	h_sh_out(out, sizeof(out), "ip netns exec %s cat /sys/class/net/iptap0/statistics/tx_dropped",
		 E.ns1);
	drops_after = atol(out);
	CU_ASSERT(drops_after >= drops_before + 2);
	h_sh("ip -n %s route del 10.63.0.0/24 dev iptap0", E.ns1);
}

static const char *py_server =
	"import socket, threading, ctypes, sys\n"
	"ctypes.CDLL(None).prctl(15, b'iptsrv', 0, 0, 0)\n"
	"port = int(sys.argv[1])\n"
	"t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
	"t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); t.bind(('::', port)); t.listen()\n"
	"u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
	"u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); u.bind(('::', port))\n"
	"def udp():\n"
	"    while True:\n"
	"        d, a = u.recvfrom(2000); u.sendto(d, a)\n"
	"threading.Thread(target=udp, daemon=True).start()\n"
	"open(sys.argv[2], 'w').write('ready')\n"
	"while True:\n"
	"    c, _ = t.accept(); n = 0\n"
	"    while n < 3000:\n"
	"        d = c.recv(65536)\n"
	"        if not d: break\n"
	"        n += len(d)\n"
	"    c.sendall(b'y' * 20000); c.close()\n";

static const char *py_client =
	"import socket, ctypes, sys, time\n"
	"ctypes.CDLL(None).prctl(15, b'iptcli', 0, 0, 0)\n"
	"port = int(sys.argv[1])\n"
	"for host in sys.argv[2:]:\n"
	"    fam = socket.AF_INET6 if ':' in host else socket.AF_INET\n"
	"    s = socket.socket(fam); s.connect((host, port)); s.sendall(b'x' * 3000)\n"
	"    time.sleep(0.5)  # the ACKs of the reply go out from softirq meanwhile\n"
	"    n = 0\n"
	"    while True:\n"
	"        d = s.recv(65536)\n"
	"        if not d: break\n"
	"        n += len(d)\n"
	"    s.close(); assert n == 20000\n"
	"    u = socket.socket(fam, socket.SOCK_DGRAM); u.settimeout(3)\n"
	"    u.sendto(b'hello', (host, port)); u.recvfrom(100)\n"
	"    time.sleep(0.2)\n";

struct capture_rows {
	int out_tcp, out_tcp_owned, in_tcp, in_tcp_owned, out_udp_owned, in_udp_owned;
	int v6_owned, wrong_if;
};

static void test_capture_attribution(void)
{
	const char *cap = h_tmp("attr.pcap"), *ready = h_tmp("srv.ready");
	const char *srv_py = h_tmp("srv.py"), *cli_py = h_tmp("cli.py");
	char cmd[512], line[512];
	struct capture_rows r = { 0 };
	pid_t capture, srv, cli;
	FILE *f;

	FX_UP(true);

	f = fopen(srv_py, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(py_server, f);
	fclose(f);
	f = fopen(cli_py, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(py_client, f);
	fclose(f);
	capture = capture_start(h_tmp("cap.err"), "-i iptap0 -w %s", cap);
	CU_ASSERT_FATAL(capture > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "pktap_listeners", 1));
	srv = h_spawn(E.ns2, "exec /usr/bin/python3 %s 7411 %s", srv_py, ready);
	CU_ASSERT_FATAL(srv > 0);
	CU_ASSERT_FATAL(h_wait_for(exists, (void *)ready, 5000));
	cli = h_spawn(E.ns1, "exec /usr/bin/python3 %s 7411 10.61.0.2 fd00:61::2", cli_py);
	CU_ASSERT_FATAL(cli > 0);
	CU_ASSERT_EQUAL(h_wait(cli, 10000), 0);
	/* Ctrl-C: the capture drains every ring before it ends. */
	h_kill(capture, SIGINT);
	h_kill(srv, SIGKILL);
	h_sh_out(line, sizeof(line), "cat %s", h_tmp("cap.err"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "packets captured"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, " 0 packets lost"));
	/* Read it back with tshark: one row per TCP/UDP packet of port 7411. */
	snprintf(cmd, sizeof(cmd),
		 "tshark -r %s -Y 'tcp.port==7411 || udp.port==7411' -T fields -E separator=, "
		 "-e pktap.ifname -e pktap.flags -e pktap.pid -e pktap.cmdname -e ip.proto "
		 "-e ipv6.nxt -e tcp.dstport -e udp.dstport 2>/dev/null", cap);
	f = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f)) {
		char ifname[32] = "", comm[32] = "", proto4[8] = "", proto6[8] = "";
		unsigned int flags = 0;
		long pid = -1;
		char *fld[8] = { 0 }, *save = NULL, *p = line;
		int n = 0;
		bool tcp, owned;

		line[strcspn(line, "\n")] = '\0';
		/* strtok would merge empty fields: split by hand. */
		for (n = 0; n < 8 && p; n++) {
			fld[n] = p;
			p = strchr(p, ',');
			if (p)
				*p++ = '\0';
		}
		(void)save;
		if (n < 8)
			continue;
		snprintf(ifname, sizeof(ifname), "%s", fld[0]);
		flags = (unsigned int)strtoul(fld[1], NULL, 0);
		pid = strtol(fld[2], NULL, 10);
		snprintf(comm, sizeof(comm), "%s", fld[3]);
		snprintf(proto4, sizeof(proto4), "%s", fld[4]);
		snprintf(proto6, sizeof(proto6), "%s", fld[5]);
		tcp = !strcmp(proto4, "6") || !strcmp(proto6, "6");
		owned = pid == (long)cli && !strcmp(comm, "iptcli");
		if (strcmp(ifname, "vA"))
			r.wrong_if++;
		if (tcp && flags == PTH_FLAG_DIR_OUT) {
			r.out_tcp++;
			r.out_tcp_owned += owned;
		} else if (tcp && flags == PTH_FLAG_DIR_IN) {
			r.in_tcp++;
			r.in_tcp_owned += owned;
		} else if (flags == PTH_FLAG_DIR_OUT) {
			r.out_udp_owned += owned;
		} else if (flags == PTH_FLAG_DIR_IN) {
			r.in_udp_owned += owned;
		}
		if (proto6[0] && owned)
			r.v6_owned++;
	}
	pclose(f);
	/*
	 * Every packet of the client's connections, sent or received, names the
	 * client: its pure ACKs too, which the kernel sends from softirq while
	 * the client sleeps in recv().
	 */
	CU_ASSERT(r.out_tcp >= 10);
	CU_ASSERT(r.in_tcp >= 10);
	CU_ASSERT_EQUAL(r.out_tcp_owned, r.out_tcp);
	/* Incoming: all but a final ACK/RST that may arrive after close(). */
	CU_ASSERT(r.in_tcp_owned >= r.in_tcp - 2);
	CU_ASSERT_EQUAL(r.out_udp_owned, 2);
	CU_ASSERT_EQUAL(r.in_udp_owned, 2);
	CU_ASSERT(r.v6_owned >= 10);
	CU_ASSERT_EQUAL(r.wrong_if, 0);
	fprintf(stderr, "  attribution: out tcp %d/%d in tcp %d/%d udp out %d in %d v6 %d\n",
		r.out_tcp_owned, r.out_tcp, r.in_tcp_owned, r.in_tcp, r.out_udp_owned,
		r.in_udp_owned, r.v6_owned);
	/* The same file as pcapng gives the process in the comment. */
	CU_ASSERT(wait_field("iptap0", "pktap_listeners", 0));
}

static void test_pcapng_capture(void)
{
	const char *cap = h_tmp("cap.pcapng");
	char out[4096];
	pid_t p;

	FX_UP(true);

	p = capture_start(h_tmp("ng.err"), "--pcapng -w %s", cap);
	CU_ASSERT_FATAL(p > 0);
	h_sh("ip netns exec %s ping -c 2 -i 0.2 -q 10.61.0.2 >/dev/null", E.ns1);
	kill(p, SIGINT);
	CU_ASSERT_EQUAL(h_wait(p, 5000), 0);	/* Ctrl-C ends it cleanly */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tshark -r %s -T fields -e frame.interface_name "
				 "-e frame.comment -e icmp.type -Y icmp 2>/dev/null", cap), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "vA\tpid="));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "comm=ping svc=0\t8"));
	/* libpcap filters work on the pcapng (they cannot on PKTAP files). */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tcpdump -nr %s 'icmp[icmptype] == 0' 2>/dev/null"
				 " | wc -l", cap), 0);
	CU_ASSERT_STRING_EQUAL(out, "2\n");
	/* -c: it stops by itself after COUNT packets. */
	p = h_spawn(E.ns1, "exec %s -s %s iptap capture -c 2 -w - icmp 2>%s | "
		    "tshark -r - -T fields -e pktap.ifname 2>/dev/null > %s", h_bin("ifkit"),
		    E.l.sock, h_tmp("c2.err"), h_tmp("c2.txt"));
	CU_ASSERT_FATAL(wait_text(h_tmp("c2.err"), "capturing on", 5000));
	h_sh("ip netns exec %s ping -c 3 -i 0.2 -q 10.61.0.2 >/dev/null", E.ns1);
	CU_ASSERT_EQUAL(h_wait(p, 5000), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("c2.txt")), 0);
	CU_ASSERT_STRING_EQUAL(out, "vA\nvA\n");
}

/*
 * A capture (args, a %s for the file) of one 65535-byte and one 1000-byte
 * ICMP echo on lo (ping's extra options: ping_opt): all 8 records whole and
 * counted; out gets tshark's "count frame.len cap_len icmp.type" lines.
 */
static void capture_two_pings(const char *tag, const char *args, const char *ping_opt,
			      char *out, size_t out_len)
{
	char cap[256], err[256];
	pid_t p;

	snprintf(cap, sizeof(cap), "%s", h_tmp(tag));
	snprintf(err, sizeof(err), "%s.err", cap);
	out[0] = 0;
	p = capture_start(err, args, cap);
	CU_ASSERT_FATAL(p > 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 1 -s 65507 %s -q 127.0.0.1 >/dev/null",
			     E.ns1, ping_opt), 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 1 -s 1000 %s -q 127.0.0.1 >/dev/null",
			     E.ns1, ping_opt), 0);
	kill(p, SIGINT);
	CU_ASSERT_EQUAL(h_wait(p, 5000), 0);
	h_sh_out(out, out_len, "cat %s", err);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "8 packets captured, 0 packets lost"));
	CU_ASSERT_PTR_NULL(strstr(out, "malformed"));
	CU_ASSERT_EQUAL(h_sh_out(out, out_len, "tshark -r %s -Y icmp -T fields -e frame.len "
				 "-e frame.cap_len -e icmp.type 2>/dev/null | sort | uniq -c | "
				 "awk '{print $1, $2, $3, $4}'", cap), 0);
}

static void test_largest_packets(void)
{
	char out[1024];

	FX_UP(true);
	/*
	 * Only ICMP: a fresh namespace also sends its IPv6 router solicitations
	 * meanwhile.  65535-byte IP packets on lo: larger than one perf sample
	 * can hold.  Cut to fit, with the true length kept; the packets after
	 * them are intact.
	 */
	capture_two_pings("big.pcap", "-w %s icmp", "", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 1184 1184 0\n2 1184 1184 8\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 65691 65502 0\n2 65691 65502 8\n"));
}

/*
 * Records cut by a snap length to a small record (at most 252 frame bytes)
 * from packets whose data is not all linear (a 65535-byte ICMP echo on lo
 * is built in page fragments): the record's copy goes through
 * bpf_skb_load_bytes() there, and the bytes past the linear part (the
 * ping's -p pattern) arrive intact; a 1000-byte echo the same.
 */
static void test_small_records_paged(void)
{
	const char *cap = h_tmp("snap.pcap");
	char out[2048];

	FX_UP(true);
	/*
	 * 14 + 200 frame bytes cut to 208 (8-byte alignment): 194 of IP after
	 * the 156-byte header; the true length kept.
	 */
	capture_two_pings("snap.pcap", "-s 200 -w %s icmp", "-p a5", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 1184 350 0\n2 1184 350 8\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 65691 350 0\n2 65691 350 8\n"));
	/* The last 16 bytes of each record: the ping's pattern, not stale ring bytes. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tshark -r %s -Y icmp -T fields -e data.data "
				 "2>/dev/null | tee %s | grep -c 'a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5$'",
				 cap, h_tmp("snap.data")), 0);
	CU_ASSERT_EQUAL(atoi(out), 8);
	if (atoi(out) != 8) {
		h_sh_out(out, sizeof(out), "cut -c1-40,300- %s", h_tmp("snap.data"));
		fprintf(stderr, "  payloads: %s\n", out);
	}
}

static void test_two_iptaps(void)
{
	const char *f0 = h_tmp("two0.pcap"), *f1 = h_tmp("two1.pcap");
	char out[256];
	pid_t a, b;

	FX_UP(true);

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_STRING_EQUAL(out, "iptap1\n");
	CU_ASSERT(!filters_on(E.ns1, "iptap1", "egress", "iptap"));
	CU_ASSERT(!filters_on(E.ns1, "iptap0", "egress", "iptap"));
	a = tcpdump_start("-i iptap0", f0);
	b = tcpdump_start("-i iptap1", f1);
	CU_ASSERT_FATAL(a > 0 && b > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "raw_listeners", 1));
	CU_ASSERT_FATAL(wait_field("iptap1", "raw_listeners", 1));
	CU_ASSERT_EQUAL(show_field("iptap1", "total_tap_count"), 2);
	gen_traffic();
	CU_ASSERT(wait_lines(f0, "ICMP", 16));
	CU_ASSERT(wait_lines(f1, "ICMP", 16));
	h_kill(a, SIGINT);
	h_kill(b, SIGINT);
	/* veth: 2 requests out, 2 replies in; lo: request and reply, each out and in. */
	CU_ASSERT_EQUAL(count_lines(f0, "ICMP echo"), 4 + 4);
	CU_ASSERT_EQUAL(count_lines(f1, "ICMP echo"), 4 + 4);
	CU_ASSERT_EQUAL(count_lines(f0, "ICMP6, echo"), 4 + 4);
	CU_ASSERT_EQUAL(count_lines(f1, "ICMP6, echo"), 4 + 4);
}

static bool vc_tapped(void *arg)
{
	(void)arg;
	return filters_on(E.ns1, "vC", "ingress", "iptap_in") &&
	       filters_on(E.ns1, "vC", "egress", "iptap_out");
}

static void test_new_interface_tapped(void)
{
	FX_UP(true);
	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s link add vC type veth peer name vD", E.ns1), 0);
	CU_ASSERT(h_wait_for(vc_tapped, NULL, 1000));
	CU_ASSERT(filters_on(E.ns1, "vD", "ingress", "iptap_in"));
	CU_ASSERT_EQUAL(show_field("iptap0", "tapped_interfaces"), 4);
	h_sh("ip -n %s link del vC", E.ns1);
	CU_ASSERT(wait_field("iptap0", "tapped_interfaces", 2));
}

/* ns's entry in the loader's pinned iptap_ns_fast: 1 tagged (cfg filled), 0 not, -1 error. */
static int ns_fast_entry(const char *ns, struct iptap_ns_cfg *cfg)
{
	char path[256];
	struct iptap_ns_fast fe;
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd, map, err;
	__u32 i;

	if (h_enter_ns(ns))
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	err = fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
	if (fd >= 0)
		close(fd);
	h_leave_ns();
	snprintf(path, sizeof(path), "%s/iptap_ns_fast", E.l.pin_dir);
	map = bpf_obj_get(path);
	if (err || map < 0) {
		if (map >= 0)
			close(map);
		return -1;
	}
	i = (__u32)(cookie % IPTAP_NS_FAST);
	err = bpf_map_lookup_elem(map, &i, &fe);
	close(map);
	if (err)
		return -1;
	if (fe.cookie != cookie)
		return 0;
	*cfg = fe.cfg;
	return 1;
}

/* Wait (up to 2 s) until ns's fast entry is tagged with (mask != 0) == busy. */
static bool ns_fast_wait(const char *ns, bool busy)
{
	struct iptap_ns_cfg cfg;

	for (int i = 0; i < 200; i++) {
		if (ns_fast_entry(ns, &cfg) == 1 && (cfg.reader_mask != 0) == busy)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_destroy_last_removes_programs(void)
{
	struct iptap_ns_cfg cfg;
	char out[1024];
	pid_t c;

	FX_UP(true);
	/* The loader keeps the namespace's fast entry: tagged, a reader's slot while it runs. */
	CU_ASSERT_EQUAL(ns_fast_entry(E.ns1, &cfg), 1);
	CU_ASSERT_EQUAL(cfg.reader_mask, 0);
	c = capture_start(h_tmp("fast.err"), "-w /dev/null");
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT(ns_fast_wait(E.ns1, true));
	h_kill(c, SIGINT);
	CU_ASSERT(ns_fast_wait(E.ns1, false));

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap1"), 0);
	/* One left: still tapped. */
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link show iptap0 2>/dev/null", E.ns1), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link show iptap1 2>/dev/null", E.ns1), 0);
	CU_ASSERT(!filters_on(E.ns1, "vA", "ingress", "iptap"));
	CU_ASSERT(!filters_on(E.ns1, "vA", "egress", "iptap"));
	CU_ASSERT(!filters_on(E.ns1, "lo", "ingress", "iptap"));
	CU_ASSERT(!filters_on(E.ns1, "lo", "egress", "iptap"));
	CU_ASSERT_EQUAL(ns_fast_entry(E.ns1, &cfg), 0);	/* the entry is free again */
	/* No bpf program anywhere in the namespace, not even an empty clsact we made. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s bpftool net show", E.ns1), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "iptap"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s tc qdisc show", E.ns1), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "clsact"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap show"), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_NOT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
}

static void test_feth_pair(void)
{
	const char *fin = h_tmp("fin.pcap"), *fout = h_tmp("fout.pcap");
	char out[1024];
	pid_t a, b;

	FX_UP(false);

	if (h_ifkit(&E.l, E.ns1, out, sizeof(out), "feth create feth40") ||
	    h_ifkit(&E.l, E.ns2, out, sizeof(out), "feth create feth41") ||
	    h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth40 feth41")) {
		CU_FAIL("feth pair not available in this build");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s addr add 10.62.0.1/24 dev feth40 && "
				   "ip -n %s addr add fd00:62::1/64 dev feth40 nodad && "
				   "ip -n %s addr add 10.62.0.2/24 dev feth41 && "
				   "ip -n %s addr add fd00:62::2/64 dev feth41 nodad",
				   E.ns1, E.ns1, E.ns2, E.ns2), 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT(filters_on(E.ns1, "feth40", "ingress", "iptap_in"));
	CU_ASSERT(filters_on(E.ns1, "feth40", "egress", "iptap_out"));
	for (int i = 0; i < 50; i++)
		if (h_sh("ip netns exec %s ping -c1 -W1 -q fd00:62::2 >/dev/null 2>&1", E.ns1) == 0)
			break;
	a = tcpdump_start("-i iptap0 -Q in", fin);
	b = tcpdump_start("-i iptap0 -Q out", fout);
	CU_ASSERT_FATAL(a > 0 && b > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "raw_listeners", 2));
	h_sh("ip netns exec %s ping -c 2 -i 0.2 -q 10.62.0.2 >/dev/null", E.ns1);
	h_sh("ip netns exec %s ping -c 2 -i 0.2 -q fd00:62::2 >/dev/null", E.ns1);
	CU_ASSERT(wait_lines(fin, "echo reply", 4));
	CU_ASSERT(wait_lines(fout, "echo request", 4));
	h_kill(a, SIGINT);
	h_kill(b, SIGINT);
	CU_ASSERT_EQUAL(count_lines(fout, "10.62.0.1 > 10.62.0.2: ICMP echo request"), 2);
	CU_ASSERT_EQUAL(count_lines(fin, "10.62.0.2 > 10.62.0.1: ICMP echo reply"), 2);
	CU_ASSERT_EQUAL(count_lines(fout, "fd00:62::1 > fd00:62::2: ICMP6, echo request"), 2);
	CU_ASSERT_EQUAL(count_lines(fin, "fd00:62::2 > fd00:62::1: ICMP6, echo reply"), 2);
	CU_ASSERT_EQUAL(count_lines(fin, "10.62.0.1 > 10.62.0.2"), 0);
	CU_ASSERT_EQUAL(count_lines(fout, "10.62.0.2 > 10.62.0.1"), 0);
}

static bool iptap_gone(void *arg)
{
	char out[256];

	(void)arg;
	h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap show");
	return out[0] == '\0' && !filters_on(E.ns1, "vA", "ingress", "iptap");
}

static void test_ip_link_del(void)
{
	FX_UP(true);
	CU_ASSERT(filters_on(E.ns1, "vA", "egress", "iptap_out"));
	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s link del iptap0", E.ns1), 0);
	CU_ASSERT(h_wait_for(iptap_gone, NULL, 2000));
	CU_ASSERT(!filters_on(E.ns1, "lo", "egress", "iptap"));
}

static void test_loader_killed_restart_cleans(void)
{
	char out[256];

	FX_UP(false);

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	h_loader_kill(&E.l, SIGKILL);
	/* Its descriptors closed: the TUN is gone; the tc filters outlive it. */
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link show iptap0 2>/dev/null", E.ns1), 0);
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&E.l), 0);
	/* The clsact qdiscs it added go too (else the next attach says "Exclusivity flag on"). */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s tc qdisc show", E.ns1), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "clsact"));
	CU_ASSERT(!filters_on(E.ns1, "vA", "ingress", "iptap"));
	CU_ASSERT(!filters_on(E.ns1, "vA", "egress", "iptap"));
	CU_ASSERT(!filters_on(E.ns1, "lo", "ingress", "iptap"));
	/* And it works again, without libbpf's complaint about an existing clsact. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	{
		struct text_in t = { E.l.log, "Exclusivity flag on" };

		CU_ASSERT_FALSE(file_has(&t));
	}
	CU_ASSERT_STRING_EQUAL(out, "iptap0\n");
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
}

/* ---- tcx links (issue 10: no clsact/tcf_classify around the programs) ---- */

/* The loader was told to keep clsact (IFKITD_IPTAP_HOOK=clsact): tcx-only checks are skipped. */
static bool forced_clsact(void)
{
	const char *h = getenv("IFKITD_IPTAP_HOOK");

	return h && !strcmp(h, "clsact");
}

/* `ifkit iptap show -j iptap0` in ns1 names the hook. */
static bool shows_hook(const char *hook)
{
	char out[4096], want[32];

	snprintf(want, sizeof(want), "\"hook\":\"%s\"", hook);
	return h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap show -j iptap0") == 0 &&
	       strstr(out, want) != NULL;
}

/* Pinned tcx links under the loader's pin directory (0 if the directory is gone). */
static int tcx_pins(void)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "ls %s/iptap_tcx 2>/dev/null | wc -l", E.l.pin_dir) < 0)
		return -1;
	return atoi(out);
}

/* Exactly one tap program on each hook of vA and lo (tcx), none of ours on clsact. */
static void assert_one_per_hook(void)
{
	static const char *const devs[] = { "vA", "lo" };

	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(tcx_count(E.ns1, devs[i], "ingress", "iptap"), 1);
		CU_ASSERT_EQUAL(tcx_count(E.ns1, devs[i], "ingress", "iptap_in"), 1);
		CU_ASSERT_EQUAL(tcx_count(E.ns1, devs[i], "egress", "iptap"), 1);
		CU_ASSERT_EQUAL(tcx_count(E.ns1, devs[i], "egress", "iptap_out"), 1);
	}
}

static void assert_none_left(void)
{
	static const char *const devs[] = { "vA", "lo" };
	char out[2048];

	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(tcx_count(E.ns1, devs[i], "ingress", "iptap"), 0);
		CU_ASSERT_EQUAL(tcx_count(E.ns1, devs[i], "egress", "iptap"), 0);
		CU_ASSERT(!filters_on(E.ns1, devs[i], "ingress", "iptap"));
		CU_ASSERT(!filters_on(E.ns1, devs[i], "egress", "iptap"));
	}
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s tc qdisc show", E.ns1), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "clsact"));
	CU_ASSERT_EQUAL(tcx_pins(), 0);
}

static void test_tcx_links(void)
{
	char out[1024];

	FX_UP(true);
	if (forced_clsact()) {
		CU_ASSERT(shows_hook("clsact"));
		CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
		CU_ASSERT_EQUAL(tcx_count(E.ns1, "vA", "ingress", "iptap"), 0);
		return;
	}
	CU_ASSERT(shows_hook("tcx"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap show iptap0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "tapped interfaces 2 (tcx)"));
	assert_one_per_hook();
	CU_ASSERT_EQUAL(tcx_count(E.ns1, "iptap0", "ingress", "iptap_sink"), 1);
	CU_ASSERT_EQUAL(tcx_count(E.ns1, "iptap0", "egress", NULL), 0);
	CU_ASSERT_EQUAL(tcx_count(E.ns2, "vB", "ingress", NULL), 0);
	/* No qdisc of ours around them: that is the point (tcf_classify). */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s tc qdisc show", E.ns1), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "clsact"));
	/* vA and lo, both directions; the sink's link is not pinned. */
	CU_ASSERT_EQUAL(tcx_pins(), 4);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
	assert_none_left();
}

static void test_tcx_killed_restart_one_per_hook(void)
{
	const char *f = h_tmp("restart.pcap");
	char out[256];
	pid_t t;

	FX_UP(true);
	if (forced_clsact())
		return;	/* test_loader_killed_restart_cleans covers clsact */
	h_loader_kill(&E.l, SIGKILL);
	/* The iptap died with its TUN descriptor; the pinned links did not. */
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link show iptap0 2>/dev/null", E.ns1), 0);
	assert_one_per_hook();
	CU_ASSERT_EQUAL(tcx_pins(), 4);
	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&E.l), 0);
	/* The restarted loader removed them: no iptap, no tap. */
	assert_none_left();
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	assert_one_per_hook();
	CU_ASSERT_EQUAL(tcx_pins(), 4);
	/* One copy per packet and direction: no second program anywhere. */
	t = tcpdump_start("-i iptap0", f);
	CU_ASSERT_FATAL(t > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "raw_listeners", 1));
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 3 -i 0.2 -q 10.61.0.2 >/dev/null", E.ns1), 0);
	CU_ASSERT(wait_lines(f, "10.61.0.2 > 10.61.0.1: ICMP echo reply", 3));
	h_kill(t, SIGINT);
	CU_ASSERT_EQUAL(count_lines(f, "10.61.0.1 > 10.61.0.2: ICMP echo request"), 3);
	CU_ASSERT_EQUAL(count_lines(f, "10.61.0.2 > 10.61.0.1: ICMP echo reply"), 3);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
	assert_none_left();
}

/* Upgrade path: a loader on clsact (as before tcx) killed; a tcx loader removes its leftovers. */
static void test_clsact_leftovers_swept_by_tcx_loader(void)
{
	char out[256], was[32] = "";
	int up;

	if (forced_clsact())
		return;	/* the restart would be on clsact too: test_loader_killed_restart_cleans */
	if (getenv("IFKITD_IPTAP_HOOK"))
		snprintf(was, sizeof(was), "%s", getenv("IFKITD_IPTAP_HOOK"));
	setenv("IFKITD_IPTAP_HOOK", "clsact", 1);	/* the loader inherits it */
	up = fx_up(false);
	if (was[0])	/* the restart below is as the caller asked (tcx or default) */
		setenv("IFKITD_IPTAP_HOOK", was, 1);
	else
		unsetenv("IFKITD_IPTAP_HOOK");
	CU_ASSERT_EQUAL_FATAL(up, 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT(shows_hook("clsact"));
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	CU_ASSERT_EQUAL(tcx_count(E.ns1, "vA", "ingress", "iptap"), 0);
	h_loader_kill(&E.l, SIGKILL);
	CU_ASSERT(filters_on(E.ns1, "vA", "egress", "iptap_out"));
	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&E.l), 0);
	assert_none_left();	/* the filters and the clsact qdiscs it made */
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT(shows_hook("tcx"));
	assert_one_per_hook();
	CU_ASSERT(!filters_on(E.ns1, "vA", "ingress", "cls_bpf"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s tc filter show dev vA ingress",
				 E.ns1), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
	assert_none_left();
}

/*
 * A user's tc program: counts what it sees in an array map and returns
 * ret (TCX_NEXT -1: on to the next program; on clsact TC_ACT_UNSPEC).
 */
static int user_prog(int map_fd, int ret)
{
	struct bpf_insn insns[] = {
		{ BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0 },	/* key 0 */
		{ BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd },
		{ 0, 0, 0, 0, 0 },
		{ BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0 },
		{ BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4 },
		{ BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem },
		{ BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1 },
		{ BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD },
		{ BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, ret },
		{ BPF_JMP | BPF_EXIT, 0, 0, 0, 0 },
	};

	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "user_tcx", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
}

static long user_seen(int map_fd)
{
	__u32 key = 0;
	__u64 n = 0;

	return bpf_map_lookup_elem(map_fd, &key, &n) ? -1 : (long)n;
}

/* The user's own clsact qdisc and cls_bpf filter (prio 10, direct action) on vA ingress. */
static int user_clsact(int prog)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0x77, .priority = 10, .prog_fd = prog);
	int err;

	if (h_enter_ns(E.ns1))
		return -1;
	hook.ifindex = (int)if_nametoindex("vA");
	err = bpf_tc_hook_create(&hook);
	if (!err)
		err = bpf_tc_attach(&hook, &opts);
	h_leave_ns();
	return err;
}

/* prog on vA's tcx hook type, flags 0 (last) or BPF_F_BEFORE 1 << 3 (first). */
static int user_link(int prog, int type, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, o, .flags = flags);
	int ifindex, fd;

	if (h_enter_ns(E.ns1))
		return -1;
	ifindex = (int)if_nametoindex("vA");
	fd = bpf_link_create(prog, ifindex, (enum bpf_attach_type)type, &o);
	h_leave_ns();
	return fd;
}

/* 3 pings from ns1 answered; the user's counters each grew by at least 3 (replies on vA ingress). */
static void ping_seen_by_user(int m1, int m2, int m3, bool tcx)
{
	long a = m1 >= 0 ? user_seen(m1) : 0, b = m2 >= 0 ? user_seen(m2) : 0, c = user_seen(m3);

	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 3 -i 0.2 -W 2 -q 10.61.0.2 >/dev/null",
			     E.ns1), 0);
	if (tcx && m1 >= 0)
		CU_ASSERT(user_seen(m1) >= a + 3);
	if (tcx && m2 >= 0)
		CU_ASSERT(user_seen(m2) >= b + 3);
	CU_ASSERT(user_seen(m3) >= c + 3);
}

static void test_user_tc_programs_keep_working(void)
{
	const char *f = h_tmp("user.pcap");
	int m1 = -1, m2 = -1, m3, p1 = -1, p2 = -1, p3, l1 = -1, l2 = -1;
	bool tcx = !forced_clsact();
	char out[1024];
	pid_t t;

	FX_UP(false);
	/* Before the iptap: the user's clsact with a filter (TC_ACT_OK), and a tcx program. */
	m3 = bpf_map_create(BPF_MAP_TYPE_ARRAY, "user3", 4, 8, 1, NULL);
	CU_ASSERT_FATAL(m3 >= 0);
	p3 = user_prog(m3, 0);
	CU_ASSERT_FATAL(p3 >= 0);
	CU_ASSERT_EQUAL_FATAL(user_clsact(p3), 0);
	if (tcx) {
		m1 = bpf_map_create(BPF_MAP_TYPE_ARRAY, "user1", 4, 8, 1, NULL);
		m2 = bpf_map_create(BPF_MAP_TYPE_ARRAY, "user2", 4, 8, 1, NULL);
		CU_ASSERT_FATAL(m1 >= 0 && m2 >= 0);	/* m2 counts once p2 is linked */
		/* TCX_NEXT: on to the next tcx program, then to clsact */
		p1 = user_prog(m1, -1);
		p2 = user_prog(m2, -1);
		CU_ASSERT_FATAL(p1 >= 0 && p2 >= 0);
		l1 = user_link(p1, T_TCX_INGRESS, 0);
		CU_ASSERT_FATAL(l1 >= 0);
	}
	ping_seen_by_user(m1, -1, m3, tcx);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	/* The iptap sees the replies, the user's programs still see and pass them. */
	t = tcpdump_start("-i iptap0 -Q in", f);
	CU_ASSERT_FATAL(t > 0);
	CU_ASSERT_FATAL(wait_field("iptap0", "raw_listeners", 1));
	ping_seen_by_user(m1, -1, m3, tcx);
	if (tcx) {
		/*
		 * Another one ahead of the iptap's: user_tcx, iptap_in, user_tcx,
		 * then the clsact filter; each sees every reply (iptap_in returns
		 * TCX_NEXT, so the chain goes on after it).
		 */
		l2 = user_link(p2, T_TCX_INGRESS, 1U << 3);
		CU_ASSERT_FATAL(l2 >= 0);
		CU_ASSERT_EQUAL(tcx_count(E.ns1, "vA", "ingress", NULL), 3);
		ping_seen_by_user(m1, m2, m3, tcx);
	} else {
		ping_seen_by_user(m1, m2, m3, tcx);
	}
	CU_ASSERT(wait_lines(f, "10.61.0.2 > 10.61.0.1: ICMP echo reply", 6));
	h_kill(t, SIGINT);
	CU_ASSERT_EQUAL(count_lines(f, "10.61.0.2 > 10.61.0.1: ICMP echo reply"), 6);
	/* Destroyed: the user's qdisc, filter and programs stay and keep working. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
	CU_ASSERT(!filters_on(E.ns1, "vA", "ingress", "iptap"));
	if (tcx)
		CU_ASSERT_EQUAL(tcx_count(E.ns1, "vA", "ingress", "user_tcx"), 2);
	ping_seen_by_user(m1, m2, m3, tcx);
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "user_tcx"));
	for (int *fd = (int[]){ l1, l2, p1, p2, p3, m1, m2, m3, -2 }; *fd != -2; fd++)
		if (*fd >= 0)
			close(*fd);
}

static bool tapped_is(void *arg)
{
	return show_field("iptap0", "tapped_interfaces") == *(long *)arg;
}

static void test_teardown_and_moved_out_leave_nothing(void)
{
	char out[256];

	FX_UP(true);
	/* An interface moved to another namespace loses its programs there too. */
	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s link add vC type veth peer name vD", E.ns1), 0);
	CU_ASSERT_FATAL(h_wait_for(vc_tapped, NULL, 1000));
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set vC netns %s", E.ns1, E.ns2), 0);
	CU_ASSERT(h_wait_for(tapped_is, &(long){ 3 }, 2000));
	CU_ASSERT(!filters_on(E.ns2, "vC", "ingress", "iptap"));
	CU_ASSERT(!filters_on(E.ns2, "vC", "egress", "iptap"));
	if (!forced_clsact())
		CU_ASSERT_EQUAL(tcx_pins(), 6);	/* vA, lo, vD */
	h_sh("ip -n %s link del vD", E.ns1);	/* and vC with it, in ns2 */
	CU_ASSERT(h_wait_for(tapped_is, &(long){ 2 }, 2000));
	if (!forced_clsact())
		CU_ASSERT_EQUAL(tcx_pins(), 4);
	/* Killed, then ifkitd --teardown: no program, no pin. */
	h_loader_kill(&E.l, SIGKILL);
	CU_ASSERT(filters_on(E.ns1, "vA", "ingress", "iptap_in"));
	CU_ASSERT_EQUAL(h_sh("%s --teardown -s %s -p %s -n %s 2>/dev/null", h_bin("ifkitd"),
			     E.l.sock, E.l.pin_dir, E.l.netns), 0);
	assert_none_left();
	CU_ASSERT_NOT_EQUAL(h_sh("test -e %s/iptap_tcx", E.l.pin_dir), 0);
	(void)out;
}

static bool no_iptap_left(void *arg)
{
	char out[512];

	(void)arg;
	h_ifkit(&E.l, NULL, out, sizeof(out), "iptap show");
	return out[0] == '\0';
}

static void test_namespace_deleted(void)
{
	char ns3[H_NAME_LEN], out[256];

	FX_UP(false);
	CU_ASSERT_EQUAL_FATAL(h_ns_create("it3", ns3, sizeof(ns3)), 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, ns3, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "iptap show"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "iptap"));
	/* The loader's own descriptors must not keep the namespace and its iptap alive. */
	h_ns_delete(ns3);
	CU_ASSERT(h_wait_for(no_iptap_left, NULL, 6000));
}

static const char *py_old =
	"import socket, ctypes, sys\n"
	"ctypes.CDLL(None).prctl(15, b'iptold', 0, 0, 0)\n"
	"u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.61.0.1', 7412))\n"
	"open(sys.argv[1], 'w').write('ready')\n"
	"while True:\n"
	"    d, a = u.recvfrom(2000); u.sendto(d, a)\n";

static void test_socket_older_than_iptap(void)
{
	const char *py = h_tmp("old.py"), *ready = h_tmp("old.ready"), *cap = h_tmp("old.pcap");
	char out[1024], expect[64];
	pid_t srv, capture;
	FILE *f;

	FX_UP(false);

	/* No iptap yet: no cgroup program records this server's socket. */
	CU_ASSERT_FATAL(no_iptap_left(NULL));
	f = fopen(py, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(py_old, f);
	fclose(f);
	srv = h_spawn(E.ns1, "exec /usr/bin/python3 %s %s", py, ready);
	CU_ASSERT_FATAL(srv > 0);
	CU_ASSERT_FATAL(h_wait_for(exists, (void *)ready, 5000));
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	capture = capture_start(h_tmp("old.err"), "-w %s", cap);
	CU_ASSERT_FATAL(capture > 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s /usr/bin/python3 -c \"import socket; "
			     "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); "
			     "u.sendto(b'x', ('10.61.0.1', 7412)); u.recvfrom(10)\"", E.ns2), 0);
	h_kill(capture, SIGINT);
	h_kill(srv, SIGKILL);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tshark -r %s -Y udp.port==7412 -T fields "
				 "-e pktap.flags -e pktap.pid -e pktap.cmdname 2>/dev/null", cap), 0);
	/* The request it received and the answer it sent both name it. */
	snprintf(expect, sizeof(expect), "0x00000001\t%d\tiptold\n", (int)srv);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, expect));
	snprintf(expect, sizeof(expect), "0x00000002\t%d\tiptold\n", (int)srv);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, expect));
	h_ifkit(&E.l, E.ns1, NULL, 0, "iptap destroy iptap0");
}

/* ---------- issue 10: order, files, loss, exits, fields, filters, rotation, extcap ---------- */

/* Rows of `tshark -r file -Y dfilter -T fields -e field` in out; the row count. */
static int tshark_rows(const char *file, const char *dfilter, const char *field, char *out,
		       size_t len)
{
	char tmp[64];

	if (!out) {
		out = tmp;
		len = sizeof(tmp);
	}
	if (h_sh_out(out, len, "tshark -r %s -Y '%s' -T fields -e %s 2>/dev/null", file, dfilter,
		     field))
		return -1;
	{
		int n = 0;

		for (const char *p = out; *p; p++)
			n += *p == '\n';
		if (out == tmp) {
			/* The output did not fit: count it instead. */
			char cnt[32];

			h_sh_out(cnt, sizeof(cnt), "tshark -r %s -Y '%s' -T fields -e %s 2>/dev/null "
				 "| wc -l", file, dfilter, field);
			return atoi(cnt);
		}
		return n;
	}
}

static long summary_value(const char *errfile, const char *after)
{
	char out[2048], *p;

	h_sh_out(out, sizeof(out), "cat %s", errfile);
	p = strstr(out, after);
	if (!p)
		return -1;
	/* "N <after>": back over the space, then over the number. */
	while (p > out && p[-1] == ' ')
		p--;
	while (p > out && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return strtol(p, NULL, 10);
}

static const char *py_echo =
	"import socket, sys, ctypes\n"
	"ctypes.CDLL(None).prctl(15, sys.argv[3].encode(), 0, 0, 0)\n"
	"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
	"s.bind((sys.argv[1], int(sys.argv[2])))\n"
	"open(sys.argv[4], 'w').write('ready')\n"
	"while True:\n"
	"    d, a = s.recvfrom(4000); s.sendto(d, a)\n";

/* python3 FILE ARGS: the script written to a temporary file first. */
static const char *py_file(const char *name, const char *text)
{
	const char *path = h_tmp(name);
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

/* A UDP echo server in ns2 on 10.61.0.2:port, pinned to cpu; ready when bound. */
static pid_t echo_start(int port, int cpu)
{
	const char *py = py_file("echo.py", py_echo);
	char ready[128];
	pid_t p;

	snprintf(ready, sizeof(ready), "%s.%d", h_tmp("echo.ready"), port);
	unlink(ready);	/* an earlier test's server left its mark under the same name */
	p = h_spawn(E.ns2, "exec taskset -c %d /usr/bin/python3 %s 10.61.0.2 %d iptecho %s", cpu,
		    py, port, ready);
	if (p > 0 && !h_wait_for(exists, ready, 5000)) {
		h_kill(p, SIGKILL);
		return -1;
	}
	return p;
}

/*
 * Client on CPU 0, server on CPU 1: records of both CPUs interleave in
 * time.  The file is in timestamp order, also under a flood.
 */
static void test_order_across_cpus(void)
{
	const char *cap = h_tmp("order.pcap"), *err = h_tmp("order.err");
	char *rows;
	double prev = 0;
	int n = 0, inversions = 0;
	pid_t srv, c;

	FX_UP(true);
	srv = echo_start(7420, 1);
	CU_ASSERT_FATAL(srv > 0);
	c = capture_start(err, "-w %s udp port 7420", cap);
	CU_ASSERT_FATAL(c > 0);
	/* 20000 datagrams as fast as the client can send them: a flood. */
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s taskset -c 0 /usr/bin/python3 -c \"import socket\n"
			     "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
			     "for i in range(20000):\n"
			     "    s.sendto(b'x' * 32, ('10.61.0.2', 7420))\n\"", E.ns1), 0);
	h_kill(c, SIGINT);
	h_kill(srv, SIGKILL);
	rows = malloc(1 << 22);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
	CU_ASSERT_EQUAL(h_sh_out(rows, 1 << 22, "tshark -r %s -T fields -e frame.time_epoch "
				 "2>/dev/null", cap), 0);
	for (char *line = strtok(rows, "\n"); line; line = strtok(NULL, "\n")) {
		double t = strtod(line, NULL);

		inversions += t < prev;
		prev = t;
		n++;
	}
	free(rows);
	fprintf(stderr, "  order: %d records, %d out of order\n", n, inversions);
	CU_ASSERT(n >= 20000);		/* the requests at least; replies as the server keeps up */
	CU_ASSERT_EQUAL(inversions, 0);
}

/* A pcapng with several interfaces: stock tcpdump reads it whole and filters it. */
static void test_pcapng_whole_for_tcpdump(void)
{
	const char *cap = h_tmp("multi.pcapng"), *err = h_tmp("multi.err");
	char out[8192], names[256];
	int td_all, ts_all, td_udp;
	pid_t srv, c;

	FX_UP(true);
	srv = echo_start(7421, 1);
	CU_ASSERT_FATAL(srv > 0);
	c = capture_start(err, "--pcapng -w %s", cap);
	CU_ASSERT_FATAL(c > 0);
	/* vA first, then lo (a second interface block), then vA again. */
	h_sh("ip netns exec %s ping -c 1 -q 10.61.0.2 >/dev/null", E.ns1);
	h_sh("ip netns exec %s ping -c 1 -q 127.0.0.1 >/dev/null", E.ns1);
	h_sh("ip netns exec %s /usr/bin/python3 -c \"import socket; u = socket.socket(2, 2); "
	     "u.settimeout(3); u.sendto(b'x', ('10.61.0.2', 7421)); u.recvfrom(10)\"", E.ns1);
	h_kill(c, SIGINT);
	h_kill(srv, SIGKILL);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tcpdump -nr %s 2>&1 >/dev/null", cap), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "different from the type"));
	h_sh_out(out, sizeof(out), "tcpdump -nr %s 2>/dev/null | wc -l", cap);
	td_all = atoi(out);
	ts_all = tshark_rows(cap, "frame", "frame.number", NULL, 0);
	CU_ASSERT(td_all >= 6);
	CU_ASSERT_EQUAL(td_all, ts_all);		/* both read every block */
	h_sh_out(out, sizeof(out), "tcpdump -nr %s 'udp port 7421' 2>/dev/null | wc -l", cap);
	td_udp = atoi(out);
	CU_ASSERT_EQUAL(td_udp, 2);
	/* Direction survives in each packet (tcpdump shows In/Out; filters can use it). */
	h_sh_out(out, sizeof(out), "tcpdump -nr %s 'outbound and udp port 7421' 2>/dev/null | "
		 "grep -c ' Out '", cap);
	CU_ASSERT_EQUAL(atoi(out), 1);
	/* Interfaces by name for tshark: vA and lo. */
	h_sh_out(names, sizeof(names), "tshark -r %s -T fields -e frame.interface_name 2>/dev/null"
		 " | sort -u | tr '\\n' ' '", cap);
	CU_ASSERT_PTR_NOT_NULL(strstr(names, "lo "));
	CU_ASSERT_PTR_NOT_NULL(strstr(names, "vA "));
}

/*
 * A reader that stops reading (SIGSTOP) with a small ring: the kernel
 * cannot write most records.  Every one is counted, in `show` while it
 * happens and in the summary at the end, and captured + lost = sent; the
 * sender is not held up (ping -f ends).  With the BPF ring buffers (the
 * default) and with --perf-ring.
 */
static void loss_counted(const char *ring_opt, const char *ring_name)
{
	const char *cap = h_tmp("loss.pcap"), *err = h_tmp("loss.err");
	char out[128];
	long captured, lost, shown_lost, in_file;
	pid_t c;

	FX_UP(true);
	c = capture_start(err, "-B 64 %s -w %s icmp", ring_opt, cap);
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT(wait_text(err, ring_name, 100));
	kill(c, SIGSTOP);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -f -c 3000 -s 1000 -q 10.61.0.2 >/dev/null",
			     E.ns1), 0);
	shown_lost = show_field("iptap0", "lost");	/* the reader's row of `show` */
	if (shown_lost < 0) {
		char show[4096];
		int rc = h_ifkit(&E.l, E.ns1, show, sizeof(show), "iptap show -j iptap0");

		fprintf(stderr, "  show -j (rc %d): %s\n", rc, show);
	}
	kill(c, SIGCONT);
	h_kill(c, SIGINT);
	captured = summary_value(err, "packets captured");
	lost = summary_value(err, "packets lost in the kernel");
	h_sh_out(out, sizeof(out), "tcpdump -nr %s 2>/dev/null | wc -l", cap);
	in_file = atol(out);
	fprintf(stderr, "  loss: captured %ld lost %ld (show said %ld) file %ld\n", captured, lost,
		shown_lost, in_file);
	CU_ASSERT(lost > 0);
	CU_ASSERT(shown_lost > 0 && shown_lost <= lost);
	CU_ASSERT_EQUAL(captured, in_file);
	CU_ASSERT_EQUAL(captured + lost, 6000);	/* 3000 requests and 3000 replies */
}

static void test_loss_counted(void)
{
	loss_counted("", "BPF ring buffer 64 KiB per CPU");
}

static void test_loss_counted_perf(void)
{
	loss_counted("--perf-ring", "perf ring 64 KiB per CPU");
}

struct rings_gone {
	int fd, ncpu;
	const __u32 *ids;
};

static bool slot0_rings_gone(void *arg)
{
	struct rings_gone *g = arg;

	for (int i = 0; i < g->ncpu; i++) {
		__u32 k = (__u32)i, id;

		if (bpf_map_lookup_elem(g->fd, &k, &id) == 0 || errno != ENOENT)
			return false;
	}
	return true;
}

static bool ring_maps_freed(void *arg)
{
	struct rings_gone *g = arg;

	for (int i = 0; i < g->ncpu; i++) {
		int fd = bpf_map_get_fd_by_id(g->ids[i]);

		if (fd >= 0) {
			close(fd);
			return false;
		}
	}
	return true;
}

static void pinned_slot_stat(int fd, __u32 slot, int ncpu, struct iptap_reader_stat *sum)
{
	struct iptap_reader_stat per[64];

	memset(sum, 0, sizeof(*sum));
	if (ncpu > 64 || bpf_map_lookup_elem(fd, &slot, per))
		return;
	for (int i = 0; i < ncpu; i++) {
		sum->records += per[i].records;
		sum->lost += per[i].lost;
		sum->unmapped += per[i].unmapped;
		sum->filtered += per[i].filtered;
	}
}

/*
 * A reader killed with SIGKILL cannot take its BPF ring buffers out of
 * iptap_rings: the loader does when the LISTEN connection closes, the
 * rings are freed (their map ids go away), and the slot costs nothing any
 * more (no record, lost or unmapped count grows under traffic).
 */
static void test_killed_reader_rings_freed(void)
{
	const char *err = h_tmp("kill.err");
	int ncpu = libbpf_num_possible_cpus(), fd, sfd;
	__u32 ids[64] = { 0 };
	struct rings_gone g = { -1, ncpu, ids };
	struct iptap_reader_stat a, b;
	char path[256];
	pid_t c;

	FX_UP(true);
	CU_ASSERT_FATAL(ncpu > 0 && ncpu <= 64);
	c = capture_start(err, "-w /dev/null");
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT(wait_text(err, "BPF ring buffer", 100));
	snprintf(path, sizeof(path), "%s/iptap_rings", E.l.pin_dir);
	fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/iptap_reader_stats", E.l.pin_dir);
	sfd = bpf_obj_get(path);
	CU_ASSERT_FATAL(fd >= 0 && sfd >= 0);
	g.fd = fd;
	for (int i = 0; i < ncpu; i++) {
		__u32 k = (__u32)i;

		CU_ASSERT_EQUAL(bpf_map_lookup_elem(fd, &k, &ids[i]), 0);
		CU_ASSERT(ids[i] != 0);
	}
	h_kill(c, SIGKILL);
	CU_ASSERT(h_wait_for(slot0_rings_gone, &g, 3000));
	CU_ASSERT(h_wait_for(ring_maps_freed, &g, 5000));
	/* The loader answers `show` after it handled the close (the slot left the mask). */
	CU_ASSERT(wait_field("iptap0", "pktap_listeners", 0));
	pinned_slot_stat(sfd, 0, ncpu, &a);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 20 -i 0.01 -q 10.61.0.2 >/dev/null",
			     E.ns1), 0);
	pinned_slot_stat(sfd, 0, ncpu, &b);
	CU_ASSERT_EQUAL(b.records, a.records);
	CU_ASSERT_EQUAL(b.lost, a.lost);
	CU_ASSERT_EQUAL(b.unmapped, a.unmapped);
	close(fd);
	close(sfd);
}

/*
 * Loader and reader both SIGKILLed (the reader stopped first, so it cannot
 * take its rings out either): the rings stay in the pinned iptap_rings
 * until the next loader starts, which empties it and so frees them.
 */
static void test_restart_empties_rings(void)
{
	const char *err = h_tmp("rs.err");
	int ncpu = libbpf_num_possible_cpus(), fd;
	__u32 ids[64] = { 0 };
	struct rings_gone g = { -1, ncpu, ids };
	char path[256];
	pid_t c;

	FX_UP(true);
	CU_ASSERT_FATAL(ncpu > 0 && ncpu <= 64);
	c = capture_start(err, "-w /dev/null");
	CU_ASSERT_FATAL(c > 0);
	snprintf(path, sizeof(path), "%s/iptap_rings", E.l.pin_dir);
	fd = bpf_obj_get(path);
	CU_ASSERT_FATAL(fd >= 0);
	g.fd = fd;
	for (int i = 0; i < ncpu; i++) {
		__u32 k = (__u32)i;

		CU_ASSERT_EQUAL(bpf_map_lookup_elem(fd, &k, &ids[i]), 0);
	}
	kill(c, SIGSTOP);
	h_loader_kill(&E.l, SIGKILL);
	h_kill(c, SIGKILL);
	CU_ASSERT_FALSE(slot0_rings_gone(&g));	/* nobody took them out */
	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&E.l), 0);
	CU_ASSERT(slot0_rings_gone(&g));
	CU_ASSERT(h_wait_for(ring_maps_freed, &g, 5000));
	close(fd);
}

/*
 * A loader on a kernel without BPF ring buffer support (here: told so by
 * IFKITD_IPTAP_RINGBUF=0) loads iptap_compat.bpf.o; the capture finds no
 * ring buffers, says so, and reads the perf ring: every packet is there.
 */
static void test_compat_perf_ring(void)
{
	const char *cap = h_tmp("compat.pcap"), *err = h_tmp("compat.err");
	char out[64];
	pid_t c;
	int up;

	setenv("IFKITD_IPTAP_RINGBUF", "0", 1);
	up = fx_up(true);
	unsetenv("IFKITD_IPTAP_RINGBUF");
	CU_ASSERT_EQUAL_FATAL(up, 0);
	c = capture_start(err, "-w %s icmp", cap);
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT(wait_text(err, "no BPF ring buffer", 100));
	CU_ASSERT(wait_text(err, "perf ring 16384 KiB per CPU", 100));
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 3 -i 0.05 -q 10.61.0.2 >/dev/null",
			     E.ns1), 0);
	CU_ASSERT(wait_lines(cap, "ICMP", 6));
	h_kill(c, SIGINT);
	CU_ASSERT_EQUAL(summary_value(err, "packets captured"), 6);
	CU_ASSERT_EQUAL(summary_value(err, "packets lost in the kernel"), 0);
	h_sh_out(out, sizeof(out), "grep -c 'without BPF ring buffers\\|no BPF ring buffers' %s",
		 E.l.log);
	CU_ASSERT(atoi(out) >= 1);
}

/*
 * An unprivileged user can neither open the pinned rings (iptap_rings,
 * iptap_events) nor become a PKTAP reader.
 */
static void test_unpriv_no_rings(void)
{
	char out[512];

	FX_UP(true);
	CU_ASSERT_NOT_EQUAL(h_sh("setpriv --reuid 65534 --regid 65534 --clear-groups "
				 "bpftool map show pinned %s/iptap_rings >/dev/null 2>&1",
				 E.l.pin_dir), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("setpriv --reuid 65534 --regid 65534 --clear-groups "
				 "bpftool map show pinned %s/iptap_events >/dev/null 2>&1",
				 E.l.pin_dir), 0);
	CU_ASSERT_EQUAL(h_sh("bpftool map show pinned %s/iptap_rings >/dev/null 2>&1",
			     E.l.pin_dir), 0);	/* root can: the test tests something */
	CU_ASSERT_NOT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s setpriv --reuid 65534 "
				     "--regid 65534 --clear-groups %s -s %s iptap capture -c 1 "
				     "-w /dev/null 2>&1", E.ns1, h_bin("ifkit"), E.l.sock), 0);
}

/*
 * The reader writes records out from the mmap'ed rings in place: in a
 * 64 KiB ring, records of 1.2 KB wrap around its end every ~50 records, and
 * a wrapped record is joined before it is written.  600 of them, every one
 * in the file whole (length, ICMP checksum good), none lost or malformed.
 */
static void test_ring_wrap_whole(void)
{
	const char *cap = h_tmp("wrap.pcap"), *err = h_tmp("wrap.err");
	char out[64];
	pid_t c;

	FX_UP(true);
	c = capture_start(err, "-B 64 -w %s icmp", cap);
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 300 -i 0.002 -s 1000 -q 10.61.0.2 "
			     ">/dev/null", E.ns1), 0);
	h_kill(c, SIGINT);
	CU_ASSERT_EQUAL(summary_value(err, "packets captured"), 600);
	CU_ASSERT_EQUAL(summary_value(err, "packets lost in the kernel"), 0);
	h_sh_out(out, sizeof(out), "grep -c malformed %s", err);
	CU_ASSERT_EQUAL(atoi(out), 0);
	CU_ASSERT_EQUAL(tshark_rows(cap, "frame.cap_len == 1184 && icmp.checksum.status == 1",
				    "frame.number", NULL, 0), 600);
}

static void test_ninth_iptap_refused(void)
{
	char out[512];

	FX_UP(true);
	for (int i = 1; i < IPTAP_MAX_PER_NS; i++)
		CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_NOT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "at most 8 iptaps per network namespace"));
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link show iptap8 2>/dev/null", E.ns1), 0);
	/* Another namespace has its own eight. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns2, out, sizeof(out), "iptap create"), 0);
}

static void test_exit_status_when_things_go(void)
{
	const char *err1 = h_tmp("gone1.err"), *err2 = h_tmp("gone2.err");
	char out[1024];
	pid_t c;

	FX_UP(true);
	/* The iptap destroyed under it. */
	c = capture_start(err1, "-w /dev/null");
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap destroy iptap0"), 0);
	CU_ASSERT_EQUAL(h_wait(c, 5000), 1);
	CU_ASSERT(wait_text(err1, "iptap0 was destroyed", 100));
	/* The loader killed under it. */
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap create"), 0);
	c = capture_start(err2, "-w /dev/null");
	CU_ASSERT_FATAL(c > 0);
	h_loader_kill(&E.l, SIGKILL);
	CU_ASSERT_EQUAL(h_wait(c, 5000), 1);
	CU_ASSERT(wait_text(err2, "went away (Connection refused)", 100));
}

/* A full file system: exit 1 naming the error; the file holds what the summary says. */
static void test_write_error_full_disk(void)
{
	const char *dir = h_tmp("small"), *err = h_tmp("full.err");
	char out[256];
	long in_file = -1, said;
	int status = -1;
	pid_t c;

	FX_UP(true);
	CU_ASSERT_EQUAL_FATAL(h_sh("mkdir -p %s && mount -t tmpfs -o size=256k ifkt-full %s", dir,
				   dir), 0);
	c = capture_start(err, "-w %s/f.pcap icmp", dir);
	if (c > 0) {
		h_sh("ip netns exec %s ping -f -c 1000 -s 1000 -q 10.61.0.2 >/dev/null", E.ns1);
		status = h_wait(c, 5000);
		h_sh_out(out, sizeof(out), "tcpdump -r %s/f.pcap 2>/dev/null | wc -l", dir);
		in_file = atol(out);
	}
	h_sh("umount %s", dir);
	CU_ASSERT_EQUAL(status, 1);
	CU_ASSERT(wait_text(err, "No space left on device", 100));
	said = summary_value(err, "packets are in the file");
	fprintf(stderr, "  full disk: %ld in the file, summary %ld\n", in_file, said);
	CU_ASSERT(in_file > 0);
	CU_ASSERT_EQUAL(said, in_file);
	CU_ASSERT_EQUAL(summary_value(err, "packets captured"), in_file);
}

/* pid -1 where no process owns a packet; pth_svc from SO_PRIORITY. */
/* A pcap file holds more than its 24-byte file header. */
static bool file_has_record(void *arg)
{
	struct stat st;

	return stat(arg, &st) == 0 && st.st_size > 24;
}

/*
 * The reader is woken by the ring's watermark (a fraction of the ring), not
 * per record: a lone packet, with nothing after it to fill the ring, must
 * still reach the file within about a second while the capture runs on.
 */
static void test_lone_packet_written_soon(void)
{
	const char *cap = h_tmp("lone.pcap"), *err = h_tmp("lone.err");
	struct timespec t0, t1;
	pid_t c, sender;
	long ms;

	FX_UP(true);
	/* Neighbour resolution first, so the datagram below is the only IP packet. */
	h_sh("ip netns exec %s ping -c 1 -q 10.61.0.2 >/dev/null", E.ns1);
	c = capture_start(err, "-B 32768 -w %s udp port 7425", cap);
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT_FATAL(file_has_record((void *)cap) == false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sender = h_spawn(E.ns1, "exec /usr/bin/python3 -c \"import socket\n"
			 "socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
			 ".sendto(b'x', ('10.61.0.2', 7425))\"");
	CU_ASSERT_EQUAL(h_wait(sender, 5000), 0);
	CU_ASSERT(h_wait_for(file_has_record, (void *)cap, 1500));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CU_ASSERT(ms <= 1200);
	/* Still running: the record was not written by the end of the capture. */
	CU_ASSERT_EQUAL(kill(c, 0), 0);
	h_kill(c, SIGINT);
	CU_ASSERT_EQUAL(tshark_rows(cap, "udp.dstport == 7425", "frame.number", NULL, 0), 1);
	CU_ASSERT_EQUAL(summary_value(err, "packets captured"), 1);
}

static void test_pid_unowned_and_svc(void)
{
	const char *cap = h_tmp("svc.pcap"), *err = h_tmp("svc.err");
	char out[1024], want[64];
	pid_t c, sender;

	FX_UP(true);
	c = capture_start(err, "-w %s", cap);
	CU_ASSERT_FATAL(c > 0);
	h_sh("ip netns exec %s ping -c 1 -q 10.61.0.2 >/dev/null", E.ns1);
	sender = h_spawn(E.ns1, "exec /usr/bin/python3 -c \"import socket\n"
			 "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
			 "s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 6)\n"
			 "s.sendto(b'x', ('10.61.0.2', 7423))\n"
			 "t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
			 "t.sendto(b'y', ('10.61.0.2', 7424))\n\"");
	CU_ASSERT_EQUAL(h_wait(sender, 5000), 0);
	h_kill(c, SIGINT);
	/* The echo reply: received by no socket (the kernel answered the ping socket's ICMP). */
	CU_ASSERT_EQUAL(tshark_rows(cap, "icmp.type == 0", "pktap.pid", out, sizeof(out)), 1);
	CU_ASSERT(!strcmp(out, "-1\n") || !strcmp(out, "4294967295\n"));
	snprintf(want, sizeof(want), "800\t%d\n", (int)sender);	/* TC_PRIO_INTERACTIVE -> SO_TC_VO */
	CU_ASSERT_EQUAL(tshark_rows(cap, "udp.dstport == 7423 && !icmp", "pktap.svc_class -e pktap.pid", out,
				    sizeof(out)), 1);
	CU_ASSERT_STRING_EQUAL(out, want);
	snprintf(want, sizeof(want), "0\t%d\n", (int)sender);	/* no priority: best effort */
	CU_ASSERT_EQUAL(tshark_rows(cap, "udp.dstport == 7424 && !icmp", "pktap.svc_class -e pktap.pid", out,
				    sizeof(out)), 1);
	CU_ASSERT_STRING_EQUAL(out, want);
}

static const char *py_sender =
	"import socket, sys, ctypes, os, time\n"
	"ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)\n"
	"if len(sys.argv) > 2:\n"
	"    while not os.path.exists(sys.argv[2]): time.sleep(0.01)\n"
	"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)\n"
	"for i in range(3):\n"
	"    s.sendto(b'x', ('10.61.0.2', 7424)); s.recvfrom(10)\n";

/* Expression, --pid, --comm, --uid: each reader gets exactly its packets. */
static void test_filters(void)
{
	const char *py = py_file("send.py", py_sender), *go = h_tmp("filters.go");
	const char *fe = h_tmp("fe.pcap"), *fp = h_tmp("fp.pcap"), *fc = h_tmp("fc.pcap");
	const char *fu = h_tmp("fu.pcap");
	char out[2048], want[64];
	pid_t srv, a, b, ce, cp, cc, cu;

	FX_UP(true);
	srv = echo_start(7424, 1);
	CU_ASSERT_FATAL(srv > 0);
	/* A (root, "iptfa") and B (nobody, "iptfb") wait for the go. */
	a = h_spawn(E.ns1, "exec /usr/bin/python3 %s iptfa %s", py, go);
	b = h_spawn(E.ns1, "exec setpriv --reuid 65534 --regid 65534 --clear-groups "
		    "/usr/bin/python3 %s iptfb %s", py, go);
	CU_ASSERT_FATAL(a > 0 && b > 0);
	ce = capture_start(h_tmp("fe.err"), "-w %s udp port 7424", fe);
	cp = capture_start(h_tmp("fp.err"), "-w %s --pid %d", fp, (int)a);
	cc = capture_start(h_tmp("fc.err"), "-w %s --comm iptfa", fc);
	cu = capture_start(h_tmp("fu.err"), "-w %s --uid nobody", fu);
	CU_ASSERT_FATAL(ce > 0 && cp > 0 && cc > 0 && cu > 0);
	h_sh("ip netns exec %s ping -c 2 -i 0.2 -q 10.61.0.2 >/dev/null", E.ns1);	/* noise */
	h_sh("touch %s", go);
	CU_ASSERT_EQUAL(h_wait(a, 10000), 0);
	CU_ASSERT_EQUAL(h_wait(b, 10000), 0);
	h_kill(ce, SIGINT);
	h_kill(cp, SIGINT);
	h_kill(cc, SIGINT);
	h_kill(cu, SIGINT);
	h_kill(srv, SIGKILL);
	/* Expression: every packet of port 7424 and nothing else (the pings stayed out). */
	CU_ASSERT_EQUAL(tshark_rows(fe, "frame", "frame.number", NULL, 0), 12);
	CU_ASSERT_EQUAL(tshark_rows(fe, "udp.port == 7424", "frame.number", NULL, 0), 12);
	CU_ASSERT(summary_value(h_tmp("fe.err"), "filtered in the kernel") >= 4);
	/* The expression ran as eBPF (translated by the loader), not in the interpreter. */
	CU_ASSERT_NOT_EQUAL(h_sh("grep -q 'cBPF interpreter' %s", h_tmp("fe.err")), 0);
	CU_ASSERT_EQUAL(h_sh("grep -q 'filter of [0-9]* cBPF instructions runs as' %s",
			     E.l.log), 0);
	/* --pid and --comm: A's 6 packets (3 out, 3 replies in), all naming A. */
	snprintf(want, sizeof(want), "%d\tiptfa\n", (int)a);
	CU_ASSERT_EQUAL(tshark_rows(fp, "frame", "pktap.pid -e pktap.cmdname", out, sizeof(out)), 6);
	CU_ASSERT_EQUAL(tshark_rows(fp, "pktap.cmdname == \"iptfa\"", "frame.number", NULL, 0), 6);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_EQUAL(tshark_rows(fc, "frame", "frame.number", NULL, 0), 6);
	CU_ASSERT_EQUAL(tshark_rows(fc, "pktap.cmdname == \"iptfa\"", "frame.number", NULL, 0), 6);
	/* --uid nobody: B's 6 packets. */
	CU_ASSERT_EQUAL(tshark_rows(fu, "frame", "frame.number", NULL, 0), 6);
	CU_ASSERT_EQUAL(tshark_rows(fu, "pktap.cmdname == \"iptfb\"", "frame.number", NULL, 0), 6);
}

/* `-- CMD`: only the command's packets (its children's too), until it exits. */
static void test_capture_command(void)
{
	const char *py = py_file("send.py", py_sender), *cap = h_tmp("cmd.pcap");
	const char *err = h_tmp("cmd.err");
	pid_t srv, other, c;
	int all, mine;

	FX_UP(true);
	srv = echo_start(7424, 1);
	CU_ASSERT_FATAL(srv > 0);
	/* Someone else talks to the same server all along. */
	other = h_spawn(E.ns1, "exec /usr/bin/python3 -c \"import socket, ctypes, time\n"
			"ctypes.CDLL(None).prctl(15, b'iptother', 0, 0, 0)\n"
			"s = socket.socket(2, 2)\n"
			"while True:\n"
			"    s.sendto(b'o', ('10.61.0.2', 7424)); time.sleep(0.01)\n\"");
	CU_ASSERT_FATAL(other > 0);
	/* sh runs python: the packets come from the command's child. */
	c = h_spawn(E.ns1, "exec %s -s %s iptap capture -w %s -- sh -c '/usr/bin/python3 %s iptcmd; "
		    "true' 2>%s", h_bin("ifkit"), E.l.sock, cap, py, err);
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT_EQUAL(h_wait(c, 15000), 0);		/* ends with the command */
	h_kill(other, SIGKILL);
	h_kill(srv, SIGKILL);
	all = tshark_rows(cap, "frame", "frame.number", NULL, 0);
	mine = tshark_rows(cap, "pktap.cmdname == \"iptcmd\"", "frame.number", NULL, 0);
	if (all != 6 || mine != 6) {	/* say what was there */
		char rows[4096];

		h_sh_out(rows, sizeof(rows), "cat %s; tshark -r %s -T fields -e pktap.flags "
			 "-e pktap.pid -e pktap.cmdname -e udp.srcport -e udp.dstport 2>&1", err, cap);
		fprintf(stderr, "  -- CMD: %d records, %d of iptcmd:\n%s", all, mine, rows);
	}
	CU_ASSERT_EQUAL(all, 6);
	CU_ASSERT_EQUAL(mine, 6);
	CU_ASSERT(summary_value(err, "filtered in the kernel") > 0);	/* iptother's */
}

/* tcpdump's -C/-W (size, names in turn) and -G/-W (time, then stop). */
static void test_rotation(void)
{
	const char *dir = h_tmp("rot");
	char out[1024];
	pid_t c;

	FX_UP(true);
	CU_ASSERT_EQUAL_FATAL(h_sh("mkdir -p %s", dir), 0);
	c = capture_start(h_tmp("rot.err"), "-C 1 -W 3 -w %s/r.pcap icmp", dir);
	CU_ASSERT_FATAL(c > 0);
	/* ~1.2 KB per record: 4000 records are ~4.8 MB, five files' worth in three names. */
	h_sh("ip netns exec %s ping -f -c 2000 -s 1000 -q 10.61.0.2 >/dev/null", E.ns1);
	h_kill(c, SIGINT);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ls %s", dir), 0);
	CU_ASSERT_STRING_EQUAL(out, "r.pcap0\nr.pcap1\nr.pcap2\n");
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(h_sh("test $(stat -c %%s %s/r.pcap%d) -le 1100000", dir, i), 0);
		CU_ASSERT_EQUAL(h_sh("tcpdump -r %s/r.pcap%d >/dev/null 2>&1", dir, i), 0);
	}
	/* -G 1 -W 2: two files named by strftime, then it stops by itself. */
	CU_ASSERT_EQUAL_FATAL(h_sh("rm -f %s/*", dir), 0);
	c = capture_start(h_tmp("rotg.err"), "-G 1 -W 2 -w %s/g-%%s.pcap", dir);
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT_EQUAL(h_wait(c, 6000), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ls %s | grep -c '^g-[0-9]*\\.pcap$'", dir), 0);
	CU_ASSERT_STRING_EQUAL(out, "2\n");
}

struct extcap_ready {
	const char *dev;
};

static bool one_reader(void *arg)
{
	(void)arg;
	return show_field("iptap0", "pktap_listeners") == 1;
}

/* `make install` puts ifkit-extcap where tshark finds it; tshark lists it and captures. */
static void test_extcap(void)
{
	char root[512], home[512], dest[512], out[4096], real[PATH_MAX];
	const char *pcapng = h_tmp("extcap.pcapng");
	pid_t ts;

	FX_UP(false);
	CU_ASSERT_FATAL(realpath(h_bin("ifkit"), real) != NULL);
	snprintf(root, sizeof(root), "%s", real);
	*strrchr(root, '/') = '\0';		/* BUILD */
	snprintf(dest, sizeof(dest), "%s", h_tmp("destdir"));
	snprintf(home, sizeof(home), "%s", h_tmp("home"));
	/* The build dir's parent is the source tree. */
	CU_ASSERT_EQUAL_FATAL(h_sh("make -s -C %s/.. BUILD=%s DESTDIR=%s install-iptap >/dev/null",
				   root, root, dest), 0);
	/*
	 * Debian's tshark ignores WIRESHARK_EXTCAP_DIR when run as root; its
	 * personal extcap folder ($HOME/.config/wireshark/extcap) it reads.
	 */
	CU_ASSERT_EQUAL_FATAL(h_sh("mkdir -p %s/.config/wireshark/extcap && ln -sf "
				   "$(find %s -name ifkit-extcap -type f) %s/.config/wireshark/extcap/",
				   home, dest, home), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "HOME=%s tshark -D 2>/dev/null", home), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ifkit-pktap"));
	/* Live: no iptap in ns1, the extcap makes one for the capture. */
	ts = h_spawn(E.ns1, "HOME=%s IFKIT_BIN=%s IFKIT_SOCK=%s exec tshark -i ifkit-pktap "
		     "-a duration:3 -w %s >/dev/null 2>%s", home, h_bin("ifkit"), E.l.sock, pcapng,
		     h_tmp("tshark.err"));
	CU_ASSERT_FATAL(ts > 0);
	CU_ASSERT_FATAL(h_wait_for(one_reader, NULL, 5000));
	/*
	 * The extcap keeps ifkit's stderr from tshark, so "capturing on" is not
	 * seen here: ping on through the capture's start; some pings get in.
	 */
	h_sh("ip netns exec %s ping -c 6 -i 0.25 -q 10.61.0.2 >/dev/null", E.ns1);
	CU_ASSERT_EQUAL(h_wait(ts, 10000), 0);
	CU_ASSERT(tshark_rows(pcapng, "icmp.type == 8 && pktap.cmdname == \"ping\"", "frame.number",
			      NULL, 0) >= 2);
	/* The iptap it made is gone with the capture. */
	CU_ASSERT(h_wait_for(no_iptap_left, NULL, 5000));
}

/* `show` names readers' processes to root and to their owner only. */
static void test_show_hides_readers(void)
{
	char out[4096], want[64];
	pid_t c;

	FX_UP(true);
	c = capture_start(h_tmp("hide.err"), "-w /dev/null");
	CU_ASSERT_FATAL(c > 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "iptap show -j"), 0);
	snprintf(want, sizeof(want), "\"pid\":%d", (int)c);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s setpriv --reuid 65534 "
				 "--regid 65534 --clear-groups %s -s %s iptap show -j", E.ns1,
				 h_bin("ifkit"), E.l.sock), 0);
	CU_ASSERT_PTR_NULL(strstr(out, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"pid\":-1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"comm\":\"\""));
	h_kill(c, SIGINT);
}

struct pipe_wait {
	const char *out;
};

static bool ping_seen(void *arg)
{
	struct pipe_wait *pw = arg;
	struct text_in t = { pw->out, "CPU" };

	h_sh("ip netns exec %s ping -c 1 -q 127.0.0.1 >/dev/null", E.ns1);
	return file_has(&t);
}

/* `bpftool map event_pipe` on the pinned ring still shows the records (slot 0's rings). */
static void test_bpftool_event_pipe(void)
{
	const char *out = h_tmp("event_pipe.out"), *err = h_tmp("ep.err");
	struct pipe_wait pw = { out };
	pid_t c, bt;

	FX_UP(true);
	c = capture_start(err, "-w /dev/null");	/* holds slot 0: records are written */
	CU_ASSERT_FATAL(c > 0);
	bt = h_spawn(NULL, "exec bpftool map event_pipe pinned %s/iptap_events >%s 2>&1",
		     E.l.pin_dir, out);
	CU_ASSERT_FATAL(bt > 0);
	CU_ASSERT(h_wait_for(ping_seen, &pw, 5000));
	h_kill(bt, SIGINT);
	h_kill(c, SIGINT);
	/* The capture says where its records went. */
	CU_ASSERT(wait_text(err, "records written by the kernel", 100));
}

static int e2e_cleanup(void)
{
	fx_down();
	return 0;
}

static void add_suites(void)
{
	CU_pSuite s;

	s = CU_add_suite("iptap units", NULL, NULL);
	CU_add_test(s, "pcap writer: LINKTYPE_PKTAP parsed back", test_pcap_writer);
	CU_add_test(s, "pcapng writer: IDB per interface, flags, comment", test_pcapng_writer);
	CU_add_test(s, "writer: a failed write keeps whole records, counted", test_pcap_writer_partial);
	CU_add_test(s, "writer: large packets written from the caller's memory", test_pcap_writer_large);
	CU_add_test(s, "ring record decoding: padding, snap, small records, malformed", test_record_decode);
	CU_add_test(s, "tap counting from /proc/net/packet", test_tap_counting);

	s = CU_add_suite("iptap BPF_PROG_TEST_RUN", bpf_init, bpf_cleanup);
	CU_add_test(s, "raw copies for IPv4/IPv6, none for ARP", test_bpf_raw_copies_only_ip);
	CU_add_test(s, "no listener: nothing counted or copied", test_bpf_no_listener_nothing);
	CU_add_test(s, "namespace configuration from its tagged array entry", test_bpf_ns_fast);
	CU_add_test(s, "PKTAP records for IP only, header fields", test_bpf_pktap_records);
	CU_add_test(s, "record fields: interface, direction, owner, svc", test_bpf_record_fields);
	CU_add_test(s, "pcap-filter expressions run in the kernel", test_bpf_filter_expression);
	CU_add_test(s, "BPF ring buffer: the perf record, perf first, full ring lost exactly",
		    test_bpf_ringbuf_records);
	CU_add_test(s, "BPF ring buffer: small and large records are the perf record",
		    test_bpf_ringbuf_sizes);
	CU_add_test(s, "a filter decides before the interface lookup", test_bpf_filter_before_lookups);
	CU_add_test(s, "cBPF -> eBPF: expressions decide as libpcap", test_jit_agrees_with_libpcap);
	CU_add_test(s, "cBPF -> eBPF: random valid programs return what libpcap returns",
		    test_jit_random_programs);

	s = CU_add_suite("iptap end to end", NULL, e2e_cleanup);
	CU_add_test(s, "create: RAW device, programs on every interface", test_create_and_programs);
	CU_add_test(s, "no listeners: counts 0, nothing tapped", test_no_listener_counts_zero);
	CU_add_test(s, "tcpdump -i iptap0: veth+lo, IPv4+IPv6, -Q in/out",
		    test_tcpdump_directions);
	CU_add_test(s, "copies never reach the IP stack; routed to it: dropped",
		    test_sink_and_refusal);
	CU_add_test(s, "capture + tshark: ifname, direction, pid, comm (TCP/UDP, v4/v6)",
		    test_capture_attribution);
	CU_add_test(s, "capture --pcapng: interfaces, comments, filters", test_pcapng_capture);
	CU_add_test(s, "64 KiB packets: records cut to fit, ring intact", test_largest_packets);
	CU_add_test(s, "small records of paged packets (snap length): bytes intact",
		    test_small_records_paged);
	CU_add_test(s, "two iptaps both see everything", test_two_iptaps);
	CU_add_test(s, "interface added later is tapped within 1 s", test_new_interface_tapped);
	CU_add_test(s, "destroying the last iptap removes every program",
		    test_destroy_last_removes_programs);
	CU_add_test(s, "feth pair: both directions, IPv4+IPv6", test_feth_pair);
	CU_add_test(s, "ip link del iptap0: forgotten, programs removed", test_ip_link_del);
	CU_add_test(s, "loader SIGKILLed: restart removes its programs",
		    test_loader_killed_restart_cleans);
	CU_add_test(s, "ip netns del: its iptaps go within 5 s", test_namespace_deleted);
	CU_add_test(s, "tcx: one link per hook of every interface, pinned; none after destroy",
		    test_tcx_links);
	CU_add_test(s, "tcx: SIGKILLed loader leaves its links; restart: one program per hook",
		    test_tcx_killed_restart_one_per_hook);
	CU_add_test(s, "upgrade: a killed clsact loader's filters and qdiscs go, tcx next",
		    test_clsact_leftovers_swept_by_tcx_loader);
	CU_add_test(s, "a user's clsact filter and tcx programs keep seeing and passing packets",
		    test_user_tc_programs_keep_working);
	CU_add_test(s, "moved-out interface, ip link del, --teardown: no program or pin left",
		    test_teardown_and_moved_out_leave_nothing);
	CU_add_test(s, "socket older than the first iptap still names its owner",
		    test_socket_older_than_iptap);
	CU_add_test(s, "records of two CPUs in timestamp order, under a flood",
		    test_order_across_cpus);
	CU_add_test(s, "pcapng with several interfaces: tcpdump reads and filters it whole",
		    test_pcapng_whole_for_tcpdump);
	CU_add_test(s, "slow reader: every lost record counted (show, summary)", test_loss_counted);
	CU_add_test(s, "records wrapping around a small ring arrive whole", test_ring_wrap_whole);
	CU_add_test(s, "slow reader, --perf-ring: every record counted", test_loss_counted_perf);
	CU_add_test(s, "reader SIGKILLed: its ring buffers leave iptap_rings, freed",
		    test_killed_reader_rings_freed);
	CU_add_test(s, "unprivileged: no pinned ring, no PKTAP reader", test_unpriv_no_rings);
	CU_add_test(s, "loader and reader SIGKILLed: the restarted loader frees the rings",
		    test_restart_empties_rings);
	CU_add_test(s, "kernel without ring buffers: compat object, capture on the perf ring",
		    test_compat_perf_ring);
	CU_add_test(s, "9th iptap in a namespace refused", test_ninth_iptap_refused);
	CU_add_test(s, "capture exits 1 when the iptap or the loader goes", test_exit_status_when_things_go);
	CU_add_test(s, "full disk: exit 1 with ENOSPC, file holds what the summary says",
		    test_write_error_full_disk);
	CU_add_test(s, "pid -1 without owner; svc from SO_PRIORITY", test_pid_unowned_and_svc);
	CU_add_test(s, "a lone packet is in the file within 1 s (watermark wake-ups)",
		    test_lone_packet_written_soon);
	CU_add_test(s, "filters: expression, --pid, --comm, --uid in the kernel", test_filters);
	CU_add_test(s, "capture -- CMD: its packets (and its children's) only", test_capture_command);
	CU_add_test(s, "rotation: -C/-W and -G/-W", test_rotation);
	CU_add_test(s, "extcap: make install, tshark -D lists it, captures live", test_extcap);
	CU_add_test(s, "show hides other users' readers from non-root", test_show_hides_readers);
	CU_add_test(s, "bpftool map event_pipe reads the pinned ring", test_bpftool_event_pipe);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
