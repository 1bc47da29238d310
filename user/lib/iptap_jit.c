// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cBPF -> eBPF for iptap reader filters (see iptap_jit.h).
 *
 * Registers: A in w7, X in w8, the IP header's offset (l2, from skb->cb[0])
 * in r9, the skb
 * in r6 (where LD_ABS/LD_IND want it), the 16 scratch words on the stack
 * at r10 - 64.  A and X are only ever written with 32-bit operations, so
 * their upper halves stay zero.  Every way a cBPF program rejects a packet
 * without a RET (a load outside the packet, division by zero) jumps to one
 * `return 0` at the end; the kernel's LD_ABS/LD_IND code returns 0 by
 * itself when the load is outside the packet.  The model is the kernel's
 * own bpf_convert_filter(), with the semantics of libpcap's bpf_filter()
 * (what the reader applies in user space): a shift by X >= 32 gives 0, a
 * shift by a constant k >= 32 shifts by k % 32 (libpcap 1.10), only forward
 * jumps (libpcap's backward ones, `protochain`, stay with the interpreter),
 * only the opcodes libpcap's validator accepts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "iptap_jit.h"

#define R_CTX	BPF_REG_6
#define R_A	BPF_REG_7
#define R_X	BPF_REG_8
#define R_L2	BPF_REG_9
#define CB0_OFF		((int16_t)offsetof(struct __sk_buff, cb[0]))
#define DATA_OFF	((int16_t)offsetof(struct __sk_buff, data))
#define DATA_END_OFF	((int16_t)offsetof(struct __sk_buff, data_end))
#define MEM_OFF(k)	((int16_t)(-64 + 4 * (int)(k)))
/* Offsets above this are beyond any packet (and keep l2 + X + k an int). */
#define OFF_MAX		0x7fff0000u

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

struct fix {
	unsigned int at;	/* eBPF jump instruction */
	unsigned int to;	/* cBPF instruction index; len = the reject exit */
};

struct jit {
	struct bpf_insn *out;
	unsigned int n, max;
	unsigned int *start;	/* cBPF index -> first eBPF instruction */
	struct fix *fix;
	unsigned int nfix;
	int err;
};

static void emit(struct jit *j, struct bpf_insn in)
{
	if (j->n >= j->max) {
		j->err = -E2BIG;
		return;
	}
	j->out[j->n++] = in;
}

/* A jump to cBPF instruction `to` (patched once every start is known). */
static void emit_jmp(struct jit *j, struct bpf_insn in, unsigned int to)
{
	if (j->err)
		return;
	j->fix[j->nfix++] = (struct fix){ j->n, to };
	emit(j, in);
}

/*
 * r0 = P[l2 + (X +) k], size bytes in network order; out of the packet: the
 * program returns 0.  A load within the skb's linear data is done in place
 * (no call: on this CPU every call and return pays for the SRSO
 * mitigation); anything else goes through LD_IND, the kernel's skb load
 * helper, which also reads paged data.
 */
static void emit_load(struct jit *j, unsigned int size, uint32_t k, bool ind, unsigned int reject)
{
	uint8_t sz = size == 4 ? BPF_W : size == 2 ? BPF_H : BPF_B;
	int16_t fast = (int16_t)(size > 1 ? 9 : 8);	/* instructions of the in-place load */

	if (k > OFF_MAX) {
		emit_jmp(j, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0), reject);
		return;
	}
	/* r2 = l2 (+ X) + k; libpcap checks X + k without wrapping: so do we, in 64 bits. */
	if (ind) {
		emit(j, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, R_X, 0, 0));
		emit(j, INSN(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_2, R_L2, 0, 0));
		emit_jmp(j, INSN(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0, 0,
				 (int32_t)(OFF_MAX - k)), reject);
	} else {
		emit(j, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, R_L2, 0, 0));
	}
	emit(j, INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, (int32_t)k));
	/* In place when data + r2 + size <= data_end (r2 bounded for the verifier). */
	emit(j, INSN(BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0, fast, 0x7fff));
	emit(j, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, R_CTX, DATA_OFF, 0));
	emit(j, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, R_CTX, DATA_END_OFF, 0));
	emit(j, INSN(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0));
	emit(j, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_5, BPF_REG_3, 0, 0));
	emit(j, INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_5, 0, 0, (int32_t)size));
	emit(j, INSN(BPF_JMP | BPF_JGT | BPF_X, BPF_REG_5, BPF_REG_4, (int16_t)(fast - 6), 0));
	emit(j, INSN(BPF_LDX | BPF_MEM | sz, BPF_REG_0, BPF_REG_3, 0, 0));
	if (size > 1)
		emit(j, INSN(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_0, 0, 0, (int32_t)size * 8));
	emit(j, INSN(BPF_JMP | BPF_JA, 0, 0, 1, 0));
	/* Paged data, or beyond the packet (then the program returns 0). */
	emit(j, INSN(BPF_LD | BPF_IND | sz, 0, BPF_REG_2, 0, 0));
}

