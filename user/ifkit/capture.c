// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ifkit iptap capture: the PKTAP reader.
 *
 * It registers with the loader as a PKTAP listener of an iptap (the
 * connection stays open while it reads; the loader gives it a slot and
 * lends it the slot's filter and counter maps and iptap_rings), writes its
 * filters into the kernel before it maps its rings (so no record reaches it
 * unfiltered), and then reads its slot's per-CPU rings with watermark
 * wake-ups (a wake-up per sample would cost most of the CPU at small
 * packets).  The rings are BPF ring buffers (BPF_MAP_TYPE_RINGBUF, one per
 * CPU, created here and put into iptap_rings at the slot's keys): the
 * kernel writes a record there ~65 ns faster than through perf's
 * sample path.  Where they cannot be made (an older kernel or loader), or
 * with --perf-ring, the slot's entries of the iptap_events perf ring are
 * used, read the same way.
 *
 * Order: each CPU's ring is in time order, the rings together are not.
 * A record is written out once a look at every ring that began after its
 * timestamp (plus a margin) has found nothing older: a merge of the rings'
 * fronts, in place in the mmap'ed rings (perf's "round" flush, without
 * copying the records out).  A ring's space is handed back to the kernel
 * only as far as its records have been written out, so records waiting
 * for their round occupy the ring, never a copy (a copy of every 64 KiB
 * TCP record was most of the reader's CPU).
 *
 * Loss: the kernel counts, per slot, every record it wrote, could not write
 * because the ring was full, or filtered.  At the end the reader unmaps its
 * rings (the kernel stops writing to them), drains them, and reads the
 * counters: the summary is exact.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "cli.h"
#include "ctl.h"
#include "iptap.h"
#include "iptap_filter.h"
#include "iptap_util.h"
#include "names.h"
#include "pcap.h"

#define RING_PAGES		4096		/* per CPU: 16 MiB (-B changes it) */
#define REORDER_MARGIN_NS	2000000ULL	/* a record being written while we look */

/*
 * One CPU's ring, read in place.  pos is the next record not yet written
 * out (the perf ring's data_tail, the BPF ring buffer's consumer position,
 * is moved up to it); front is that record decoded, kept from one round to
 * the next while it waits for its round.
 */
struct ring {
	struct perf_event_mmap_page *meta;	/* perf ring */
	uint64_t *cons;				/* BPF ring buffer: consumer position (rw page) */
	const uint64_t *prod;			/* its producer position (ro page) */
	size_t prod_len;			/* the read-only mapping: page + data twice */
	int fd;					/* the ring buffer map, -1 for a perf ring */
	const uint8_t *data;
	uint64_t size;			/* data bytes, a power of 2 */
	uint64_t pos, head, released;
	bool have;			/* front decoded */
	uint64_t next;			/* pos after the front record */
	uint64_t ts;			/* its time, ns since the epoch */
	uint32_t caplen, origlen;
	struct pktap_header h;
	const uint8_t *pkt;
	uint8_t *wrap;			/* a record that wraps around the ring's end, joined */
};

struct capture {
	/* options */
	const char *file;		/* NULL: text to stdout */
	bool ng, text;
	uint64_t count;
	uint32_t snaplen;
	uint32_t ring_pages;		/* per CPU, a power of 2 */
	uint64_t rotate_bytes;		/* -C */
	unsigned int rotate_files;	/* -W */
	unsigned int rotate_secs;	/* -G */
	struct iptap_filter filter;
	const char *expr;
	struct iptap_expr *prog;	/* the expression, for records the kernel could not decide */
	bool jit;			/* the kernel runs it as eBPF: its verdict is final */
	char **cmd;			/* -- CMD ARGS */

	/* output */
	struct pcap_writer w;
	int fd;
	unsigned int file_index;
	time_t file_opened;
	char path[4096];
	FILE *out;			/* text */
	uint64_t written;		/* records in files already closed */

	/* the rings, merged in place */
	bool perf_ring;			/* --perf-ring, or no BPF ring buffer here */
	struct ring *rings;
	struct ring **rheap;		/* rings_round()'s heap */
	int nrings;

	/* counts */
	uint64_t read, filtered_here, bad, ring_lost;
	int64_t tai_off;		/* CLOCK_TAI - CLOCK_REALTIME, ns */
	bool done;
	int err;			/* first write error */
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
"Usage: ifkit iptap capture [-i iptapN] [-w FILE|-] [--pcapng] [-c COUNT] [-s SNAPLEN]\n"
"                           [-C MB] [-W FILES] [-G SECS] [--pid PID] [--comm NAME]\n"
"                           [--uid USER] [EXPRESSION] [-- CMD [ARGS...]]\n"
"  -i iptapN     the iptap to listen on (default: the first in this namespace)\n"
"  -w FILE       write a capture file (- = stdout); default: one text line per\n"
"                packet, as tcpdump -n, with interface, direction, pid and command\n"
"  --pcapng      pcapng (interface per block, direction, process in each comment;\n"
"                link type LINUX_SLL2) instead of pcap LINKTYPE_PKTAP\n"
"  -c COUNT      stop after COUNT packets\n"
"  -s SNAPLEN    bytes of each IP packet to keep (default %u)\n"
"  -B KiB        ring per CPU, as tcpdump's buffer size (default 16384)\n"
"  --perf-ring   the perf ring (iptap_events) instead of BPF ring buffers\n"
"  -C MB         start a new file when this one passes MB million bytes (FILE,\n"
"                FILE1, FILE2...; with -W, FILE0..FILE<W-1> in turn)\n"
"  -W FILES      with -C: reuse FILES names in turn; with -G: stop after FILES files\n"
"  -G SECS       start a new file every SECS seconds; FILE goes through strftime(3)\n"
"  --pid PID     only packets of sockets owned by process PID\n"
"  --comm NAME   only packets of sockets owned by a process with this command name\n"
"  --uid USER    only packets of sockets owned by this user (name or number)\n"
"  EXPRESSION    pcap-filter(7) expression on the IP packet, run in the kernel\n"
"  -- CMD ARGS   run CMD in a cgroup of its own and capture only its packets (and\n"
"                its children's) until it exits\n"
"Ctrl-C stops it.  The summary counts packets captured, lost in the kernel (ring\n"
"full) and filtered; the exit status is 1 when the loader or the iptap goes away\n"
"or a write fails.\n",
		IPTAP_DEFAULT_SNAPLEN);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- output files ------------------------------------------------------- */

static void file_name(struct capture *c, time_t now, char *out, size_t len)
{
	char base[4000];

	if (c->rotate_secs) {
		struct tm tm;

		localtime_r(&now, &tm);
		if (!strftime(base, sizeof(base), c->file, &tm))
			snprintf(base, sizeof(base), "%s", c->file);
	} else {
		snprintf(base, sizeof(base), "%s", c->file);
	}
	if (c->rotate_bytes && c->rotate_files) {
		char num[16];
		int width = 1;

		for (unsigned int n = c->rotate_files - 1; n >= 10 && width < 6; n /= 10)
			width++;
		snprintf(num, sizeof(num), "%0*u", width, c->file_index % c->rotate_files);
		snprintf(out, len, "%s%s", base, num);
	} else if (c->rotate_bytes && c->file_index) {
		snprintf(out, len, "%s%u", base, c->file_index);
	} else {
		snprintf(out, len, "%s", base);
	}
}

static int file_open(struct capture *c)
{
	int err;

	c->file_opened = time(NULL);
	if (!strcmp(c->file, "-")) {
		c->fd = STDOUT_FILENO;
		snprintf(c->path, sizeof(c->path), "(stdout)");
	} else {
		file_name(c, c->file_opened, c->path, sizeof(c->path));
		c->fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->fd < 0) {
			err = -errno;
			fprintf(stderr, "ifkit: capture: %s: %s\n", c->path, strerror(-err));
			return err;
		}
	}
	err = pcap_writer_open(&c->w, c->fd, c->ng, c->snaplen);
	if (err)
		fprintf(stderr, "ifkit: capture: %s: write: %s\n", c->path, strerror(-err));
	return err;
}

/* Close the current file; 0 or the write error (reported). */
static int file_close(struct capture *c)
{
	int err;

	if (c->fd < 0)
		return 0;
	err = pcap_writer_close(&c->w);
	if (err == -EPIPE)
		err = 0;	/* the reader of the pipe is gone: nobody to tell */
	c->written += c->w.packets;
	c->w.packets = 0;
	if (c->fd != STDOUT_FILENO && close(c->fd) && !err)
		err = -errno;
	c->fd = -1;
	if (err && !c->err) {
		c->err = err;
		fprintf(stderr, "ifkit: capture: %s: write: %s\n", c->path, strerror(-err));
	}
	return err;
}

/* tcpdump's -C/-G/-W: a new file when this one is full or old enough. */
static int maybe_rotate(struct capture *c, time_t now)
{
	bool by_size = c->rotate_bytes && pcap_writer_size(&c->w) >= c->rotate_bytes;
	bool by_time = c->rotate_secs && now - c->file_opened >= (time_t)c->rotate_secs;

	if (c->text || c->fd < 0 || !strcmp(c->file, "-") || (!by_size && !by_time))
		return 0;
	if (file_close(c))
		return c->err;
	c->file_index++;
	if (c->rotate_secs && !c->rotate_bytes && c->rotate_files &&
	    c->file_index >= c->rotate_files) {
		c->done = true;		/* -G with -W: that many files, then stop */
		return 0;
	}
	return file_open(c);
}

static uint64_t total_written(const struct capture *c)
{
	return c->written + (c->fd >= 0 ? c->w.packets + c->w.pending : 0) + (c->text ? 0 : 0);
}

/* ---- one record out ------------------------------------------------------ */

static void emit(struct capture *c, const struct ring *r)
{
	if (c->done || c->err)
		return;
	if (c->text) {
		capture_text_line(c->out, &r->h, r->pkt, r->caplen, r->origlen, r->ts);
		c->written++;
	} else {
		if (maybe_rotate(c, (time_t)(r->ts / 1000000000ULL)) || c->done)
			return;
		if (pcap_writer_packet(&c->w, &r->h, r->pkt, r->caplen, r->origlen, r->ts)) {
			c->err = c->w.err;
			if (c->err != -EPIPE)	/* a closed pipe is reported as an end */
				fprintf(stderr, "ifkit: capture: %s: write: %s\n", c->path,
				strerror(-c->err));
			return;
		}
	}
	if (c->count && total_written(c) >= c->count)
		c->done = true;
}

/* ---- the rings, merged in place ------------------------------------------- */

/* Give the kernel back the ring space of the records written out. */
static void ring_release(struct ring *r)
{
	if (r->released == r->pos)
		return;
	if (r->cons)
		__atomic_store_n(r->cons, r->pos, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&r->meta->data_tail, r->pos, __ATOMIC_RELEASE);
	r->released = r->pos;
}

/* The record's time (CLOCK_TAI in the ring) to wall-clock time, in h and r->ts. */
static void front_time(struct capture *c, struct ring *r)
{
	uint64_t ts = (uint64_t)r->h.pth_tstamp.tv_sec * 1000000000ULL +
		      (uint64_t)r->h.pth_tstamp.tv_usec * 1000ULL;

	ts -= (uint64_t)c->tai_off;
	r->h.pth_tstamp.tv_sec = (int32_t)(ts / 1000000000ULL);
	r->h.pth_tstamp.tv_usec = (int32_t)(ts / 1000 % 1000000);
	r->ts = ts;
}

/*
 * A record's payload (PKTAP header + frame) becomes the ring's front record,
 * or is counted and skipped (false): malformed, or refused by the expression
 * here (what the kernel could not decide: bytes beyond its copy).
 */
static bool front_take(struct capture *c, struct ring *r, const uint8_t *payload, uint32_t len)
{
	c->read++;
	if (iptap_record_decode(payload, len, &r->h, &r->pkt, &r->caplen, &r->origlen)) {
		c->bad++;
		return false;
	}
	if (c->prog && !c->jit && !iptap_expr_match(c->prog, r->pkt, r->caplen, r->origlen)) {
		c->filtered_here++;
		return false;
	}
	front_time(c, r);
	r->have = true;
	return true;
}

/*
 * ring_front() of a BPF ring buffer: [u32 len | busy/discard bits][u32][data],
 * 8-byte aligned, never wrapping (the kernel maps the data twice).  A record
 * still being written (busy) ends what can be read now: the ring's later
 * records wait behind it, as the perf ring's head waits for its writer.
 */
static bool ringbuf_front(struct capture *c, struct ring *r)
{
	while (!r->have && r->pos < r->head) {
		const uint8_t *rec = r->data + (r->pos & (r->size - 1));
		uint32_t len = __atomic_load_n((const uint32_t *)rec, __ATOMIC_ACQUIRE);
		uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);

		if (len & BPF_RINGBUF_BUSY_BIT)
			break;
		r->next = r->pos + ((BPF_RINGBUF_HDR_SZ + size + 7) & ~7ULL);
		if (r->next > r->head) {
			c->bad++;		/* cannot be: resynchronize at the head */
			r->pos = r->head;
			break;
		}
		if (len & BPF_RINGBUF_DISCARD_BIT) {
			r->pos = r->next;
			continue;
		}
		if (!front_take(c, r, rec + BPF_RINGBUF_HDR_SZ, size))
			r->pos = r->next;
	}
	return r->have;
}

