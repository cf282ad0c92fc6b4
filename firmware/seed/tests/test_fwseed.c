/*
 * test_fwseed.c - seeding the device store from an import file: every
 * customer lands with its identifiers tokenised like a reader's read; a bad
 * line, a repeated id or card, an over-long line or a pipe loads nothing and
 * the error names the line; progress is reported in both passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/customer.h"
#include "common/err.h"
#include "fwseed.h"
#include "store_fixture.h"

/* The fixture's tenant key (fx_token): the pipeline must tokenise alike. */
static const uint8_t tenant_key[32] = "test tenant identifier key 0001";

static char file[200];

static struct ident_pipeline *pipeline(void)
{
	struct ident_config cfg;
	struct ident_pipeline *p = NULL;
	ident_config_default(&cfg);
	cfg.app_token.enabled = false;
	cfg.totp.enabled = false;
	struct ident_pipeline_params pp = {
	    .config = &cfg, .tenant_key = tenant_key, .tenant_key_len = sizeof tenant_key};
	assert_int_equal(ident_pipeline_new(&pp, &p), 0);
	return p;
}

static int setup(void **state)
{
	int rc = fx_setup(state);
	snprintf(file, sizeof file, "%s/customers.jsonl", fx.dir);
	return rc;
}

static int teardown(void **state)
{
	unlink(file);
	return fx_teardown(state);
}

static const char *line(char *buf, size_t cap, int i, const char *card)
{
	snprintf(buf, cap,
		 "{\"id\":\"p-%06d\",\"version\":1,\"profile\":{\"name\":\"Kund%c Nummer%d\","
		 "\"first_name\":\"Kund%c\",\"points\":%d},\"identifiers\":[{\"type\":\"loyalty\","
		 "\"value\":\"%s\"}]}",
		 i, 'a' + i % 26, i, 'a' + i % 26, 10 * i, card);
	return buf;
}

/* "2" + i as 11 digits + the GS1 check digit. */
static const char *card(char out[14], int i)
{
	int sum = 0;
	snprintf(out, 14, "2%011d", i);
	for (int k = 0; k < 12; k++)
		sum += (out[k] - '0') * (k % 2 ? 3 : 1);
	out[12] = (char)('0' + (10 - sum % 10) % 10);
	out[13] = '\0';
	return out;
}

/* Writes n customers, with `bad` (if > 0) replacing customer number bad. */
static void write_file(int n, int bad_at, const char *bad)
{
	FILE *f = fopen(file, "w");
	char buf[1024], c[14];
	assert_non_null(f);
	for (int i = 1; i <= n; i++)
		fprintf(f, "%s\n", i == bad_at ? bad : line(buf, sizeof buf, i, card(c, i)));
	assert_int_equal(fclose(f), 0);
}

static int seed(struct store *s, size_t batch, int64_t *loaded, char *err, size_t cap)
{
	struct ident_pipeline *p = pipeline();
	FILE *f = fopen(file, "r");
	assert_non_null(f);
	int rc = fwseed_load(s, p, f, batch, NULL, NULL, loaded, err, cap);
	fclose(f);
	ident_pipeline_free(p);
	return rc;
}

static int64_t profiles(struct store *s)
{
	struct store_stats st;
	assert_int_equal(store_stats_get(s, &st), 0);
	return st.profiles;
}

static void every_customer_lands_and_its_cards_identify(void **state)
{
	struct store *s = fx_open();
	struct ident_pipeline *p = pipeline();
	char err[256] = "", id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1], c[14];
	int64_t loaded = -1;
	struct store_hit hit;
	struct ident_result r;
	(void)state;

	FILE *f = fopen(file, "w");
	assert_non_null(f);
	char buf[1024];
	fprintf(f, "%s\n\n   \n", line(buf, sizeof buf, 1, card(c, 1)));
	fprintf(f, "%s\r\n", line(buf, sizeof buf, 2, card(c, 2)));
	fprintf(f, "{\"id\":\"p-000003\",\"version\":2,\"profile\":{\"name\":\"Zoë Dijkstra\"},"
		   "\"identifiers\":[{\"type\":\"nfc_uid\",\"value\":\"04000000000003\"},"
		   "{\"type\":\"qr\",\"value\":\"RGM1:M3\"}]}"); /* no final newline */
	assert_int_equal(fclose(f), 0);

	assert_int_equal(seed(s, 2, &loaded, err, sizeof err), 3);
	assert_string_equal(err, "");
	assert_int_equal(loaded, 3);
	assert_int_equal(profiles(s), 3);

	assert_int_equal(fx_identify(s, card(c, 2), id, body, sizeof body), 1);
	assert_string_equal(id, "p-000002");
	assert_non_null(strstr(body, "\"name\":\"Kundc Nummer2\""));

	static const uint8_t uid[7] = {0x04, 0, 0, 0, 0, 0, 3};
	assert_int_equal(ident_classify(p, IDENT_SRC_NFC_UID, uid, sizeof uid, &r), 0);
	assert_int_equal(store_identify(s, r.token, body, sizeof body, &hit), 1);
	assert_string_equal(hit.profile_id, "p-000003");
	assert_string_equal(hit.type, "nfc_uid");
	assert_int_equal(hit.version, 2);
	assert_non_null(strstr(body, "Zoë Dijkstra"));
	assert_int_equal(ident_classify(p, IDENT_SRC_QR, "RGM1:M3", 7, &r), 0);
	assert_int_equal(store_identify(s, r.token, body, sizeof body, &hit), 1);
	assert_string_equal(hit.profile_id, "p-000003");

	/* the same file again: a later HLC, so rewritten; still 3 profiles */
	assert_int_equal(seed(s, 0, &loaded, err, sizeof err), 3);
	assert_int_equal(profiles(s), 3);
	ident_pipeline_free(p);
	store_close(s);
}

