/*
 * test_nfc.c - NFC identifiers: UID lengths and the random-UID refusal; the
 * NDEF parser (short/long records, ids, MB/ME/CF rules, TNF rules,
 * truncation, length overflow, record cap); URI prefix expansion and Text
 * records (language code, UTF-16 and invalid UTF-8 refused); finding a
 * loyalty or nfc_ndef id in a message by the configured patterns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/ident_ndef.h"
#include "fixture.h"

#define MB 0x80
#define ME 0x40
#define CF 0x20
#define SR 0x10
#define IL 0x08

/* Appends one record; SR unless longform; IL when id is not NULL. */
static size_t rec(uint8_t *out, uint8_t flags, uint8_t tnf, const char *type, const char *id,
		  const void *payload, size_t plen, int longform)
{
	size_t n = 0, tl = type ? strlen(type) : 0;
	out[n++] = (uint8_t)(flags | tnf | (longform ? 0 : SR) | (id ? IL : 0));
	out[n++] = (uint8_t)tl;
	if (longform) {
		out[n++] = (uint8_t)(plen >> 24);
		out[n++] = (uint8_t)(plen >> 16);
		out[n++] = (uint8_t)(plen >> 8);
		out[n++] = (uint8_t)plen;
	} else {
		out[n++] = (uint8_t)plen;
	}
	if (id)
		out[n++] = (uint8_t)strlen(id);
	memcpy(out + n, type, tl);
	n += tl;
	if (id) {
		memcpy(out + n, id, strlen(id));
		n += strlen(id);
	}
	memcpy(out + n, payload, plen);
	return n + plen;
}

/* A URI record payload: prefix code + rest. */
static size_t uri_payload(uint8_t *out, uint8_t code, const char *rest)
{
	out[0] = code;
	memcpy(out + 1, rest, strlen(rest));
	return 1 + strlen(rest);
}

/* A Text record payload: status (UTF-8 unless utf16) + lang + text. */
static size_t text_payload(uint8_t *out, const char *lang, const void *text, size_t tlen, int utf16)
{
	out[0] = (uint8_t)(strlen(lang) | (utf16 ? 0x80 : 0));
	memcpy(out + 1, lang, strlen(lang));
	memcpy(out + 1 + strlen(lang), text, tlen);
	return 1 + strlen(lang) + tlen;
}

static void nfc_uid_lengths_and_random_ids(void **state)
{
	static const struct {
		uint8_t uid[12];
		size_t n;
		enum ident_reason why;
		const char *canon;
	} cases[] = {
	    {{0x04, 0xa1, 0xb2, 0xc3}, 4, IDENT_OK, "04A1B2C3"},
	    {{0xde, 0xad, 0xbe, 0xef}, 4, IDENT_OK, "DEADBEEF"},
	    {{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}, 7, IDENT_OK, "04112233445566"},
	    {{0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, IDENT_OK, "04010203040506070809"},
	    {{0x08, 0x12, 0x34, 0x56}, 4, IDENT_UID_RANDOM, NULL},
	    {{0x08, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}, 7, IDENT_OK, "08123456789ABC"},
	    {{0x04, 0x12, 0x34}, 3, IDENT_UID_BAD_LENGTH, NULL},
	    {{0x04, 0x12, 0x34, 0x56, 0x78}, 5, IDENT_UID_BAD_LENGTH, NULL},
	    {{0x04, 1, 2, 3, 4, 5, 6, 7}, 8, IDENT_UID_BAD_LENGTH, NULL},
	    {{0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 11, IDENT_UID_BAD_LENGTH, NULL},
	    {{0}, 0, IDENT_UID_BAD_LENGTH, NULL},
	};
	struct fx *f = *state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ident_result r = fx_bytes(f, IDENT_SRC_NFC_UID, cases[i].uid, cases[i].n);
		char what[32];
		snprintf(what, sizeof what, "uid case %zu", i);
		assert_int_equal(r.type, IDENT_TYPE_NFC_UID);
		if (cases[i].why == IDENT_OK)
			fx_assert_ok(f, &r, IDENT_TYPE_NFC_UID, cases[i].canon);
		else
			fx_assert_refused(&r, cases[i].why, what);
	}
	f->cfg.nfc_uid.enabled = false;
	fx_reopen(f);
	struct ident_result r = fx_bytes(f, IDENT_SRC_NFC_UID, "\x04\xa1\xb2\xc3", 4);
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "nfc_uid disabled");
}

