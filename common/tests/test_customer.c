/*
 * test_customer.c - the customer import format: a good line parses to the
 * id, version, compact body and raw identifiers; every malformed, oversized
 * or unknown part is refused with a message naming the field; identifiers
 * tokenise exactly like a reader's read, and values the pipeline refuses or
 * reads as another type are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/customer.h"
#include "common/err.h"
#include "common/log.h"

static const uint8_t tenant_key[32] = "customer test tenant key 000001";

static const char good[] =
    "{\"id\":\"p-000001\",\"version\":3,"
    "\"profile\":{ \"name\" : \"Anna Schmidt\", \"first_name\":\"Anna\",\"tier\":\"gold\","
    "\"points\":1200,\"preferences\":{\"language\":\"de\"}},"
    "\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"2000000000015\"},"
    "{\"type\":\"nfc_uid\",\"value\":\"04a1b2c3d4e5f6\"},"
    "{\"type\":\"qr\",\"value\":\"RGM1:M12345\"}]}";

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

static int parse(const char *line, struct rg_customer *c, char *err, size_t cap)
{
	return rg_customer_parse(line, strlen(line), c, err, cap);
}

static void good_line_parses(void **state)
{
	struct rg_customer c;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(good, &c, err, sizeof err), 0);
	assert_string_equal(c.id, "p-000001");
	assert_int_equal(c.version, 3);
	/* stored compact, keys and values unchanged */
	assert_string_equal(c.body,
			    "{\"name\":\"Anna Schmidt\",\"first_name\":\"Anna\",\"tier\":"
			    "\"gold\",\"points\":1200,\"preferences\":{\"language\":\"de\"}}");
	assert_int_equal(c.body_len, strlen(c.body));
	assert_int_equal(c.n_idents, 3);
	assert_int_equal(c.idents[0].type, IDENT_TYPE_LOYALTY);
	assert_string_equal(c.idents[0].value, "2000000000015");
	assert_int_equal(c.idents[1].type, IDENT_TYPE_NFC_UID);
	assert_int_equal(c.idents[2].type, IDENT_TYPE_QR);
	rg_customer_free(&c);
	assert_null(c.body);
}

static void trailing_newline_and_no_identifiers_are_fine(void **state)
{
	struct rg_customer c;
	char err[256] = "";
	(void)state;
	const char *line = "{\"id\":\"c.42:x_Y\",\"version\":1,\"profile\":{}}\r\n";
	assert_int_equal(parse(line, &c, err, sizeof err), 0);
	assert_int_equal(c.n_idents, 0);
	assert_string_equal(c.body, "{}");
	rg_customer_free(&c);
}

struct bad {
	const char *line;
	int rc;
	const char *msg; /* a part of the error text */
};