static void a_bad_line_loads_nothing_and_is_named(void **state)
{
	struct store *s = fx_open();
	char err[256] = "", c[14], bad[1024];
	int64_t loaded = -1;
	(void)state;

	/* a bad check digit on line 7, after three full batches of 2 */
	line(bad, sizeof bad, 7, "2000000000076");
	write_file(9, 7, bad);
	assert_int_equal(seed(s, 2, &loaded, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "line 7: identifiers[0]: loyalty: refused by the identifier "
				 "rules: bad_check_digit");
	assert_null(strstr(err, "2000000000076")); /* no raw card number in the message */
	assert_int_equal(loaded, 0);
	assert_int_equal(profiles(s), 0);

	/* a syntax error */
	write_file(5, 4, "{\"id\":\"p-4\",\"version\":1,\"profile\":{}");
	assert_int_equal(seed(s, 2, &loaded, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "line 4: JSON syntax error"));
	/* an unknown key */
	write_file(5, 5, "{\"id\":\"p-5\",\"version\":1,\"profile\":{},\"tier\":\"gold\"}");
	assert_int_equal(seed(s, 0, &loaded, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "line 5: unknown key \"tier\"");
	/* a card on the wrong line */
	write_file(3, 2, line(bad, sizeof bad, 2, card(c, 3)));
	assert_int_equal(seed(s, 0, &loaded, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "line 3: an identifier is also on line 2");
	/* a repeated id */
	write_file(4, 4, line(bad, sizeof bad, 1, card(c, 4)));
	assert_int_equal(seed(s, 0, &loaded, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "line 4: the profile id is also on line 1");
	assert_int_equal(profiles(s), 0);
	store_close(s);
}

static void an_over_long_line_is_refused(void **state)
{
	struct store *s = fx_open();
	char err[256] = "", buf[1024], c[14];
	int64_t loaded = -1;
	(void)state;

	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", line(buf, sizeof buf, 1, card(c, 1)));
	for (int i = 0; i < RG_CUSTOMER_LINE_MAX + 10; i++)
		fputc(' ', f);
	fprintf(f, "\n%s\n", line(buf, sizeof buf, 3, card(c, 3)));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(seed(s, 0, &loaded, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, "line 2: "));
	assert_int_equal(profiles(s), 0);
	store_close(s);
}

static void a_pipe_is_refused(void **state)
{
	struct store *s = fx_open();
	struct ident_pipeline *p = pipeline();
	char err[256] = "";
	int fds[2];
	(void)state;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "{}\n", 3), 3);
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	assert_non_null(f);
	assert_int_equal(fwseed_load(s, p, f, 0, NULL, NULL, NULL, err, sizeof err),
			 RG_ERR_UNSUPPORTED);
	assert_non_null(strstr(err, "regular file"));
	fclose(f);
	ident_pipeline_free(p);
	store_close(s);
}

struct prog {
	int64_t calls, negative, last;
};

static void on_progress(void *ctx, int64_t done)
{
	struct prog *pr = ctx;
	pr->calls++;
	if (done < 0)
		pr->negative++;
	pr->last = done;
}

static void progress_is_reported_in_both_passes(void **state)
{
	struct store *s = fx_open();
	struct ident_pipeline *p = pipeline();
	struct prog pr = {0};
	char err[256] = "";
	int64_t loaded = 0;
	(void)state;

	write_file(10, 0, NULL);
	FILE *f = fopen(file, "r");
	assert_non_null(f);
	assert_int_equal(fwseed_load(s, p, f, 4, on_progress, &pr, &loaded, err, sizeof err), 10);
	fclose(f);
	assert_int_equal(pr.negative, 2);  /* -4, -8 */
	assert_int_equal(pr.calls, 2 + 3); /* 4, 8, 10 */
	assert_int_equal(pr.last, 10);
	assert_int_equal(loaded, 10);
	ident_pipeline_free(p);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(every_customer_lands_and_its_cards_identify, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_bad_line_loads_nothing_and_is_named, setup, teardown),
	    cmocka_unit_test_setup_teardown(an_over_long_line_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_pipe_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(progress_is_reported_in_both_passes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