static void ndef_parser_reads_short_long_and_id_records(void **state)
{
	uint8_t msg[600], pl[300];
	size_t n = 0, pn;
	struct ident_ndef_message m;
	enum ident_reason why;
	(void)state;

	pn = uri_payload(pl, 0x04, "regulars.example/c/4006381333931");
	n += rec(msg + n, MB, 2, "text/plain", NULL, "hello", 5, 0);
	n += rec(msg + n, 0, 1, "U", "id7", pl, pn, 1);
	memset(pl, 'x', 300);
	n += rec(msg + n, ME, 4, "example.com:t", NULL, pl, 300, 1);
	assert_int_equal(ident_ndef_parse(msg, n, &m, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.rec[0].tnf, IDENT_TNF_MEDIA);
	assert_int_equal(m.rec[0].type_len, 10);
	assert_memory_equal(m.rec[0].type, "text/plain", 10);
	assert_int_equal(m.rec[0].payload_len, 5);
	assert_memory_equal(m.rec[0].payload, "hello", 5);
	assert_true(ident_ndef_is_uri(&m.rec[1]));
	assert_int_equal(m.rec[1].id_len, 3);
	assert_memory_equal(m.rec[1].id, "id7", 3);
	assert_int_equal(m.rec[1].payload_len, pn);
	assert_int_equal(m.rec[2].tnf, IDENT_TNF_EXTERNAL);
	assert_int_equal(m.rec[2].payload_len, 300);
	assert_ptr_equal(m.rec[2].payload + 300, msg + n);

	/* the empty NDEF message: one empty record */
	assert_int_equal(ident_ndef_parse((const uint8_t *)"\xd0\x00\x00", 3, &m, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.rec[0].tnf, IDENT_TNF_EMPTY);
}

static void ndef_parser_refuses_malformed_messages(void **state)
{
	static const struct {
		const char *name;
		const uint8_t *b;
		size_t n;
		enum ident_reason why;
	} cases[] = {
	    {"empty input", (const uint8_t *)"", 0, IDENT_TOO_SHORT},
	    {"header only", (const uint8_t *)"\xd1", 1, IDENT_NDEF_MALFORMED},
	    {"no payload length", (const uint8_t *)"\xd1\x01", 2, IDENT_NDEF_MALFORMED},
	    {"long length cut", (const uint8_t *)"\xc1\x01\x00\x00", 4, IDENT_NDEF_MALFORMED},
	    {"no id length", (const uint8_t *)"\xd9\x01\x01", 3, IDENT_NDEF_MALFORMED},
	    {"type cut", (const uint8_t *)"\xd1\x05\x00U", 4, IDENT_NDEF_MALFORMED},
	    {"payload cut",
	     (const uint8_t *)"\xd1\x01\x05U\x04"
			      "ab",
	     7, IDENT_NDEF_MALFORMED},
	    {"id cut", (const uint8_t *)"\xd9\x01\x00\x09U", 5, IDENT_NDEF_MALFORMED},
	    {"4 GiB payload", (const uint8_t *)"\xc1\x01\xff\xff\xff\xffU\x04", 8,
	     IDENT_NDEF_MALFORMED},
	    {"payload length wraps", (const uint8_t *)"\xc9\x01\xff\xff\xff\xff\xffU", 8,
	     IDENT_NDEF_MALFORMED},
	    {"payload overruns, no ME",
	     (const uint8_t *)"\x91\x01\xffU\x04"
			      "ab",
	     7, IDENT_NDEF_MALFORMED},
	    {"4 GiB payload, no ME", (const uint8_t *)"\x81\x01\xff\xff\xff\xffU\x04", 8,
	     IDENT_NDEF_MALFORMED},
	    {"id overruns, no ME", (const uint8_t *)"\x99\x01\x00\xf0U", 5, IDENT_NDEF_MALFORMED},
	    {"type overruns, no ME", (const uint8_t *)"\x91\xf0\x00U", 4, IDENT_NDEF_MALFORMED},
	    {"bytes after ME", (const uint8_t *)"\xd1\x01\x01U\x00\x00", 6, IDENT_NDEF_MALFORMED},
	    {"no ME", (const uint8_t *)"\x91\x01\x01U\x00", 5, IDENT_NDEF_MALFORMED},
	    {"no MB", (const uint8_t *)"\x51\x01\x01U\x00", 5, IDENT_NDEF_MALFORMED},
	    {"MB twice", (const uint8_t *)"\x91\x01\x01U\x00\xd1\x01\x01U\x00", 10,
	     IDENT_NDEF_MALFORMED},
	    {"chunk start", (const uint8_t *)"\xb1\x01\x01U\x00\x56\x00\x01\x00", 9,
	     IDENT_NDEF_CHUNKED},
	    {"chunk flag alone", (const uint8_t *)"\xf1\x01\x01U\x00", 5, IDENT_NDEF_CHUNKED},
	    {"empty with type", (const uint8_t *)"\xd0\x01\x00U", 4, IDENT_NDEF_MALFORMED},
	    {"empty with payload", (const uint8_t *)"\xd0\x00\x01\x00", 4, IDENT_NDEF_MALFORMED},
	    {"well-known no type", (const uint8_t *)"\xd1\x00\x01\x00", 4, IDENT_NDEF_MALFORMED},
	    {"unknown with type", (const uint8_t *)"\xd5\x01\x01U\x00", 5, IDENT_NDEF_MALFORMED},
	    {"unchanged", (const uint8_t *)"\xd6\x00\x01\x00", 4, IDENT_NDEF_MALFORMED},
	    {"reserved tnf", (const uint8_t *)"\xd7\x01\x01U\x00", 5, IDENT_NDEF_MALFORMED},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ident_ndef_message m;
		enum ident_reason why = IDENT_OK;
		assert_int_equal(ident_ndef_parse(cases[i].b, cases[i].n, &m, &why), 0);
		if (why != cases[i].why)
			fail_msg("%s: expected %s, got %s", cases[i].name,
				 ident_reason_name(cases[i].why), ident_reason_name(why));
		assert_int_equal(m.n, 0);
	}
}

static void ndef_parser_caps_records(void **state)
{
	uint8_t msg[17 * 3];
	struct ident_ndef_message m;
	enum ident_reason why;
	(void)state;
	for (size_t i = 0; i < 17; i++) {
		msg[3 * i] = (uint8_t)(SR | (i == 0 ? MB : 0) | (i == 16 ? ME : 0));
		msg[3 * i + 1] = 0;
		msg[3 * i + 2] = 0;
	}
	assert_int_equal(ident_ndef_parse(msg, 16 * 3, &m, &why), 0);
	assert_int_equal(why, IDENT_NDEF_MALFORMED); /* 16 records, no ME */
	msg[15 * 3] |= ME;
	assert_int_equal(ident_ndef_parse(msg, 16 * 3, &m, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_int_equal(m.n, 16);
	msg[15 * 3] &= (uint8_t)~ME;
	assert_int_equal(ident_ndef_parse(msg, sizeof msg, &m, &why), 0);
	assert_int_equal(why, IDENT_TOO_LONG);
}

static void ndef_uri_prefix_table_and_text_records(void **state)
{
	static const struct {
		uint8_t code;
		const char *rest, *want;
		enum ident_reason why;
	} uris[] = {
	    {0x00, "https://x.example/a", "https://x.example/a", IDENT_OK},
	    {0x01, "x.example", "http://www.x.example", IDENT_OK},
	    {0x04, "x.example", "https://x.example", IDENT_OK},
	    {0x05, "+4930123", "tel:+4930123", IDENT_OK},
	    {0x1d, "/tmp", "file:///tmp", IDENT_OK},
	    {0x23, "abc", "urn:nfc:abc", IDENT_OK},
	    {0x24, "abc", "", IDENT_NDEF_MALFORMED},
	    {0xff, "abc", "", IDENT_NDEF_MALFORMED},
	    {0x00, "", "", IDENT_NDEF_MALFORMED},
	    {0x04, "x.example/\x01", "", IDENT_BAD_CHARSET},
	    {0x04, "x.example/\xc3\x28", "", IDENT_NOT_UTF8},
	    {0x04, "x.example/caf\xc3\xa9", "https://x.example/caf\xc3\xa9", IDENT_OK},
	};
	uint8_t pl[400];
	char buf[IDENT_NDEF_URI_MAX + 1], lang[IDENT_NDEF_LANG_MAX + 1];
	struct ident_ndef_record r = {.tnf = IDENT_TNF_WELL_KNOWN,
				      .type = (const uint8_t *)"U",
				      .type_len = 1,
				      .payload = pl};
	enum ident_reason why;
	const uint8_t *text;
	size_t n;
	(void)state;

	for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
		r.payload_len = uri_payload(pl, uris[i].code, uris[i].rest);
		assert_int_equal(ident_ndef_uri(&r, buf, sizeof buf, &n, &why), 0);
		if (why != uris[i].why)
			fail_msg("uri %zu: expected %s, got %s", i, ident_reason_name(uris[i].why),
				 ident_reason_name(why));
		assert_string_equal(buf, uris[i].want);
		assert_int_equal(n, strlen(uris[i].want));
	}
	/* expanded URI over IDENT_NDEF_URI_MAX */
	memset(pl + 1, 'a', 300);
	pl[0] = 0x04;
	r.payload_len = 1 + IDENT_NDEF_URI_MAX - 8;
	assert_int_equal(ident_ndef_uri(&r, buf, sizeof buf, &n, &why), 0);
	assert_int_equal(why, IDENT_OK);
	r.payload_len++;
	assert_int_equal(ident_ndef_uri(&r, buf, sizeof buf, &n, &why), 0);
	assert_int_equal(why, IDENT_TOO_LONG);

	/* Text */
	r.type = (const uint8_t *)"T";
	r.payload_len = text_payload(pl, "en-GB", "RG:123", 6, 0);
	assert_int_equal(ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_string_equal(lang, "en-GB");
	assert_int_equal(n, 6);
	assert_memory_equal(text, "RG:123", 6);
	r.payload_len = text_payload(pl, "en", "R\0G\0", 4, 1);
	ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why);
	assert_int_equal(why, IDENT_NOT_UTF8);
	r.payload_len = text_payload(pl, "en", "RG:\xff", 4, 0);
	ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why);
	assert_int_equal(why, IDENT_NOT_UTF8);
	r.payload_len = text_payload(pl, "", "RG:1", 4, 0);
	ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why);
	assert_int_equal(why, IDENT_NDEF_MALFORMED);
	pl[0] = 0x40 | 2; /* reserved bit */
	ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why);
	assert_int_equal(why, IDENT_NDEF_MALFORMED);
	pl[0] = 20; /* language longer than the payload */
	r.payload_len = 5;
	ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why);
	assert_int_equal(why, IDENT_NDEF_MALFORMED);
	/* a URI record is not a Text record */
	r.type = (const uint8_t *)"U";
	ident_ndef_text(&r, lang, sizeof lang, &text, &n, &why);
	assert_int_equal(why, IDENT_NDEF_MALFORMED);
}