static void bad_lines_are_refused_naming_the_field(void **state)
{
	static const struct bad cases[] = {
	    {"", RG_ERR_PARSE, "syntax"},
	    {"[1,2]", RG_ERR_TYPE, "JSON object"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{}} x", RG_ERR_PARSE, "after the JSON"},
	    {"{\"version\":1,\"profile\":{}}", RG_ERR_MISSING, "\"id\""},
	    {"{\"id\":\"p1\",\"profile\":{}}", RG_ERR_MISSING, "\"version\""},
	    {"{\"id\":\"p1\",\"version\":1}", RG_ERR_MISSING, "\"profile\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"name\":\"x\"}", RG_ERR_PARSE,
	     "unknown key \"name\""},
	    {"{\"id\":\"p1\",\"id\":\"p2\",\"version\":1,\"profile\":{}}", RG_ERR_PARSE,
	     "\"id\" appears twice"},
	    {"{\"id\":\"-p1\",\"version\":1,\"profile\":{}}", RG_ERR_PARSE, "key \"id\""},
	    {"{\"id\":\"p 1\",\"version\":1,\"profile\":{}}", RG_ERR_PARSE, "key \"id\""},
	    {"{\"id\":\"p1\",\"version\":0,\"profile\":{}}", RG_ERR_RANGE, "\"version\""},
	    {"{\"id\":\"p1\",\"version\":\"1\",\"profile\":{}}", RG_ERR_TYPE, "\"version\""},
	    {"{\"id\":\"p1\",\"version\":1.5,\"profile\":{}}", RG_ERR_TYPE, "\"version\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":\"{}\"}", RG_ERR_TYPE, "\"profile\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":[]}", RG_ERR_TYPE, "\"profile\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":{}}", RG_ERR_TYPE,
	     "\"identifiers\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[\"123\"]}", RG_ERR_TYPE,
	     "identifiers[0]"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"loyalty\"}]"
	     "}",
	     RG_ERR_MISSING, "identifiers[0]: key \"value\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"loyalty\","
	     "\"value\":\"1\",\"x\":1}]}",
	     RG_ERR_PARSE, "identifiers[0]: unknown key \"x\""},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"passport\","
	     "\"value\":\"1\"}]}",
	     RG_ERR_PARSE, "identifiers[0].type"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"app_token\","
	     "\"value\":\"c-1\"}]}",
	     RG_ERR_PARSE, "cannot be imported"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"nfc_uid\","
	     "\"value\":\"04A1B\"}]}",
	     RG_ERR_PARSE, "identifiers[0].value"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"nfc_uid\","
	     "\"value\":\"04G1B2C3\"}]}",
	     RG_ERR_PARSE, "identifiers[0].value"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":[{\"type\":\"loyalty\","
	     "\"value\":\"12\\n3\"}]}",
	     RG_ERR_PARSE, "control character"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{},\"identifiers\":["
	     "{\"type\":\"loyalty\",\"value\":\"2000000000015\"},"
	     "{\"type\":\"loyalty\",\"value\":\"2000000000015\"}]}",
	     RG_ERR_PARSE, "identifiers[1]: repeats identifiers[0]"},
	    {"{\"id\":\"p1\",\"version\":1,\"profile\":{\"name\":\"\xff\"}}", RG_ERR_PARSE,
	     "UTF-8"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rg_customer c;
		char err[256] = "";
		int rc = parse(cases[i].line, &c, err, sizeof err);
		if (rc != cases[i].rc || !strstr(err, cases[i].msg))
			fail_msg("case %zu: got %s \"%s\", want %s containing \"%s\"", i,
				 rg_errname(rc), err, rg_errname(cases[i].rc), cases[i].msg);
		assert_null(c.body);
		assert_int_equal(c.n_idents, 0);
	}
}

static void caps_are_enforced(void **state)
{
	struct rg_customer c;
	char err[256] = "";
	size_t cap = RG_CUSTOMER_LINE_MAX + 64;
	char *line = malloc(cap);
	(void)state;
	assert_non_null(line);

	/* 17 identifiers */
	size_t n = (size_t)snprintf(line, cap,
				    "{\"id\":\"p1\",\"version\":1,\"profile\":{},"
				    "\"identifiers\":[");
	for (int i = 0; i <= RG_CUSTOMER_IDENTS_MAX; i++)
		n += (size_t)snprintf(line + n, cap - n,
				      "%s{\"type\":\"qr\",\"value\":\"RGM1:%d\"}", i ? "," : "", i);
	snprintf(line + n, cap - n, "]}");
	assert_int_equal(parse(line, &c, err, sizeof err), RG_ERR_RANGE);
	assert_non_null(strstr(err, "identifiers"));

	/* a body over 32 KiB in a line under 64 KiB */
	n = (size_t)snprintf(line, cap, "{\"id\":\"p1\",\"version\":1,\"profile\":{\"note\":\"");
	memset(line + n, 'a', RG_CUSTOMER_BODY_MAX);
	n += RG_CUSTOMER_BODY_MAX;
	snprintf(line + n, cap - n, "\"}}");
	assert_int_equal(parse(line, &c, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, "\"profile\""));

	/* a line over 64 KiB */
	memset(line, ' ', RG_CUSTOMER_LINE_MAX + 1);
	assert_int_equal(rg_customer_parse(line, RG_CUSTOMER_LINE_MAX + 1, &c, err, sizeof err),
			 RG_ERR_TOOBIG);
	assert_null(c.body);

	/* an embedded NUL is refused, not read as the end of the line */
	const char nul[] = "{\"id\":\"p1\",\"version\":1,\"profile\":{}}\0{";
	assert_int_equal(rg_customer_parse(nul, sizeof nul - 1, &c, err, sizeof err), RG_ERR_PARSE);
	free(line);
}

