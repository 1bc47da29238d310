/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_CLI_H
#define IFKIT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "ifkit_ctl.h"

/* Exit codes, as iproute2 users expect. */
#define EXIT_OK    0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Options every command shares. */
struct cli {
	const char *sock_path;
	bool json;
	const char *prog;
};

/*
 * Send req to the loader (with this process's network namespace attached)
 * and wait for the answer.  On failure prints "ifkit: <detail>" and returns
 * -errno; when the loader is not running, says how to start it.
 */
int cli_call(struct cli *cli, struct ifkit_req *req, struct ifkit_rep *rep,
	     void **items, size_t *nitems, int *rep_fd);
/* Print "ifkit: msg" (or "ifkit: what: strerror") for a failed answer. */
void cli_report(const struct ifkit_rep *rep, int err, const char *what);
/* True if argv[i] is -h/--help. */
bool cli_wants_help(int argc, char **argv);
int cli_parse_uint(const char *s, unsigned int *out);

/* JSON output helpers: comma handling is kept in the struct. */
struct json {
	FILE *out;
	int depth;
	bool first[16];
};
void json_begin(struct json *j, FILE *out);
void json_obj_open(struct json *j, const char *key);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, const char *key);
void json_arr_close(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, unsigned long long val);
void json_i64(struct json *j, const char *key, long long val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);
void json_end(struct json *j);

/* `OBJECT show [NAME] [-j]` for any device kind; argv holds what follows "show". */
struct cli_show {
	const char *what;		/* "feth show", for messages */
	enum ifkit_cmd cmd;
	enum ifkit_item_type type;
	size_t item_size;
	void (*print)(struct cli *cli, const void *items, size_t n, struct json *j);
};
int cli_show(struct cli *cli, const struct cli_show *show, int argc, char **argv);

int cmd_feth(struct cli *cli, int argc, char **argv);
int cmd_utun(struct cli *cli, int argc, char **argv);
int cmd_iptap(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);

/* Shared by `status` and the per-device `show` commands. */
void feth_print(struct cli *cli, const struct ifkit_feth_info *fi, size_t n, struct json *j);
void utun_print(struct cli *cli, const struct ifkit_utun_info *ui, size_t n, struct json *j);
void iptap_print(struct cli *cli, const struct ifkit_iptap_info *ti, size_t n, struct json *j);

#endif