/*
 * Decode the ring's front record (up to r->head) into r->h/pkt/ts, skipping
 * what is not a record for the file (lost notes, malformed records, records
 * the expression refuses here).  False when the ring has nothing more.
 */
static bool ring_front(struct capture *c, struct ring *r)
{
	if (r->cons)
		return ringbuf_front(c, r);
	while (!r->have && r->pos < r->head) {
		const struct perf_event_header *ev =
			(const void *)(r->data + (r->pos & (r->size - 1)));
		uint64_t off = r->pos & (r->size - 1);
		const uint8_t *rec = (const uint8_t *)ev;
		uint16_t type = ev->type, size = ev->size;
		uint32_t raw;

		if (size < sizeof(*ev) || size > r->head - r->pos) {
			c->bad++;		/* cannot be: resynchronize at the head */
			r->pos = r->head;
			break;
		}
		if (off + size > r->size) {
			/* Wraps around the end: join the two parts (rare). */
			uint64_t first = r->size - off;

			if (!r->wrap) {
				r->wrap = malloc(1u << 16);
				if (!r->wrap) {
					c->bad++;
					r->pos += size;
					continue;
				}
			}
			memcpy(r->wrap, rec, first);
			memcpy(r->wrap + first, r->data, size - first);
			rec = r->wrap;
		}
		r->next = r->pos + size;
		if (type == PERF_RECORD_LOST) {
			uint64_t lost;

			memcpy(&lost, rec + sizeof(*ev) + 8, sizeof(lost));
			c->ring_lost += lost;
			r->pos = r->next;
			continue;
		}
		if (type != PERF_RECORD_SAMPLE) {
			r->pos = r->next;
			continue;
		}
		memcpy(&raw, rec + sizeof(*ev), sizeof(raw));
		if (raw > size - sizeof(*ev) - sizeof(raw)) {
			c->read++;
			c->bad++;
			r->pos = r->next;
			continue;
		}
		if (!front_take(c, r, rec + sizeof(*ev) + sizeof(raw), raw))
			r->pos = r->next;
	}
	return r->have;
}

