// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One call per field for text and JSON, as iproute2's print_* do:
 * print_uint(o, PRINT_ANY, "mtu", " mtu %u", v) writes " mtu 1500" in text
 * mode and "mtu":1500 in JSON mode.  PRINT_FP is text only, PRINT_JSON JSON
 * only.  JSON is compact (no spaces), one document per command.
 */
#include <stdarg.h>
#include <stdio.h>
#include "cli.h"

static bool wants(const struct out *o, enum print_type t)
{
	return o->json ? (t & PRINT_JSON) : (t & PRINT_FP);
}

static void put_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

/* Comma before every member but the first; the key, if inside an object. */
static void json_key(struct out *o, const char *key)
{
	if (!o->first[o->depth])
		fputc(',', o->fp);
	o->first[o->depth] = false;
	if (key) {
		put_string(o->fp, key);
		fputc(':', o->fp);
	}
}

static void text(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(o->fp, fmt, ap);
	va_end(ap);
}

void out_init(struct out *o, FILE *fp, bool json)
{
	*o = (struct out){ .fp = fp, .json = json };
	o->first[0] = true;
}

void out_end(struct out *o)
{
	if (o->json)
		fputc('\n', o->fp);
	fflush(o->fp);
}

static void open_(struct out *o, const char *key, char c)
{
	if (!o->json)
		return;
	json_key(o, key);
	fputc(c, o->fp);
	if (o->depth < OUT_MAX_DEPTH - 1)
		o->depth++;
	o->first[o->depth] = true;
}

static void close_(struct out *o, char c)
{
	if (!o->json)
		return;
	fputc(c, o->fp);
	if (o->depth > 0)
		o->depth--;
}

void print_open_object(struct out *o, const char *key) { open_(o, key, '{'); }
void print_close_object(struct out *o) { close_(o, '}'); }
void print_open_array(struct out *o, const char *key) { open_(o, key, '['); }
void print_close_array(struct out *o) { close_(o, ']'); }

void print_string(struct out *o, enum print_type t, const char *key, const char *fmt,
		  const char *value)
{
	if (!wants(o, t))
		return;
	if (o->json) {
		json_key(o, key);
		put_string(o->fp, value);
	} else if (fmt) {
		fprintf(o->fp, fmt, value);
	}
}

void print_uint(struct out *o, enum print_type t, const char *key, const char *fmt,
		unsigned int value)
{
	if (!wants(o, t))
		return;
	if (o->json) {
		json_key(o, key);
		fprintf(o->fp, "%u", value);
	} else if (fmt) {
		fprintf(o->fp, fmt, value);
	}
}

void print_int(struct out *o, enum print_type t, const char *key, const char *fmt, int value)
{
	if (!wants(o, t))
		return;
	if (o->json) {
		json_key(o, key);
		fprintf(o->fp, "%d", value);
	} else if (fmt) {
		fprintf(o->fp, fmt, value);
	}
}

void print_u64(struct out *o, enum print_type t, const char *key, const char *fmt,
	       unsigned long long value)
{
	if (!wants(o, t))
		return;
	if (o->json) {
		json_key(o, key);
		fprintf(o->fp, "%llu", value);
	} else if (fmt) {
		fprintf(o->fp, fmt, value);
	}
}

void print_bool(struct out *o, enum print_type t, const char *key, const char *fmt, bool value,
		const char *text_true, const char *text_false)
{
	if (!wants(o, t))
		return;
	if (o->json) {
		json_key(o, key);
		fputs(value ? "true" : "false", o->fp);
	} else if (fmt && (value ? text_true : text_false)) {
		fprintf(o->fp, fmt, value ? text_true : text_false);
	}
}

void print_null(struct out *o, enum print_type t, const char *key, const char *fmt,
		const char *text_value)
{
	if (!wants(o, t))
		return;
	if (o->json) {
		json_key(o, key);
		fputs("null", o->fp);
	} else if (fmt) {
		fprintf(o->fp, fmt, text_value);
	}
}

void print_nl(struct out *o)
{
	if (!o->json)
		text(o, "\n");
}
