/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_CLI_H
#define IFKIT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "cmdline.h"
#include "ifkit_ctl.h"

/* Exit codes, as iproute2 users expect. */
#define EXIT_OK    0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

/*
 * Output, text or JSON, written field by field through print_* (print.c):
 * one call per field serves both modes, as iproute2's PRINT_ANY does.
 */
enum print_type {
	PRINT_FP   = 1,		/* text only */
	PRINT_JSON = 2,		/* JSON only */
	PRINT_ANY  = 3,		/* both: fmt for text, key for JSON */
};

#define OUT_MAX_DEPTH 16
struct out {
	FILE *fp;
	bool json;
	int depth;
	bool first[OUT_MAX_DEPTH];	/* no member written yet at this depth */
};

void out_init(struct out *o, FILE *fp, bool json);
/* Ends the JSON document with a newline; flushes. */
void out_end(struct out *o);
/* Containers exist in JSON only; key NULL inside an array. */
void print_open_object(struct out *o, const char *key);
void print_close_object(struct out *o);
void print_open_array(struct out *o, const char *key);
void print_close_array(struct out *o);
void print_string(struct out *o, enum print_type t, const char *key, const char *fmt,
		  const char *value);
void print_uint(struct out *o, enum print_type t, const char *key, const char *fmt,
		unsigned int value);
void print_int(struct out *o, enum print_type t, const char *key, const char *fmt, int value);
void print_u64(struct out *o, enum print_type t, const char *key, const char *fmt,
	       unsigned long long value);
/* JSON true/false; text fmt with text_true or text_false (NULL: print nothing). */
void print_bool(struct out *o, enum print_type t, const char *key, const char *fmt, bool value,
		const char *text_true, const char *text_false);
/* JSON null; text fmt with text_value. */
void print_null(struct out *o, enum print_type t, const char *key, const char *fmt,
		const char *text_value);
/* End of a text line (nothing in JSON). */
void print_nl(struct out *o);

/* Options every command shares. */
struct cli {
	const char *sock_path;
	bool json;
	int timeout_ms;			/* per loader call; 0 = wait for ever */
	const char *prog;
	struct out out;			/* stdout, text or JSON */
	bool reported;			/* the last cli_call printed its failure */
};

/*
 * Send req to the loader (with this process's network namespace attached)
 * and wait for the answer, at most cli->timeout_ms.  On failure prints
 * "ifkit: <detail>" and returns -errno: when the loader is not running,
 * says how to start it; when it does not answer in time, names it and its
 * socket (-ETIMEDOUT).  Those transport failures set cli->reported; an
 * error answer from the loader does not (the caller reports it, cli_report).
 */
int cli_call(struct cli *cli, struct ifkit_req *req, struct ifkit_rep *rep,
	     void **items, size_t *nitems, int *rep_fd);
/* Print "ifkit: msg" (or "ifkit: what: strerror") for a failed answer. */
void cli_report(const struct ifkit_rep *rep, int err, const char *what);
/* True if argv holds -h/--help (or argv[0] is "help"). */
bool cli_wants_help(int argc, char **argv);
int cli_parse_uint(const char *s, unsigned int *out);

/* How one device kind is shown: `OBJECT show [NAME]`, and inside `status`. */
struct cli_show {
	const char *object;		/* "feth" */
	enum ifkit_cmd cmd;
	enum ifkit_item_type type;
	size_t item_size;
	/* Prints n items (inside a JSON array in JSON mode). */
	void (*print)(struct out *o, const void *items, size_t n);
	/* Text after the usage lines of `ifkit OBJECT --help`. */
	const char *notes;
};

extern const struct cli_show feth_show, utun_show, iptap_show;

/* Fetch the items of one show request; 0 or -errno (reported). */
int cli_fetch(struct cli *cli, const struct cli_show *show, struct ifkit_req *req, void **items,
	      size_t *n);
/* `ifkit OBJECT [COMMAND ARGS]` for feth, utun and iptap, through the cmdline table. */
int cli_object(struct cli *cli, const struct cli_show *show, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int iptap_capture(struct cli *cli, int argc, char **argv);

#endif
