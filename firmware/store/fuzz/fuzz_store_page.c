/*
 * fuzz_store_page.c - libFuzzer target for the device's replica apply: the
 * input is a "changes" page or (first byte odd) a snapshot chunk as the
 * gateway would send it; what common/delta.c accepts is applied to a real
 * store file (since forced to the cursor, so pages reach the writes). The
 * store must never crash, and a refused page must leave the cursor where
 * it was. One store per process, in a temp dir removed at exit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/delta.h"
#include "common/log.h"
#include "firmware/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *S;
static char dir[256], path[300];

static void cleanup(void)
{
	char p[320];
	store_close(S);
	S = NULL;
	static const char *const ext[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", path, ext[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void open_store(void)
{
	static uint8_t key[STORE_KEY_LEN];
	const char *tmp = getenv("TMPDIR");
	rg_log_set_level(RG_LOG_OFF);
	snprintf(dir, sizeof dir, "%s/rg-fuzz-page-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/device.db", dir);
	memset(key, 0x5a, sizeof key);
	struct store_config c = {.path = path,
				 .key = key,
				 .device_id = "dev-0042-k1",
				 .store_id = "0042",
				 .max_profiles = 200};
	if (store_open(&c, &S) < 0)
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_sync before, after;
	char err[256];
	if (!S)
		open_store();
	if (size < 1 || store_sync_get(S, &before) < 0)
		return 0;
	if (data[0] & 1) {
		struct delta_chunk c;
		if (delta_chunk_parse(data + 1, size - 1, &c, err, sizeof err) < 0)
			return 0;
		store_chunk_apply(S, &c, NULL);
		delta_chunk_free(&c);
		return 0;
	}
	struct delta_page p;
	if (delta_page_parse(data + 1, size - 1, &p, err, sizeof err) < 0)
		return 0;
	if (p.since <= p.next && before.cursor <= p.next)
		p.since = before.cursor; /* reach the writes */
	int rc = store_page_apply(S, &p, NULL);
	if (store_sync_get(S, &after) < 0)
		abort();
	if (rc < 0 && after.cursor != before.cursor)
		abort(); /* a refused page moved the cursor */
	if (rc == 0 && after.cursor != p.next)
		abort();
	delta_page_free(&p);
	return 0;
}