/* The rings with a record, a min-heap on their front record's time. */
static void rheap_down(struct ring **h, int n, int i)
{
	struct ring *r = h[i];

	for (;;) {
		int l = 2 * i + 1, m = l;

		if (l >= n)
			break;
		if (l + 1 < n && h[l + 1]->ts < h[l]->ts)
			m = l + 1;
		if (h[m]->ts >= r->ts)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = r;
}

/*
 * One round: look at every ring's head, then write out, oldest first, the
 * records older than before_ns (ns since the epoch): a look at the heads
 * that began after before_ns found every record older than it.  The rings
 * are merged through a heap of their fronts: O(log CPUs) per record.
 */
static void rings_round(struct capture *c, uint64_t before_ns)
{
	struct ring **h = c->rheap;
	int n = 0;

	for (int i = 0; i < c->nrings; i++) {
		struct ring *r = &c->rings[i];

		r->head = r->prod ? __atomic_load_n(r->prod, __ATOMIC_ACQUIRE) :
			  __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
		if (ring_front(c, r))
			h[n++] = r;
	}
	for (int i = n / 2 - 1; i >= 0; i--)
		rheap_down(h, n, i);
	while (n && h[0]->ts < before_ns) {
		struct ring *r = h[0];

		emit(c, r);
		r->have = false;
		r->pos = r->next;
		/* Hand space back during a long round too, not only at its end. */
		if (r->pos - r->released >= r->size / 8)
			ring_release(r);
		if (!ring_front(c, r))
			h[0] = h[--n];
		if (n)
			rheap_down(h, n, 0);
	}
	for (int i = 0; i < c->nrings; i++)
		ring_release(&c->rings[i]);
}

/* Records are read from the mmap'ed rings by rings_round(), never by libbpf. */
static enum bpf_perf_event_ret on_event(void *ctx, int cpu, struct perf_event_header *ev)
{
	(void)ctx;
	(void)cpu;
	(void)ev;
	return LIBBPF_PERF_EVENT_CONT;
}

/* ---- setup --------------------------------------------------------------- */

static int compile_filter(struct capture *c)
{
	char why[512];
	int err;

	err = iptap_expr_compile(c->expr, c->snaplen, &c->filter, &c->prog, why, sizeof(why));
	if (err) {
		fprintf(stderr, "ifkit: capture: filter '%s': %s\n", c->expr,
			err == -EINVAL ? why : strerror(-err));
		return err;
	}
	if (!(c->filter.flags & IPTAP_RF_BPF))
		fprintf(stderr, "ifkit: capture: filter has %u instructions (the kernel takes %d): "
			"applied here only\n", iptap_expr_len(c->prog), IPTAP_FILTER_MAX);
	return 0;
}

static int cgroup2_mount_in(const char *mounts, const char *prefix, char *out, size_t len)
{
	FILE *f = fopen(mounts, "re");
	char dev[256], dir[512], type[64];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %511s %63s %*s %*d %*d", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, len, "%s%s", prefix, dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/*
 * The cgroup v2 hierarchy.  Inside `ip netns exec` (a fresh /sys without
 * it) we mount it on a directory of our own, unmounted at the end (*mounted).
 */
static int cgroup2_root(char *out, size_t len, char *mounted, size_t mlen)
{
	char dir[] = "/tmp/ifkit-cgroup.XXXXXX";

	mounted[0] = '\0';
	if (cgroup2_mount_in("/proc/self/mounts", "", out, len) == 0)
		return 0;
	if (!mkdtemp(dir))
		return -errno;
	if (mount("cgroup2", dir, "cgroup2", 0, NULL) < 0) {
		int err = -errno;

		rmdir(dir);
		return err;
	}
	snprintf(out, len, "%s", dir);
	snprintf(mounted, mlen, "%s", dir);
	return 0;
}

struct child {
	pid_t pid;
	int go_fd;		/* closing it lets the child exec */
	char cg[600];		/* its cgroup directory, "" if none */
	char mnt[64];		/* cgroup2 we mounted for it, "" if none */
	int status;
	bool exited;
};

/*
 * `-- CMD`: a cgroup of its own (its id goes into the filter), the child
 * moves itself there and waits until the filter is in the kernel.
 */
static int child_start(struct capture *c, struct child *ch)
{
	char root[512];
	struct stat st;
	int go[2], err;

	err = cgroup2_root(root, sizeof(root), ch->mnt, sizeof(ch->mnt));
	if (err) {
		fprintf(stderr, "ifkit: capture: -- CMD needs cgroup v2: %s\n", strerror(-err));
		return err;
	}
	snprintf(ch->cg, sizeof(ch->cg), "%s/ifkit-capture-%d", root, (int)getpid());
	if (mkdir(ch->cg, 0755) < 0 || stat(ch->cg, &st) < 0) {
		err = -errno;
		fprintf(stderr, "ifkit: capture: %s: %s\n", ch->cg, strerror(-err));
		ch->cg[0] = '\0';
		return err;
	}
	c->filter.flags |= IPTAP_RF_CGROUP;
	c->filter.cgroup_id = (__u64)st.st_ino;	/* a cgroup v2 id is its inode number */
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	ch->pid = fork();
	if (ch->pid < 0) {
		err = -errno;
		close(go[0]);
		close(go[1]);
		return err;
	}
	if (ch->pid == 0) {
		char path[700], b;
		int fd;

		close(go[1]);
		snprintf(path, sizeof(path), "%s/cgroup.procs", ch->cg);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			fprintf(stderr, "ifkit: capture: %s: %s\n", path, strerror(errno));
			_exit(127);
		}
		close(fd);
		while (read(go[0], &b, 1) < 0 && errno == EINTR)
			;
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execvp(c->cmd[0], c->cmd);
		fprintf(stderr, "ifkit: capture: %s: %s\n", c->cmd[0], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	ch->go_fd = go[1];
	return 0;
}

static void child_reap(struct child *ch, bool wait_it)
{
	if (ch->pid <= 0 || ch->exited)
		return;
	if (waitpid(ch->pid, &ch->status, wait_it ? 0 : WNOHANG) == ch->pid)
		ch->exited = true;
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

/* A map of the reader's slot, lent by the loader on the LISTEN connection. */
static int reader_map(int sock, unsigned int which, bool quiet)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int fd = -1, err;

	ctl_req_init(&req, IFKIT_CMD_IPTAP_READER_MAP);
	req.value = which;
	memset(&rep, 0, sizeof(rep));
	err = ctl_call(sock, &req, -1, &rep, NULL, NULL, &fd);
	if (err) {
		if (!quiet)
			cli_report(&rep, err, "capture: reader map");
		return err;
	}
	return fd < 0 ? -EPROTO : fd;
}

/*
 * Ask the loader to run our filter program as eBPF (freplace of the slot's
 * stub) instead of in the kernel's cBPF interpreter.  Either way the filter
 * runs in the kernel; on failure the reason is said once.
 */
static void filter_jit(struct capture *c, int sock)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int err;

	ctl_req_init(&req, IFKIT_CMD_IPTAP_FILTER_JIT);
	memset(&rep, 0, sizeof(rep));
	err = ctl_call(sock, &req, -1, &rep, NULL, NULL, NULL);
	if (err) {
		fprintf(stderr, "ifkit: capture: the filter runs in the kernel's cBPF interpreter "
			"(eBPF translation: %s)\n", rep.msg[0] ? rep.msg : strerror(-err));
		return;
	}
	c->jit = true;
}

static void ringbufs_close(struct capture *c)
{
	long page = sysconf(_SC_PAGESIZE);

	for (int i = 0; c->rings && i < c->nrings; i++) {
		struct ring *r = &c->rings[i];

		if (r->cons)
			munmap(r->cons, (size_t)page);
		if (r->prod)
			munmap((void *)r->prod, r->prod_len);
		if (r->fd >= 0)
			close(r->fd);
		r->cons = NULL;
		r->prod = NULL;
		r->fd = -1;
	}
	c->nrings = 0;
}

/*
 * Our BPF ring buffers: one per CPU of ring_pages pages, mmap'ed as
 * libbpf's ring_buffer does (the consumer page read-write, the producer page
 * and the data, mapped twice by the kernel, read-only), woken by epfd
 * (edge-triggered: a ring with records waiting for their round must not
 * wake us again and again), then put into iptap_rings at the slot's keys,
 * from which point the kernel writes into them.  On failure nothing stays
 * in iptap_rings.
 */
static int ringbufs_open(struct capture *c, int rings_fd, const int *keys, int ncpu, int epfd)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = (size_t)c->ring_pages * 4096;
	int err = 0, i;

	for (i = 0; i < ncpu; i++) {
		struct ring *r = &c->rings[i];
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
		void *p;

		r->fd = -1;
		c->nrings++;
		r->fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "iptap_ring", 0, 0, (__u32)size, NULL);
		if (r->fd < 0) {
			err = -errno;
			goto cleanup;
		}
		p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
		if (p == MAP_FAILED) {
			err = -errno;
			goto cleanup;
		}
		r->cons = p;
		r->prod_len = (size_t)page + 2 * size;
		p = mmap(NULL, r->prod_len, PROT_READ, MAP_SHARED, r->fd, page);
		if (p == MAP_FAILED) {
			err = -errno;
			goto cleanup;
		}
		r->prod = p;
		r->data = (const uint8_t *)p + page;
		r->size = size;
		r->pos = r->released = *r->cons;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &ev)) {
			err = -errno;
			goto cleanup;
		}
	}
	for (i = 0; i < ncpu; i++) {
		__u32 key = (__u32)keys[i];

		if (bpf_map_update_elem(rings_fd, &key, &c->rings[i].fd, BPF_ANY)) {
			err = -errno;
			goto cleanup;
		}
	}
	return 0;