static uint16_t mem_read_mask(const struct iptap_cbpf *prog, unsigned int len)
{
	uint16_t m = 0;

	for (unsigned int i = 0; i < len; i++)
		if ((prog[i].code == (BPF_LD | BPF_MEM) || prog[i].code == (BPF_LDX | BPF_MEM)) &&
		    prog[i].k < BPF_MEMWORDS)
			m |= (uint16_t)(1u << prog[i].k);
	return m;
}

/*
 * The opcodes libpcap's bpf_filter() executes (1.10.3 aborts on any other,
 * newer ones reject the packet; so does the translation).
 */
bool iptap_jit_opcode_known(uint16_t code)
{
	switch (code) {
	case BPF_RET | BPF_K: case BPF_RET | BPF_A:
	case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_LEN: case BPF_LDX | BPF_W | BPF_LEN:
	case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
	case BPF_LDX | BPF_MSH | BPF_B: case BPF_LD | BPF_IMM: case BPF_LDX | BPF_IMM:
	case BPF_LD | BPF_MEM: case BPF_LDX | BPF_MEM: case BPF_ST: case BPF_STX:
	case BPF_JMP | BPF_JA:
	case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_X: case BPF_JMP | BPF_JGE | BPF_X:
	case BPF_JMP | BPF_JEQ | BPF_X: case BPF_JMP | BPF_JSET | BPF_X:
	case BPF_ALU | BPF_NEG: case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
		return true;
	}
	if ((code & ~0xf8u) == BPF_ALU) {	/* two-operand ALU, K or X */
		switch (BPF_OP(code)) {
		case BPF_ADD: case BPF_SUB: case BPF_MUL: case BPF_DIV: case BPF_MOD:
		case BPF_AND: case BPF_OR: case BPF_XOR: case BPF_LSH: case BPF_RSH:
			return true;
		}
	}
	return false;
}

/*
 * An instruction that rejects every packet: a load beyond any packet, x / 0,
 * or an opcode libpcap does not execute (its validator lets some through).
 */
static bool always_rejects(const struct iptap_cbpf *in)
{
	if (!iptap_jit_opcode_known(in->code))
		return true;
	switch (in->code) {
	case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
	case BPF_LDX | BPF_MSH | BPF_B:
		return in->k > OFF_MAX;
	case BPF_ALU | BPF_DIV | BPF_K:
	case BPF_ALU | BPF_MOD | BPF_K:
		return in->k == 0;
	}
	return false;
}

/*
 * Which instructions can run (the verifier refuses unreachable code), and
 * whether the program can run off its end (then it needs the reject exit).
 */
static int reachable(const struct iptap_cbpf *prog, unsigned int len, uint8_t *reach,
		     bool *falls_off)
{
	*falls_off = false;
	reach[0] = 1;
	for (unsigned int i = 0; i < len; i++) {
		const struct iptap_cbpf *in = &prog[i];

		if (!reach[i] || BPF_CLASS(in->code) == BPF_RET || always_rejects(in))
			continue;
		if (in->code == (BPF_JMP | BPF_JA)) {
			uint64_t to = (uint64_t)i + 1 + in->k;

			if (to >= len)
				return -EINVAL;	/* out of the program, or backwards (k wraps) */
			reach[to] = 1;
		} else if (BPF_CLASS(in->code) == BPF_JMP) {
			if (i + 1u + in->jt >= len || i + 1u + in->jf >= len)
				return -EINVAL;
			reach[i + 1 + in->jt] = 1;
			reach[i + 1 + in->jf] = 1;
		} else if (i + 1 < len) {
			reach[i + 1] = 1;
		} else {
			*falls_off = true;
		}
	}
	return 0;
}

