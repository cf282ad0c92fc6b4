/*
 * gw_fixture.c - the gateway unit tests' fixture (gw_fixture.h): temp dirs
 * made with mkdtemp and removed afterwards, a manual clock and a
 * deterministic random source so no test sleeps or depends on luck.
 */
#include "gw_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/file.h"
#include "common/log.h"

struct gwfx gwfx;

static int det_fill(void *priv, void *buf, size_t n)
{
	uint64_t *s = priv;
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i++) {
		*s = *s * 6364136223846793005u + 1442695040888963407u;
		p[i] = (uint8_t)(*s >> 56);
	}
	return 0;
}

int gwfx_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	(void)state;
	memset(&gwfx, 0, sizeof gwfx);
	snprintf(gwfx.dir, sizeof gwfx.dir, "%s/rg-gw-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 200 ? tmp : "/tmp");
	if (!mkdtemp(gwfx.dir))
		return -1;
	snprintf(gwfx.path, sizeof gwfx.path, "%s/spool.db", gwfx.dir);
	rg_log_set_level(RG_LOG_OFF);
	rg_clock_manual_init(&gwfx.clock, GWFX_T0);
	gwfx.rand_state = 42;
	gwfx.rand.fill = det_fill;
	gwfx.rand.priv = &gwfx.rand_state;
	rg_uuid7_gen_init(&gwfx.uuids, &gwfx.clock.clock, &gwfx.rand);
	return 0;
}

int gwfx_teardown(void **state)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[PATH_MAX + 16];
	(void)state;
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", gwfx.path, suffix[i]);
		unlink(p);
	}
	rmdir(gwfx.dir);
	return 0;
}

int gwfx_batch(const char *device, const char *store, enum rg_kind kind, size_t n, size_t body_pad,
	       char **doc, size_t *len, struct rg_uuid *ids, struct rg_uuid *batch)
{
	static char body[RG_WIRE_MAX_BODY];
	struct rg_wire_writer *w;
	struct rg_uuid bid;
	int rc;

	if (body_pad > sizeof body - 64)
		return RG_ERR_INVAL;
	if ((rc = rg_uuid7_next(&gwfx.uuids, &bid)) < 0 ||
	    (rc = rg_wire_writer_new(device, store, &bid, &w)) < 0)
		return rc;
	memcpy(body, "{\"channel\":\"kiosk\",\"pad\":\"", 26);
	memset(body + 26, 'x', body_pad);
	memcpy(body + 26 + body_pad, "\"}", 3);
	for (size_t i = 0; i < n; i++) {
		struct rg_uuid id;
		struct rg_hlc h = {.wall_ms = GWFX_T0 + (int64_t)i, .logical = 0};
		rg_uuid7_next(&gwfx.uuids, &id);
		if (ids)
			ids[i] = id;
		rc = rg_wire_writer_add(w, &id, &h, kind,
					kind == RG_KIND_TELEMETRY ? NULL : "p-000123", NULL, body);
		if (rc < 0) {
			rg_wire_writer_free(w);
			return rc;
		}
	}
	rc = rg_wire_writer_finish(w, doc, len);
	rg_wire_writer_free(w);
	if (rc >= 0 && batch)
		*batch = bid;
	return rc < 0 ? rc : 0;
}

int gwfx_in_make(struct gwfx_in *x, const char *device, enum rg_kind kind, size_t n,
		 size_t body_pad)
{
	int rc;
	memset(x, 0, sizeof *x);
	rc = gwfx_batch(device, "0042", kind, n, body_pad, &x->doc, &x->in.len, x->ids,
			&x->in.batch_id);
	if (rc < 0)
		return rc;
	x->in.device = device;
	x->in.lane = rg_kind_lane(kind);
	x->in.payload = x->doc;
	x->in.ids = x->ids;
	x->in.n_ids = n;
	return 0;
}

void gwfx_in_free(struct gwfx_in *x)
{
	free(x->doc);
	x->doc = NULL;
}

/* ---- signed configuration documents ---- */

int gwfx_cfg_keys(struct gwfx_cfgkeys *k, const char *tenant, size_t n_trusted)
{
	int rc;
	memset(k, 0, sizeof *k);
	if (n_trusted > GWFX_CFG_KEYS || strlen(tenant) > CFGDOC_TENANT_MAX)
		return RG_ERR_INVAL;
	snprintf(k->set.tenant, sizeof k->set.tenant, "%s", tenant);
	k->set.version = 1;
	k->set.threshold = 1;
	for (size_t i = 0; i < GWFX_CFG_KEYS; i++) {
		if ((rc = rg_ec_key_generate(&k->k[i], rg_rand_system())) < 0)
			return rc;
		if (i >= n_trusted)
			continue;
		if ((rc = rg_ec_key_id(k->k[i], k->set.keys[i].id)) < 0 ||
		    (rc = rg_ec_key_public_raw(k->k[i], k->set.keys[i].pub)) < 0)
			return rc;
		k->set.n++;
	}
	return 0;
}

void gwfx_cfg_keys_free(struct gwfx_cfgkeys *k)
{
	for (size_t i = 0; i < GWFX_CFG_KEYS; i++)
		rg_ec_key_free(k->k[i]);
	memset(k, 0, sizeof *k);
}

int gwfx_cfg_anchor_write(const struct gwfx_cfgkeys *k, const char *path)
{
	char *text = cfgdoc_keyset_json(&k->set);
	FILE *o;
	int rc = 0;
	if (!text)
		return RG_ERR_NOMEM;
	if (!(o = fopen(path, "w")) || fputs(text, o) < 0)
		rc = RG_ERR_IO;
	if (o && fclose(o) != 0)
		rc = RG_ERR_IO;
	free(text);
	return rc;
}

char *gwfx_cfg_envelope(const struct gwfx_cfgkeys *k, size_t key, const char *tenant,
			const char *scope, const char *store, const char *device, int64_t version,
			int64_t now_s, const char *settings)
{
	char doc[4096], issued[21], expires[21], where[160] = "", err[256];
	struct rg_ec_key *signer[1];
	char *env = NULL;
	int n;

	if (key >= GWFX_CFG_KEYS)
		return NULL;
	cfgdoc_time_format(now_s, issued);
	cfgdoc_time_format(now_s + 86400, expires);
	if (store)
		snprintf(where, sizeof where, ",\"store\":\"%s\"%s%s%s", store,
			 device ? ",\"device\":\"" : "", device ? device : "", device ? "\"" : "");
	n = snprintf(doc, sizeof doc,
		     "{\"type\":\"regulars-config\",\"tenant\":\"%s\",\"scope\":\"%s\"%s,"
		     "\"version\":%lld,\"issued\":\"%s\",\"expires\":\"%s\",\"settings\":%s}",
		     tenant, scope, where, (long long)version, issued, expires, settings);
	if (n < 0 || (size_t)n >= sizeof doc)
		return NULL;
	signer[0] = k->k[key];
	if (cfgdoc_sign(doc, (size_t)n, NULL, 0, signer, 1, &env, err, sizeof err) < 0)
		return NULL;
	return env;
}

/* ---- the real daemon ---- */

pid_t gwfx_spawn(const char *bin, const char *cfg, const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			_exit(127);
		dup2(fd, 2);
		dup2(fd, 1);
		execl(bin, bin, "--config", cfg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

char *gwfx_slurp(const char *path)
{
	char *buf = NULL;
	return rg_file_read(path, (size_t)1 << 30, &buf, NULL, NULL, 0) == 0 ? buf : NULL;
}