static void identifiers_tokenise_like_a_reader(void **state)
{
	struct ident_pipeline *p = pipeline();
	struct rg_customer c;
	struct ident_result r;
	uint8_t tok[RG_TOKEN_LEN], want[RG_TOKEN_LEN];
	char err[256] = "";
	static const uint8_t uid[7] = {0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
	(void)state;

	assert_int_equal(parse(good, &c, err, sizeof err), 0);

	assert_int_equal(rg_customer_ident_token(p, &c.idents[0], tok, err, sizeof err), 0);
	assert_int_equal(
	    rg_token(tenant_key, sizeof tenant_key, "loyalty", "2000000000015", 13, want), 0);
	assert_memory_equal(tok, want, RG_TOKEN_LEN);
	/* the same card scanned at a reader gives the same token */
	assert_int_equal(ident_classify(p, IDENT_SRC_BARCODE, "2000000000015", 13, &r), 0);
	assert_memory_equal(r.token, tok, RG_TOKEN_LEN);

	/* lower-case hex in the file; the reader delivers bytes */
	assert_int_equal(rg_customer_ident_token(p, &c.idents[1], tok, err, sizeof err), 0);
	assert_int_equal(ident_classify(p, IDENT_SRC_NFC_UID, uid, sizeof uid, &r), 0);
	assert_int_equal(r.reason, IDENT_OK);
	assert_memory_equal(r.token, tok, RG_TOKEN_LEN);
	assert_int_equal(
	    rg_token(tenant_key, sizeof tenant_key, "nfc_uid", "04A1B2C3D4E5F6", 14, want), 0);
	assert_memory_equal(tok, want, RG_TOKEN_LEN);

	assert_int_equal(rg_customer_ident_token(p, &c.idents[2], tok, err, sizeof err), 0);
	assert_int_equal(rg_token(tenant_key, sizeof tenant_key, "qr", "M12345", 6, want), 0);
	assert_memory_equal(tok, want, RG_TOKEN_LEN);
	rg_customer_free(&c);
	ident_pipeline_free(p);
}

static void refused_or_other_type_values_are_refused(void **state)
{
	struct ident_pipeline *p = pipeline();
	struct rg_customer_ident ci;
	uint8_t tok[RG_TOKEN_LEN];
	char err[256] = "";
	(void)state;

	ci.type = IDENT_TYPE_LOYALTY;
	snprintf(ci.value, sizeof ci.value, "2000000000016"); /* bad check digit */
	assert_int_equal(rg_customer_ident_token(p, &ci, tok, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "bad_check_digit"));
	assert_null(strstr(err, "2000000000016")); /* a raw value never goes into the error */

	snprintf(ci.value, sizeof ci.value, "RGM1:M12345"); /* a QR code, not a card */
	assert_int_equal(rg_customer_ident_token(p, &ci, tok, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "reads as a qr"));

	ci.type = IDENT_TYPE_QR;
	snprintf(ci.value, sizeof ci.value, "2000000000015");
	assert_int_equal(rg_customer_ident_token(p, &ci, tok, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "reads as a loyalty"));

	ci.type = IDENT_TYPE_NFC_UID;
	snprintf(ci.value, sizeof ci.value, "04A1B2C3D4"); /* 5 bytes */
	assert_int_equal(rg_customer_ident_token(p, &ci, tok, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "uid_bad_length"));
	snprintf(ci.value, sizeof ci.value, "08A1B2C3"); /* a random UID */
	assert_int_equal(rg_customer_ident_token(p, &ci, tok, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "uid_random"));

	ci.type = IDENT_TYPE_APP_TOKEN;
	snprintf(ci.value, sizeof ci.value, "c-42");
	assert_int_equal(rg_customer_ident_token(p, &ci, tok, err, sizeof err), RG_ERR_PARSE);
	ident_pipeline_free(p);
}

static void ids_are_checked(void **state)
{
	(void)state;
	assert_true(rg_customer_id_valid("p-000001"));
	assert_true(rg_customer_id_valid("018f2b1c-7e4a-7c3d-9b1e-0123456789ab"));
	assert_false(rg_customer_id_valid(""));
	assert_false(rg_customer_id_valid("-x"));
	assert_false(rg_customer_id_valid("a/b"));
	char longid[RG_CUSTOMER_ID_MAX + 2];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_false(rg_customer_id_valid(longid));
	longid[RG_CUSTOMER_ID_MAX] = '\0';
	assert_true(rg_customer_id_valid(longid));
}

int main(void)
{
	rg_log_set_level(RG_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(good_line_parses),
	    cmocka_unit_test(trailing_newline_and_no_identifiers_are_fine),
	    cmocka_unit_test(bad_lines_are_refused_naming_the_field),
	    cmocka_unit_test(caps_are_enforced),
	    cmocka_unit_test(identifiers_tokenise_like_a_reader),
	    cmocka_unit_test(refused_or_other_type_values_are_refused),
	    cmocka_unit_test(ids_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