static int translate_one(struct jit *j, const struct iptap_cbpf *in, unsigned int i,
			 unsigned int len)
{
	uint32_t k = in->k;
	unsigned int rej = len;
	uint8_t op = BPF_OP(in->code);

	if (always_rejects(in)) {
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
		emit(j, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
		return 0;
	}
	switch (in->code) {
	case BPF_RET | BPF_K:
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, (int32_t)k));
		emit(j, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
		return 0;
	case BPF_RET | BPF_A:
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_0, R_A, 0, 0));
		emit(j, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
		return 0;
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND:
	case BPF_LD | BPF_B | BPF_IND:
		emit_load(j, BPF_SIZE(in->code) == BPF_W ? 4 : BPF_SIZE(in->code) == BPF_H ? 2 : 1,
			  k, BPF_MODE(in->code) == BPF_IND, rej);
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_X, R_A, BPF_REG_0, 0, 0));
		return 0;
	case BPF_LDX | BPF_MSH | BPF_B:
		emit_load(j, 1, k, false, rej);
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_X, R_X, BPF_REG_0, 0, 0));
		emit(j, INSN(BPF_ALU | BPF_AND | BPF_K, R_X, 0, 0, 0xf));
		emit(j, INSN(BPF_ALU | BPF_LSH | BPF_K, R_X, 0, 0, 2));
		return 0;
	case BPF_LD | BPF_W | BPF_LEN:
	case BPF_LDX | BPF_W | BPF_LEN: {
		uint8_t dst = BPF_CLASS(in->code) == BPF_LD ? R_A : R_X;

		/* The length of the IP packet: skb->len less the link header. */
		emit(j, INSN(BPF_LDX | BPF_MEM | BPF_W, dst, R_CTX, 0, 0));	/* __sk_buff.len */
		emit(j, INSN(BPF_ALU | BPF_SUB | BPF_X, dst, R_L2, 0, 0));
		return 0;
	}
	case BPF_LD | BPF_IMM:
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, (int32_t)k));
		return 0;
	case BPF_LDX | BPF_IMM:
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_K, R_X, 0, 0, (int32_t)k));
		return 0;
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
		if (k >= BPF_MEMWORDS)
			return -EINVAL;
		emit(j, INSN(BPF_LDX | BPF_MEM | BPF_W, in->code == (BPF_LD | BPF_MEM) ? R_A : R_X,
			     BPF_REG_10, MEM_OFF(k), 0));
		return 0;
	case BPF_ST:
	case BPF_STX:
		if (k >= BPF_MEMWORDS)
			return -EINVAL;
		emit(j, INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10,
			     in->code == BPF_ST ? R_A : R_X, MEM_OFF(k), 0));
		return 0;
	case BPF_MISC | BPF_TAX:
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_X, R_X, R_A, 0, 0));
		return 0;
	case BPF_MISC | BPF_TXA:
		emit(j, INSN(BPF_ALU | BPF_MOV | BPF_X, R_A, R_X, 0, 0));
		return 0;
	case BPF_ALU | BPF_NEG:
		emit(j, INSN(BPF_ALU | BPF_NEG, R_A, 0, 0, 0));
		return 0;
	case BPF_JMP | BPF_JA: {
		uint64_t to = (uint64_t)i + 1 + k;

		if (to >= len)
			return -EINVAL;	/* out of the program, or backwards (k wraps) */
		emit_jmp(j, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0), (unsigned int)to);
		return 0;
	}
	}

	switch (BPF_CLASS(in->code)) {
	case BPF_ALU:
		if (BPF_SRC(in->code) == BPF_K) {
			switch (op) {
			case BPF_DIV:
			case BPF_MOD:
				if (!k) {
					emit_jmp(j, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0), rej);
					return 0;
				}
				break;
			case BPF_LSH:
			case BPF_RSH:
				/*
				 * Debian's libpcap 1.10.3 validates k >= 32 and shifts
				 * by k % 32 (the CPU's); newer ones refuse it.
				 */
				k &= 31;
				break;
			case BPF_ADD: case BPF_SUB: case BPF_MUL: case BPF_AND: case BPF_OR:
			case BPF_XOR:
				break;
			default:
				return -EINVAL;
			}
			emit(j, INSN(BPF_ALU | op | BPF_K, R_A, 0, 0, (int32_t)k));
			return 0;
		}
		switch (op) {
		case BPF_DIV:
		case BPF_MOD:
			emit_jmp(j, INSN(BPF_JMP32 | BPF_JEQ | BPF_K, R_X, 0, 0, 0), rej);
			break;
		case BPF_LSH:
		case BPF_RSH:
			/* if X >= 32: A = 0 (libpcap), not the CPU's shift by X % 32 */
			emit(j, INSN(BPF_JMP32 | BPF_JGE | BPF_K, R_X, 0, 2, 32));
			emit(j, INSN(BPF_ALU | op | BPF_X, R_A, R_X, 0, 0));
			emit(j, INSN(BPF_JMP | BPF_JA, 0, 0, 1, 0));
			emit(j, INSN(BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, 0));
			return 0;
		case BPF_ADD: case BPF_SUB: case BPF_MUL: case BPF_AND: case BPF_OR: case BPF_XOR:
			break;
		default:
			return -EINVAL;
		}
		emit(j, INSN(BPF_ALU | op | BPF_X, R_A, R_X, 0, 0));
		return 0;
	case BPF_JMP: {
		unsigned int t = i + 1 + in->jt, f = i + 1 + in->jf;
		uint8_t src = BPF_SRC(in->code) == BPF_X ? R_X : 0;

		if (op != BPF_JEQ && op != BPF_JGT && op != BPF_JGE && op != BPF_JSET)
			return -EINVAL;
		if (t >= len || f >= len)
			return -EINVAL;
		if (t == f) {
			emit_jmp(j, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0), t);
			return 0;
		}
		/* 32-bit unsigned comparisons, as cBPF's. */
		emit_jmp(j, INSN(BPF_JMP32 | op | BPF_SRC(in->code), R_A, src, 0,
				 src ? 0 : (int32_t)k), t);
		if (f != i + 1)
			emit_jmp(j, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0), f);
		return 0;
	}
	}
	return -EINVAL;
}