cleanup:
	for (int j = 0; j < ncpu; j++) {
		__u32 key = (__u32)keys[j];

		bpf_map_delete_elem(rings_fd, &key);
	}
	ringbufs_close(c);
	return err;
}

static void slot_stats(int fd, uint32_t slot, int ncpu, struct iptap_reader_stat *sum)
{
	struct iptap_reader_stat *per = calloc((size_t)ncpu, sizeof(*per));

	memset(sum, 0, sizeof(*sum));
	if (per && bpf_map_lookup_elem(fd, &slot, per) == 0) {
		for (int i = 0; i < ncpu; i++) {
			sum->records += per[i].records;
			sum->lost += per[i].lost;
			sum->unmapped += per[i].unmapped;
			sum->filtered += per[i].filtered;
		}
	}
	free(per);
}

/* Why the LISTEN connection closed: the loader is gone, or only the iptap. */
static int why_gone(struct cli *cli, const char *ifname)
{
	int s = ctl_connect(cli->sock_path);

	if (s < 0) {
		fprintf(stderr, "ifkit: capture: the loader at %s went away (%s)\n",
			cli->sock_path, strerror(-s));
		return s;
	}
	close(s);
	fprintf(stderr, "ifkit: capture: %s was destroyed (%s)\n", ifname, strerror(ENODEV));
	return -ENODEV;
}