static void use_patterns(struct fx *f)
{
	f->cfg.nfc_ndef.n_patterns = 3;
	f->cfg.nfc_ndef.patterns[0] =
	    (struct ident_ndef_pattern){.field = IDENT_NDEF_FIELD_URI,
					.prefix = "https://regulars.example/c/",
					.as = IDENT_TYPE_LOYALTY};
	f->cfg.nfc_ndef.patterns[1] = (struct ident_ndef_pattern){
	    .field = IDENT_NDEF_FIELD_TEXT, .prefix = "RG:", .as = IDENT_TYPE_LOYALTY};
	f->cfg.nfc_ndef.patterns[2] =
	    (struct ident_ndef_pattern){.field = IDENT_NDEF_FIELD_URI,
					.prefix = "https://regulars.example/m/",
					.as = IDENT_TYPE_NFC_NDEF};
	fx_reopen(f);
}

static struct ident_result one_uri(struct fx *f, uint8_t code, const char *rest, int longform)
{
	uint8_t msg[400], pl[300];
	size_t pn = uri_payload(pl, code, rest);
	size_t n = rec(msg, MB | ME, 1, "U", NULL, pl, pn, longform);
	return fx_bytes(f, IDENT_SRC_NDEF, msg, n);
}

static void ndef_loyalty_uri_and_text_patterns(void **state)
{
	struct fx *f = *state;
	struct ident_result r, bar;
	uint8_t msg[400], pl[300];
	size_t n, pn;

	use_patterns(f);
	r = one_uri(f, 0x04, "regulars.example/c/4006381333931", 0);
	fx_assert_ok(f, &r, IDENT_TYPE_LOYALTY, "4006381333931");
	bar = fx_text(f, IDENT_SRC_BARCODE, "4006381333931");
	assert_memory_equal(r.token, bar.token, RG_TOKEN_LEN); /* tag and barcode: one token */
	r = one_uri(f, 0x04, "regulars.example/c/4006381333931", 1);
	fx_assert_ok(f, &r, IDENT_TYPE_LOYALTY, "4006381333931");
	r = one_uri(f, 0x00, "https://regulars.example/c/036000291452", 0);
	fx_assert_ok(f, &r, IDENT_TYPE_LOYALTY, "0036000291452");
	r = one_uri(f, 0x04, "regulars.example/c/4006381333932", 0);
	fx_assert_refused(&r, IDENT_BAD_CHECK_DIGIT, "uri with bad check digit");
	r = one_uri(f, 0x04, "regulars.example/c/", 0);
	fx_assert_refused(&r, IDENT_TOO_SHORT, "uri without id");
	r = one_uri(f, 0x02, "regulars.example/c/4006381333931", 0); /* https://www. */
	fx_assert_refused(&r, IDENT_NO_MATCH, "other host");
	assert_int_equal(r.type, IDENT_TYPE_NFC_NDEF);
	r = one_uri(f, 0x04, "regulars.example/m/AB-12.x", 0);
	fx_assert_ok(f, &r, IDENT_TYPE_NFC_NDEF, "AB-12.x");
	r = one_uri(f, 0x04, "regulars.example/m/AB 12", 0);
	fx_assert_refused(&r, IDENT_BAD_CHARSET, "nfc_ndef id with a space");

	/* Text record after a media record */
	n = rec(msg, MB, 2, "text/plain", NULL, "hi", 2, 0);
	pn = text_payload(pl, "en", "RG:4006381333931", 16, 0);
	n += rec(msg + n, ME, 1, "T", NULL, pl, pn, 0);
	r = fx_bytes(f, IDENT_SRC_NDEF, msg, n);
	fx_assert_ok(f, &r, IDENT_TYPE_LOYALTY, "4006381333931");
	/* non-UTF-8 Text refuses the message */
	pn = text_payload(pl, "en", "RG:40063\xfe", 9, 0);
	n = rec(msg, MB | ME, 1, "T", NULL, pl, pn, 0);
	r = fx_bytes(f, IDENT_SRC_NDEF, msg, n);
	fx_assert_refused(&r, IDENT_NOT_UTF8, "text not utf-8");
	pn = text_payload(pl, "en", "R\0G\0", 4, 1);
	n = rec(msg, MB | ME, 1, "T", NULL, pl, pn, 0);
	r = fx_bytes(f, IDENT_SRC_NDEF, msg, n);
	fx_assert_refused(&r, IDENT_NOT_UTF8, "text utf-16");
	/* a Text record without the prefix: no match */
	pn = text_payload(pl, "en", "hello", 5, 0);
	n = rec(msg, MB | ME, 1, "T", NULL, pl, pn, 0);
	r = fx_bytes(f, IDENT_SRC_NDEF, msg, n);
	fx_assert_refused(&r, IDENT_NO_MATCH, "plain text");
	/* empty NDEF message */
	r = fx_bytes(f, IDENT_SRC_NDEF, "\xd0\x00\x00", 3);
	fx_assert_refused(&r, IDENT_NO_MATCH, "empty message");
}