int iptap_jit_translate(const struct iptap_cbpf *prog, unsigned int len, struct bpf_insn *out,
			unsigned int max, unsigned int *n)
{
	struct jit j = { .out = out, .max = max };
	uint8_t *reach = NULL;
	bool falls_off, to_reject = false;
	uint16_t mem;
	int err = 0;

	*n = 0;
	if (!prog || !len || len > IPTAP_FILTER_MAX)
		return -EINVAL;
	j.start = calloc(len + 1, sizeof(*j.start));
	j.fix = calloc((size_t)len * 3 + 1, sizeof(*j.fix));	/* at most 3 jumps each */
	reach = calloc(len, 1);
	if (!j.start || !j.fix || !reach) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = reachable(prog, len, reach, &falls_off);
	if (err)
		goto cleanup;
	emit(&j, INSN(BPF_ALU64 | BPF_MOV | BPF_X, R_CTX, BPF_REG_1, 0, 0));
	emit(&j, INSN(BPF_LDX | BPF_MEM | BPF_W, R_L2, R_CTX, CB0_OFF, 0));
	emit(&j, INSN(BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, 0));
	emit(&j, INSN(BPF_ALU | BPF_MOV | BPF_K, R_X, 0, 0, 0));
	/* Scratch words the program reads start at 0 (the verifier wants them written). */
	mem = mem_read_mask(prog, len);
	for (unsigned int k = 0; k < BPF_MEMWORDS; k++)
		if (mem & (1u << k))
			emit(&j, INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, MEM_OFF(k), 0));
	for (unsigned int i = 0; i < len && !j.err; i++) {
		j.start[i] = j.n;
		if (!reach[i])
			continue;	/* nothing jumps here */
		err = translate_one(&j, &prog[i], i, len);
		if (err)
			goto cleanup;
	}
	/* Falling off the end rejects, as in libpcap; so do a load out of range, x / 0. */
	j.start[len] = j.n;
	for (unsigned int f = 0; f < j.nfix; f++)
		to_reject |= j.fix[f].to == len;
	if (falls_off || to_reject) {
		emit(&j, INSN(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
		emit(&j, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	}
	if (j.err) {
		err = j.err;
		goto cleanup;
	}
	for (unsigned int f = 0; f < j.nfix; f++) {
		long off = (long)j.start[j.fix[f].to] - (long)j.fix[f].at - 1;

		if (off < -32768 || off > 32767) {
			err = -E2BIG;
			goto cleanup;
		}
		j.out[j.fix[f].at].off = (int16_t)off;
	}
	*n = j.n;
cleanup:
	free(j.start);
	free(j.fix);
	free(reach);
	return err;
}

/* The verifier's reason: the last line of its log that is not its statistics. */
static void last_line(char *log, char *out, size_t len)
{
	char *line, *save = NULL, *why = NULL;

	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] && strncmp(line, "processed ", 10) && strncmp(line, "verification time", 17))
			why = line;
	snprintf(out, len, "%s", why ? why : "");
}

int iptap_jit_load(const struct bpf_insn *insns, unsigned int n, char *log, size_t loglen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	char *vlog = NULL;
	int fd, err;

	if (log && loglen)
		log[0] = '\0';
	fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "iptap_jit", "Dual BSD/GPL", insns, n, &opts);
	if (fd >= 0)
		return fd;
	err = -errno;
	/* Again with the verifier's log, to say why. */
	if (log && loglen)
		vlog = calloc(1, 1 << 16);
	if (vlog) {
		opts.log_buf = vlog;
		opts.log_size = 1 << 16;
		opts.log_level = 1;
		fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "iptap_jit", "Dual BSD/GPL", insns, n,
				   &opts);
		if (fd >= 0)
			err = fd;	/* loaded this time after all */
		else
			last_line(vlog, log, loglen);
		free(vlog);
	}
	return err;
}