static int parse_uid(const char *s, uint32_t *uid)
{
	struct passwd *pw;
	unsigned int n;

	if (cli_parse_uint(s, &n) == 0) {
		*uid = n;
		return 0;
	}
	pw = getpwnam(s);
	if (!pw)
		return -ENOENT;
	*uid = (uint32_t)pw->pw_uid;
	return 0;
}

/* The command line into c; EXIT_OK to go on, else the exit status. */
static int parse_args(struct capture *c, const char **ifname, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "buffer-size", required_argument, NULL, 'B' },
		{ "pcapng", no_argument, NULL, 'n' },
		{ "pid", required_argument, NULL, 'P' },
		{ "comm", required_argument, NULL, 'm' },
		{ "uid", required_argument, NULL, 'u' },
		{ "perf-ring", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned int v;
	int nopt = argc, opt;
	static char expr[4096];
	size_t off = 0;

	/* "--" ends our options: what follows is the command to run. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			nopt = i;
			c->cmd = argv + i + 1;
			if (!c->cmd[0]) {
				fprintf(stderr, "ifkit: capture: '--' without a command\n");
				return EXIT_USAGE;
			}
			break;
		}
	}
	optind = 1;
	while ((opt = getopt_long(nopt, argv, "i:w:c:s:B:C:W:G:nh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (!ifname_valid(optarg)) {
				fprintf(stderr, "ifkit: capture: invalid interface '%s'\n", optarg);
				return EXIT_USAGE;
			}
			*ifname = optarg;
			break;
		case 'w': c->file = optarg; break;
		case 'c':
			if (cli_parse_uint(optarg, &v) || !v) {
				fprintf(stderr, "ifkit: capture: invalid count '%s'\n", optarg);
				return EXIT_USAGE;
			}
			c->count = v;
			break;
		case 's':
			if (cli_parse_uint(optarg, &v) || v < 20 || v > IPTAP_DEFAULT_SNAPLEN) {
				fprintf(stderr, "ifkit: capture: snaplen must be 20..%u\n",
					IPTAP_DEFAULT_SNAPLEN);
				return EXIT_USAGE;
			}
			c->snaplen = v;
			break;
		case 'B':
			if (cli_parse_uint(optarg, &v) || v < 8 || v > 1048576) {
				fprintf(stderr, "ifkit: capture: -B takes 8..1048576 (KiB per CPU)\n");
				return EXIT_USAGE;
			}
			c->ring_pages = 1;
			while (c->ring_pages * 2 <= v / 4)	/* pages of 4 KiB, a power of 2 */
				c->ring_pages *= 2;
			break;
		case 'C':
			if (cli_parse_uint(optarg, &v) || !v || v > 1000000) {
				fprintf(stderr, "ifkit: capture: -C takes 1..1000000 (MB)\n");
				return EXIT_USAGE;
			}
			c->rotate_bytes = (uint64_t)v * 1000000ULL;
			break;
		case 'W':
			if (cli_parse_uint(optarg, &v) || !v || v > 100000) {
				fprintf(stderr, "ifkit: capture: -W takes 1..100000 files\n");
				return EXIT_USAGE;
			}
			c->rotate_files = v;
			break;
		case 'G':
			if (cli_parse_uint(optarg, &v) || !v) {
				fprintf(stderr, "ifkit: capture: invalid -G '%s' (seconds)\n", optarg);
				return EXIT_USAGE;
			}
			c->rotate_secs = v;
			break;
		case 'n': c->ng = true; break;
		case 'R': c->perf_ring = true; break;
		case 'P':
			if (cli_parse_uint(optarg, &v) || !v || v > 0x7fffffff) {
				fprintf(stderr, "ifkit: capture: invalid pid '%s'\n", optarg);
				return EXIT_USAGE;
			}
			c->filter.flags |= IPTAP_RF_PID;
			c->filter.pid = (int32_t)v;
			break;
		case 'm':
			if (!optarg[0] || strlen(optarg) > 15) {
				fprintf(stderr, "ifkit: capture: --comm takes 1..15 characters "
					"(the kernel's command name)\n");
				return EXIT_USAGE;
			}
			c->filter.flags |= IPTAP_RF_COMM;
			memset(c->filter.comm, 0, sizeof(c->filter.comm));
			memcpy(c->filter.comm, optarg, strlen(optarg));
			break;
		case 'u':
			if (parse_uid(optarg, &c->filter.uid)) {
				fprintf(stderr, "ifkit: capture: no user '%s'\n", optarg);
				return EXIT_USAGE;
			}
			c->filter.flags |= IPTAP_RF_UID;
			break;
		case 'h': cap_usage(stdout); return -1;
		default: cap_usage(stderr); return EXIT_USAGE;
		}
	}
	/* The rest (before "--") is the filter expression, as tcpdump takes it. */
	for (int i = optind; i < nopt; i++) {
		int n = snprintf(expr + off, sizeof(expr) - off, "%s%s", off ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(expr) - off) {
			fprintf(stderr, "ifkit: capture: filter expression too long\n");
			return EXIT_USAGE;
		}
		off += (size_t)n;
	}
	if (off)
		c->expr = expr;
	if ((c->rotate_bytes || c->rotate_secs || c->rotate_files) &&
	    (!c->file || !strcmp(c->file, "-"))) {
		fprintf(stderr, "ifkit: capture: -C, -G and -W need -w FILE\n");
		return EXIT_USAGE;
	}
	if (c->rotate_files && !c->rotate_bytes && !c->rotate_secs) {
		fprintf(stderr, "ifkit: capture: -W goes with -C or -G\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int iptap_capture(struct cli *cli, int argc, char **argv)
{
	const char *ifname = "";
	struct capture *c;
	struct child ch = { .pid = -1, .go_fd = -1 };
	struct ifkit_req req;
	struct ifkit_rep rep;
	struct perf_event_attr attr = { 0 };
	struct perf_buffer *pb = NULL;
	struct iptap_reader_stat rs = { 0 };
	char pin_dir[128], path[256], devname[IFNAMSIZ] = "";
	int sock = -1, ns_fd, map_fd = -1, filters_fd = -1, stats_fd = -1, rings_fd = -1, ncpu, err;
	int epfd = -1;
	int ret = EXIT_FAIL;
	int *cpus = NULL, *keys = NULL;
	uint32_t slot = 0;
	bool gone = false, have_stats = false;
	struct sigaction sa = { 0 };

	c = calloc(1, sizeof(*c));
	if (!c)
		return EXIT_FAIL;
	c->fd = -1;
	c->snaplen = IPTAP_DEFAULT_SNAPLEN;
	c->ring_pages = RING_PAGES;
	ret = parse_args(c, &ifname, argc, argv);
	if (ret) {
		free(c);
		return ret < 0 ? EXIT_OK : ret;
	}
	ret = EXIT_FAIL;
	if (c->expr && compile_filter(c)) {
		free(c);
		return EXIT_USAGE;
	}
	if (pin_dir_of(cli, pin_dir, sizeof(pin_dir)))
		goto out;

	c->text = !c->file;
	c->tai_off = clock_ns(CLOCK_TAI) - clock_ns(CLOCK_REALTIME);
	if (c->text) {
		c->out = stdout;
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	} else if (file_open(c)) {
		goto out;
	}

	/* Become a PKTAP listener: the connection stays open while we read. */
	sock = ctl_connect(cli->sock_path);
	if (sock < 0) {
		fprintf(stderr, "ifkit: cannot reach the loader at %s: %s\n", cli->sock_path,
			strerror(-sock));
		goto out;
	}
	ctl_req_init(&req, IFKIT_CMD_IPTAP_LISTEN);
	snprintf(req.name, sizeof(req.name), "%s", ifname);
	req.value = c->snaplen;
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
	slot = rep.value;
	snprintf(devname, sizeof(devname), "%s", rep.name);

	/* The loader passes the ring; the pin is the way when it did not. */
	snprintf(path, sizeof(path), "%s/iptap_events", pin_dir);
	if (map_fd < 0)
		map_fd = bpf_obj_get(path);
	if (map_fd < 0) {
		fprintf(stderr, "ifkit: capture: %s: %s\n", path, strerror(errno));
		goto out;
	}
	filters_fd = reader_map(sock, 0, false);
	stats_fd = reader_map(sock, 1, false);
	if (filters_fd < 0 || stats_fd < 0)
		goto out;
	if (c->cmd && child_start(c, &ch))
		goto out;
	/* Filters before rings: no record reaches us unfiltered. */
	if (bpf_map_update_elem(filters_fd, &slot, &c->filter, BPF_ANY)) {
		fprintf(stderr, "ifkit: capture: iptap_filters[%u]: %s\n", slot, strerror(errno));
		goto out;
	}
	if (c->filter.flags & IPTAP_RF_BPF)
		filter_jit(c, sock);
	ncpu = libbpf_num_possible_cpus();
	cpus = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(int));
	keys = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(int));
	if (ncpu <= 0 || !cpus || !keys)
		goto out;
	for (int i = 0; i < ncpu; i++) {
		cpus[i] = i;
		keys[i] = (int)(slot * (unsigned int)ncpu) + i;
	}
	c->rings = calloc((size_t)ncpu, sizeof(*c->rings));
	c->rheap = calloc((size_t)ncpu, sizeof(*c->rheap));
	if (!c->rings || !c->rheap)
		goto out;
	if (!c->perf_ring) {
		/* BPF ring buffers, unless the loader or the kernel has none. */
		rings_fd = reader_map(sock, 2, true);
		epfd = epoll_create1(EPOLL_CLOEXEC);
		err = rings_fd < 0 ? rings_fd : epfd < 0 ? -errno :
		      ringbufs_open(c, rings_fd, keys, ncpu, epfd);
		if (err) {
			fprintf(stderr, "ifkit: capture: no BPF ring buffer (%s): perf ring\n",
				strerror(-err));
			c->perf_ring = true;
			if (epfd >= 0)
				close(epfd);
			epfd = -1;
		}
	}
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_BPF_OUTPUT;
	attr.sample_type = PERF_SAMPLE_RAW;
	attr.watermark = 1;
	attr.wakeup_watermark = c->ring_pages * 4096 / 32;
	if (c->perf_ring) {
		LIBBPF_OPTS(perf_buffer_raw_opts, popts, .cpu_cnt = ncpu, .cpus = cpus,
			    .map_keys = keys);

		pb = perf_buffer__new_raw(map_fd, c->ring_pages, &attr, on_event, c, &popts);
		if (!pb) {
			fprintf(stderr, "ifkit: capture: perf ring: %s\n", strerror(errno));
			goto out;
		}
		epfd = perf_buffer__epoll_fd(pb);
	}
	for (int i = 0; pb && i < ncpu; i++) {
		struct ring *r = &c->rings[i];
		void *base;
		size_t size;

		if (perf_buffer__buffer(pb, i, &base, &size)) {
			fprintf(stderr, "ifkit: capture: perf ring of CPU %d missing\n", i);
			goto out;
		}
		r->meta = base;
		r->data = (const uint8_t *)base + (r->meta->data_offset ? r->meta->data_offset :
						   (uint64_t)sysconf(_SC_PAGESIZE));
		r->size = r->meta->data_size ? r->meta->data_size : size;
		r->pos = r->released = r->meta->data_tail;
		r->fd = -1;
		c->nrings++;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "ifkit: capturing on %s (snaplen %u, %s %u KiB per CPU%s%s%s)%s%s\n",
		devname, c->snaplen, c->perf_ring ? "perf ring" : "BPF ring buffer",
		c->ring_pages * 4,
		c->text ? "" : c->ng ? ", pcapng" : ", pcap LINKTYPE_PKTAP",
		c->expr ? ", filter: " : "", c->expr ? c->expr : "",
		c->cmd ? ", running " : "", c->cmd ? c->cmd[0] : "");
	if (ch.go_fd >= 0) {
		close(ch.go_fd);	/* the command may start */
		ch.go_fd = -1;
	}

	while (!stop && !c->done && !c->err) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN | POLLRDHUP };
		uint64_t round;

		struct epoll_event evs[8];

		/* Woken by a ring's watermark, or every 100 ms. */
		err = epoll_wait(epfd, evs, 8, 100);
		if (err < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "ifkit: capture: ring: %s\n", strerror(-err));
			c->err = err;
			break;
		}
		/* Every ring looked at after this moment: older records are all there. */
		round = (uint64_t)(clock_ns(CLOCK_TAI) - c->tai_off) - REORDER_MARGIN_NS;
		rings_round(c, round);
		if (c->text) {
			fflush(c->out);
		} else if (c->fd >= 0 && !c->done && !c->err) {
			/* Live readers (pipes, Wireshark's fifo) get each round at once. */
			if (pcap_writer_flush(&c->w))
				c->err = c->w.err;
			else
				maybe_rotate(c, time(NULL));
		}
		if (c->err == -EPIPE) {
			/* The reader of the pipe stopped (tshark -a, head): a normal end. */
			fprintf(stderr, "ifkit: capture: the reader closed the pipe\n");
			c->err = 0;
			c->done = true;
			break;
		}
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLIN))) {
			gone = true;
			break;
		}
		child_reap(&ch, false);
		if (ch.exited)
			break;
	}
	/*
	 * Unmap our rings (the kernel counts what it can no longer write as
	 * unmapped, not lost), drain them, then the counters are final.
	 */
	for (int i = 0; i < ncpu; i++) {
		__u32 key = (__u32)keys[i];

		bpf_map_delete_elem(c->perf_ring ? map_fd : rings_fd, &key);
	}
	/*
	 * A tap program that found a ring just before it left the array may
	 * still be writing a record (it counts it when done): a few more
	 * looks until what the kernel counted is here (bpftool may have taken
	 * records over: then give up after ~10 ms).
	 */
	for (int tries = 0; ; tries++) {
		rings_round(c, UINT64_MAX);
		slot_stats(stats_fd, slot, ncpu, &rs);
		if (c->read >= rs.records || tries == 10)
			break;
		usleep(1000);
	}
	have_stats = true;
	ret = EXIT_OK;
	if (gone) {
		why_gone(cli, devname);
		ret = EXIT_FAIL;
	}