static void ndef_truncated_chunked_and_oversized_messages(void **state)
{
	struct fx *f = *state;
	uint8_t msg[400], pl[300];
	size_t n, pn;
	struct ident_result r;

	use_patterns(f);
	pn = uri_payload(pl, 0x04, "regulars.example/c/4006381333931");
	n = rec(msg, MB | ME, 1, "U", NULL, pl, pn, 0);
	for (size_t cut = 0; cut < n; cut++) {
		char what[32];
		snprintf(what, sizeof what, "cut to %zu", cut);
		r = fx_bytes(f, IDENT_SRC_NDEF, msg, cut);
		fx_assert_refused(&r, cut == 0 ? IDENT_TOO_SHORT : IDENT_NDEF_MALFORMED, what);
	}
	msg[0] |= CF;
	r = fx_bytes(f, IDENT_SRC_NDEF, msg, n);
	fx_assert_refused(&r, IDENT_NDEF_CHUNKED, "chunked");
	/* a URI too long to be ours */
	memset(pl + 1, 'a', 290);
	pl[0] = 0x04;
	memcpy(pl + 1, "regulars.example/c/", 19);
	n = rec(msg, MB | ME, 1, "U", NULL, pl, 291, 1);
	r = fx_bytes(f, IDENT_SRC_NDEF, msg, n);
	fx_assert_refused(&r, IDENT_TOO_LONG, "oversized uri");
	/* a loyalty id longer than any rule */
	r = one_uri(f, 0x04, "regulars.example/c/400638133393140063813339314006381333931", 0);
	fx_assert_refused(&r, IDENT_TOO_LONG, "oversized id");
	/* nfc_ndef disabled */
	f->cfg.nfc_ndef.enabled = false;
	fx_reopen(f);
	r = one_uri(f, 0x04, "regulars.example/c/4006381333931", 0);
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "disabled");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(nfc_uid_lengths_and_random_ids, fx_setup, fx_teardown),
	    cmocka_unit_test(ndef_parser_reads_short_long_and_id_records),
	    cmocka_unit_test(ndef_parser_refuses_malformed_messages),
	    cmocka_unit_test(ndef_parser_caps_records),
	    cmocka_unit_test(ndef_uri_prefix_table_and_text_records),
	    cmocka_unit_test_setup_teardown(ndef_loyalty_uri_and_text_patterns, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(ndef_truncated_chunked_and_oversized_messages, fx_setup,
					    fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
