/*
 * cloud_fixture.c - temp dirs, deterministic ids and tokens, and the batch
 * builder for cloud-sync's unit tests (cloud_fixture.h).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud_fixture.h"
#include "common/err.h"

int cf_dir_make(struct cf_dir *d, const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(d->path, sizeof d->path, "%s/rg-cloud-%s-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 100 ? tmp : "/tmp", tag);
	return mkdtemp(d->path) ? 0 : -1;
}

void cf_dir_remove(struct cf_dir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;
	char p[512];
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", d->path, e->d_name);
		unlink(p);
	}
	closedir(dir);
	rmdir(d->path);
}

static struct rg_clock_manual ids_clock;
static struct rg_uuid7_gen ids_gen;
static uint64_t rand_ctr;

static int counter_fill(void *priv, void *buf, size_t n)
{
	uint8_t *b = buf;
	(void)priv;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((++rand_ctr * 0x9e3779b97f4a7c15ull) >> 56);
	return 0;
}

static const struct rg_rand counter_rand = {.fill = counter_fill, .priv = NULL};

void cf_ids_init(int64_t wall_ms)
{
	rg_clock_manual_init(&ids_clock, wall_ms);
	rg_uuid7_gen_init(&ids_gen, &ids_clock.clock, &counter_rand);
}

struct rg_uuid cf_uuid(void)
{
	struct rg_uuid u;
	if (!ids_gen.clock)
		cf_ids_init(CF_T0);
	rg_clock_manual_advance(&ids_clock, 1);
	assert_int_equal(rg_uuid7_next(&ids_gen, &u), 0);
	return u;
}

const char *cf_uuid_str(const struct rg_uuid *u, char buf[RG_UUID_STR_LEN + 1])
{
	return rg_uuid_format(u, buf);
}

void cf_token(const char *s, uint8_t out[RG_TOKEN_LEN])
{
	static const uint8_t key[32] = "cloud test tenant key 0123456789";
	assert_int_equal(rg_token(key, sizeof key, "loyalty", s, strlen(s), out), 0);
}

void cf_batch_begin(struct cf_batch *cb, const char *device, const char *store)
{
	memset(cb, 0, sizeof *cb);
	cb->batch_id = cf_uuid();
	assert_int_equal(rg_wire_writer_new(device, store, &cb->batch_id, &cb->w), 0);
}

struct rg_uuid cf_batch_add(struct cf_batch *cb, enum rg_kind kind, int64_t hlc_ms,
			    const char *profile, const uint8_t *token, const char *body)
{
	struct rg_hlc h = {.wall_ms = hlc_ms, .logical = 0};
	struct rg_uuid id = cf_uuid();
	assert_true(cb->n < RG_WIRE_MAX_ITEMS);
	assert_int_equal(rg_wire_writer_add(cb->w, &id, &h, kind, profile, token, body), 0);
	cb->ids[cb->n++] = id;
	return id;
}

void cf_batch_end(struct cf_batch *cb, struct rg_wire_batch *out, char **text)
{
	char err[RG_WIRE_ERR_MAX];
	char *doc = NULL;
	size_t len = 0;
	assert_int_equal(rg_wire_writer_finish(cb->w, &doc, &len), 0);
	rg_wire_writer_free(cb->w);
	cb->w = NULL;
	if (rg_wire_batch_parse(doc, len, out, err, sizeof err) != 0)
		fail_msg("batch does not parse: %s", err);
	if (text)
		*text = doc;
	else
		free(doc);
}