out:
	if (c->text && c->out && fflush(c->out) && !c->err)
		c->err = -errno;
	if (!c->text)
		file_close(c);
	if (ch.pid > 0) {
		if (!ch.exited && (stop || gone || c->err))
			kill(ch.pid, SIGTERM);
		child_reap(&ch, true);
		if (ch.exited && WIFEXITED(ch.status) && WEXITSTATUS(ch.status))
			fprintf(stderr, "ifkit: capture: %s exited with status %d\n", c->cmd[0],
				WEXITSTATUS(ch.status));
		else if (ch.exited && WIFSIGNALED(ch.status))
			fprintf(stderr, "ifkit: capture: %s killed by signal %d\n", c->cmd[0],
				WTERMSIG(ch.status));
	}
	if (ch.cg[0] && rmdir(ch.cg) < 0)
		fprintf(stderr, "ifkit: capture: %s: %s (processes of the command remain)\n",
			ch.cg, strerror(errno));
	if (ch.mnt[0] && umount2(ch.mnt, MNT_DETACH) == 0)
		rmdir(ch.mnt);
	if (c->nrings) {
		uint64_t written = total_written(c);

		fprintf(stderr, "%llu packets captured, %llu packets lost in the kernel (ring full)",
			(unsigned long long)written, (unsigned long long)rs.lost);
		if (rs.filtered || c->filtered_here)
			fprintf(stderr, ", %llu filtered in the kernel, %llu here",
				(unsigned long long)rs.filtered,
				(unsigned long long)c->filtered_here);
		if (c->bad)
			fprintf(stderr, ", %llu malformed", (unsigned long long)c->bad);
		fputc('\n', stderr);
		/* Every record the kernel wrote was read unless we stopped early or failed. */
		if (have_stats && !c->done && !c->err && c->read != rs.records)
			fprintf(stderr, "ifkit: capture: %llu records written by the kernel, "
				"%llu read\n", (unsigned long long)rs.records,
				(unsigned long long)c->read);
	}
	if (c->err) {
		if (c->path[0])
			fprintf(stderr, "ifkit: capture: %s: %s; %llu packets are in the file(s)\n",
				c->path, strerror(-c->err), (unsigned long long)total_written(c));
		ret = EXIT_FAIL;
	}
	for (int i = 0; c->rings && i < c->nrings; i++)
		free(c->rings[i].wrap);
	if (!c->perf_ring) {
		ringbufs_close(c);
		if (epfd >= 0)
			close(epfd);	/* ours; the perf ring's belongs to pb */
	}
	perf_buffer__free(pb);
	free(c->rings);
	free(c->rheap);
	iptap_expr_free(c->prog);
	if (map_fd >= 0)
		close(map_fd);
	if (filters_fd >= 0)
		close(filters_fd);
	if (stats_fd >= 0)
		close(stats_fd);
	if (rings_fd >= 0)
		close(rings_fd);
	if (sock >= 0)
		close(sock);
	free(cpus);
	free(keys);
	free(c);
	return ret;
}
