// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for the cBPF -> eBPF translation of iptap reader filters
 * (user/lib/iptap_jit.c).  Input: one byte of instruction count, that many
 * 8-byte classic BPF instructions, then the IP packet.  Every program
 * libpcap's validator accepts (scratch memory zeroed first, as the
 * translation does) must translate, unless it can jump backwards (those
 * stay with the interpreter), and libpcap must not abort on it (1.10.3
 * aborts on opcodes its validator let through); run as root, the translation must also pass the
 * kernel's verifier and return, under BPF_PROG_TEST_RUN, exactly what
 * libpcap's bpf_filter() returns for the packet.  Built and run by
 * `make fuzz-cbpf` with ASan and UBSan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "iptap_filter.h"
#include "iptap_jit.h"

#define BODY_MAX	32
#define PKT_MAX		1500

static uint32_t kernel_verdict(int fd, const uint8_t *pkt, size_t len)
{
	static uint8_t frame[14 + PKT_MAX];
	struct __sk_buff ctx = { .cb = { 14 } };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = 14 + len,
		    .repeat = 1, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));

	memset(frame, 0, 14);
	frame[12] = 0x08;
	memcpy(frame + 14, pkt, len);
	if (bpf_prog_test_run_opts(fd, &topts)) {
		fprintf(stderr, "test run: %s\n", strerror(errno));
		abort();
	}
	return topts.retval;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bpf_insn out[IPTAP_JIT_MAX_INSNS];
	struct iptap_cbpf prog[17 + BODY_MAX];
	unsigned int body, len, n = 0;
	const uint8_t *pkt;
	size_t plen;
	bool back = false;
	char why[256];
	int err, fd;

	if (size < 1)
		return 0;
	body = 1 + data[0] % BODY_MAX;
	if (size < 1 + (size_t)body * 8)
		return 0;
	len = 17 + body;
	prog[0] = (struct iptap_cbpf){ .code = 0x00, .k = 0 };		/* ld #0 */
	for (unsigned int m = 0; m < 16; m++)
		prog[1 + m] = (struct iptap_cbpf){ .code = 0x02, .k = m };	/* st M[m] */
	memcpy(prog + 17, data + 1, (size_t)body * 8);
	pkt = data + 1 + body * 8;
	plen = size - 1 - (size_t)body * 8;
	if (plen > PKT_MAX)
		plen = PKT_MAX;
	if (plen < 20)
		return 0;	/* the taps see IP packets; test runs refuse empty ones */
	if (!iptap_cbpf_valid(prog, len))
		return 0;
	/* libpcap 1.10.3's validator lets unknown opcodes through and bpf_filter() aborts on them. */
	for (unsigned int i = 0; i < len; i++)
		if (!iptap_jit_opcode_known(prog[i].code))
			return 0;
	for (unsigned int i = 0; i < len; i++)
		back |= prog[i].code == 0x05 && (uint64_t)i + 1 + prog[i].k >= len;
	err = iptap_jit_translate(prog, len, out, IPTAP_JIT_MAX_INSNS, &n);
	if (back && err) {
		if (err != -EINVAL)
			abort();	/* reachable backward jumps are the interpreter's */
		return 0;
	}
	if (err) {
		fprintf(stderr, "a valid program did not translate: %s\n", strerror(-err));
		abort();
	}
	if (geteuid() != 0)
		return 0;
	fd = iptap_jit_load(out, n, why, sizeof(why));
	if (fd < 0) {
		fprintf(stderr, "the verifier refused a translation: %s: %s\n", strerror(-fd), why);
		abort();
	}
	if (kernel_verdict(fd, pkt, plen) != iptap_cbpf_filter(prog, pkt, (uint32_t)plen,
							       (uint32_t)plen)) {
		fprintf(stderr, "eBPF %u, libpcap %u\n", kernel_verdict(fd, pkt, plen),
			iptap_cbpf_filter(prog, pkt, (uint32_t)plen, (uint32_t)plen));
		abort();
	}
	close(fd);
	return 0;
}
