/*
 * test_store_privacy.c - a copy of the database alone reveals no name and no
 * raw identifier: after seeding profiles, identifiers (as tokens), notes that
 * mention the names and unknown-card events, the bytes of the main file and
 * of its -wal are searched for every name, card number and NFC UID (raw, and
 * as hex text in both cases) and none is found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/err.h"
#include "store_fixture.h"

#define N 40

struct seed {
	char id[24];
	char name[64];
	char card[24];
	uint8_t uid[7];
	char uid_lower[15];
	char uid_upper[15];
};

static struct seed seeds[N];

static void make_seeds(void)
{
	static const char *const first[] = {"Wilhelmina", "Bartholomew", "Xiomara",  "Thaddeus",
					    "Ophelia",	  "Leopold",	 "Genoveva", "Ignatius"};
	static const char *const last[] = {"Quackenbush", "Zwiebelkopf", "Featherstonehaugh",
					   "Oyelaran", "Szczepanski"};
	for (int i = 0; i < N; i++) {
		struct seed *s = &seeds[i];
		snprintf(s->id, sizeof s->id, "c-%06d", 310000 + i);
		snprintf(s->name, sizeof s->name, "%s %s%c", first[i % 8], last[i % 5],
			 'a' + i % 26);
		snprintf(s->card, sizeof s->card, "2790%09d", 471100000 + i * 7919);
		for (int k = 0; k < 7; k++)
			s->uid[k] = (uint8_t)(0x04 + i * 31 + k * 17 + (k == 0 ? 0 : 0x80));
		rg_hex_encode(s->uid, sizeof s->uid, s->uid_lower, sizeof s->uid_lower);
		for (int k = 0; k < 14; k++)
			s->uid_upper[k] =
			    (char)(s->uid_lower[k] >= 'a' ? s->uid_lower[k] - 32 : s->uid_lower[k]);
		s->uid_upper[14] = '\0';
	}
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;
	*len = 0;
	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	const uint8_t *first = needle;
	if (!hay || m == 0 || m > n)
		return 0;
	for (size_t i = 0; i + m <= n; i++)
		if (hay[i] == first[0] && memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/* Every seeded secret must be absent from the file; the profile ids must be
 * present (a positive control that the scan reads real content). */
static size_t scan(const char *path, int expect_ids)
{
	size_t n;
	uint8_t *b = slurp(path, &n);
	int ids_found = 0;
	for (int i = 0; i < N; i++) {
		const struct seed *s = &seeds[i];
		char first[32];
		snprintf(first, sizeof first, "%.*s", (int)(strchr(s->name, ' ') - s->name),
			 s->name);
		if (contains(b, n, s->name, strlen(s->name)) ||
		    contains(b, n, first, strlen(first)) ||
		    contains(b, n, strchr(s->name, ' ') + 1, strlen(strchr(s->name, ' ') + 1)))
			fail_msg("%s holds the name %s", path, s->name);
		if (contains(b, n, s->card, strlen(s->card)))
			fail_msg("%s holds the card number %s", path, s->card);
		if (contains(b, n, s->uid, sizeof s->uid))
			fail_msg("%s holds the raw UID %s", path, s->uid_lower);
		if (contains(b, n, s->uid_lower, 14) || contains(b, n, s->uid_upper, 14))
			fail_msg("%s holds the UID as hex %s", path, s->uid_lower);
		ids_found += contains(b, n, s->id, strlen(s->id));
	}
	if (expect_ids)
		assert_int_equal(ids_found, N);
	free(b);
	return n;
}

static void database_and_wal_hold_no_name_card_number_or_uid(void **state)
{
	static char bodies[N][1024];
	static uint8_t toks[N][2][RG_TOKEN_LEN];
	static struct store_ident idents[N][2];
	static struct store_profile p[N];
	char wal[160], note[256];
	struct store *s;
	(void)state;
	make_seeds();
	for (int i = 0; i < N; i++) {
		fx_token("loyalty", seeds[i].card, toks[i][0]);
		assert_int_equal(rg_token("test tenant identifier key 0001", 32, "nfc_uid",
					  seeds[i].uid, sizeof seeds[i].uid, toks[i][1]),
				 0);
		idents[i][0] = (struct store_ident){toks[i][0], "loyalty"};
		idents[i][1] = (struct store_ident){toks[i][1], "nfc_uid"};
		p[i] = (struct store_profile){.id = seeds[i].id,
					      .version = 1,
					      .body = bodies[i],
					      .idents = idents[i],
					      .n_idents = 2};
		p[i].body_len =
		    (size_t)fx_body(bodies[i], sizeof bodies[i], seeds[i].name, 100 + i);
	}
	s = fx_open();
	/* half in one bulk load, half one by one, so both paths are covered */
	assert_int_equal(store_profiles_load(s, p, N / 2), N / 2);
	for (int i = N / 2; i < N; i++)
		assert_int_equal(store_profile_upsert(s, &p[i]), 1);
	for (int i = 0; i < N; i++) {
		char buf[STORE_BODY_MAX + 1];
		struct store_hit hit;
		assert_int_equal(store_identify(s, toks[i][1], buf, sizeof buf, &hit), 1);
		assert_non_null(strstr(buf, seeds[i].name));
		/* staff notes name the customer; unknown cards are recorded by token */
		snprintf(note, sizeof note, "{\"text\":\"%s asked about card %s\"}", seeds[i].name,
			 seeds[i].card);
		assert_int_equal(fx_append(s, RG_KIND_NOTE, seeds[i].id, NULL, note, NULL), 0);
		struct store_event ev = {RG_KIND_UNKNOWN_IDENTIFIER, NULL, toks[i][0],
					 "{\"reader\":\"nfc\"}", 16};
		assert_int_equal(store_outbox_append(s, &ev, NULL), 0);
	}
	assert_true(store_flush(s) >= 0);

	/* while open, everything written so far is in the WAL */
	snprintf(wal, sizeof wal, "%s-wal", fx.path);
	struct stat st;
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);
	size_t scanned = scan(wal, 1) + scan(fx.path, 0);
	assert_true(scanned > 4096);
	store_close(s);

	/* after close the content is checkpointed into the main file */
	assert_true(scan(fx.path, 1) > 4096);
	if (stat(wal, &st) == 0)
		scan(wal, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(database_and_wal_hold_no_name_card_number_or_uid,
					    fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
