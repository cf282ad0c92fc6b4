/* test_sim_line.c - the sim reader's grammar, table-driven: every command's
 * read, and every refusal with its documented reason word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

#include "reader/sim_line.h"

struct ok_case {
	const char *line;
	enum hal_read_kind kind;
	enum hal_read_tech tech;
	const char *uid_hex; /* as bytes */
	size_t uid_len;
	const char *payload;
	size_t payload_len;
};

static void valid_lines_make_reads(void **state)
{
	static const struct ok_case cases[] = {
	    {"nfc 04A1B2C3", HAL_READ_NFC_UID, HAL_TECH_ISO14443A, "\x04\xa1\xb2\xc3", 4, "", 0},
	    {"nfc 04112233445566", HAL_READ_NFC_UID, HAL_TECH_ISO14443A,
	     "\x04\x11\x22\x33\x44\x55\x66", 7, "", 0},
	    {"nfc 0102030405060708090a", HAL_READ_NFC_UID, HAL_TECH_ISO14443A,
	     "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 10, "", 0},
	    {"ndef d1010455", HAL_READ_NDEF, HAL_TECH_ISO14443A, "", 0, "\xd1\x01\x04\x55", 4},
	    {"ndef D1010455 04a1b2c3", HAL_READ_NDEF, HAL_TECH_ISO14443A, "\x04\xa1\xb2\xc3", 4,
	     "\xd1\x01\x04\x55", 4},
	    {"barcode 4006381333931", HAL_READ_BARCODE, HAL_TECH_NONE, "", 0, "4006381333931", 13},
	    {"qr hello world ", HAL_READ_QR, HAL_TECH_NONE, "", 0, "hello world ", 12},
	    {"qr Gr\303\274\303\237e", HAL_READ_QR, HAL_TECH_NONE, "", 0, "Gr\303\274\303\237e", 7},
	    {"barcode 0104012345678901\03510ABC", HAL_READ_BARCODE, HAL_TECH_NONE, "", 0,
	     "0104012345678901\03510ABC", 22},
	    {"mag %B6009...?;6009=?", HAL_READ_MAGSTRIPE, HAL_TECH_NONE, "", 0, "%B6009...?;6009=?",
	     17},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct ok_case *c = &cases[i];
		struct hal_read rd;
		const char *reason;
		int rc = hal__sim_parse_line(c->line, strlen(c->line), &rd, &reason);
		assert_int_equal(rc, 1);
		assert_int_equal(rd.kind, c->kind);
		assert_int_equal(rd.tech, c->tech);
		assert_int_equal(rd.uid_len, c->uid_len);
		assert_memory_equal(rd.uid, c->uid_hex, c->uid_len);
		assert_int_equal(rd.payload_len, c->payload_len);
		assert_memory_equal(rd.payload, c->payload, c->payload_len);
	}
}

static void ping_is_valid_but_no_read(void **state)
{
	struct hal_read rd;
	const char *reason;
	(void)state;
	assert_int_equal(hal__sim_parse_line("ping", 4, &rd, &reason), 0);
	assert_int_equal(hal__sim_parse_line("ping x", 6, &rd, &reason), RG_ERR_PARSE);
	assert_string_equal(reason, "extra_argument");
}

static void bad_lines_are_refused_with_a_reason(void **state)
{
	static const struct {
		const char *line;
		const char *reason;
	} cases[] = {
	    {"", "empty_line"},
	    {"NFC 04A1B2C3", "unknown_command"},
	    {"tap 04A1B2C3", "unknown_command"},
	    {"nfc", "missing_argument"},
	    {"nfc ", "missing_argument"},
	    {"nfc 04A1B2C", "bad_hex"},
	    {"nfc 04A1B2CG", "bad_hex"},
	    {"nfc 0102030405060708090a0b", "uid_length"},
	    {"nfc 04A1B2C3 extra", "extra_argument"},
	    {"nfc  04A1B2C3", "extra_argument"},
	    {"ndef", "missing_argument"},
	    {"ndef zz", "bad_hex"},
	    {"ndef d101 0102030405060708090a0b", "uid_length"},
	    {"ndef d101 04A1 x", "extra_argument"},
	    {"barcode", "missing_argument"},
	    {"barcode ", "missing_argument"},
	    {"barcode abc\tdef", "bad_text"},
	    {"qr \xff\xfe", "bad_text"},
	    {"mag abc\x7f", "bad_text"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct hal_read rd;
		const char *reason = NULL;
		int rc = hal__sim_parse_line(cases[i].line, strlen(cases[i].line), &rd, &reason);
		if (rc != RG_ERR_PARSE || strcmp(reason, cases[i].reason))
			fail_msg("line %zu \"%s\": rc=%d reason=%s, want %s", i, cases[i].line, rc,
				 reason ? reason : "(null)", cases[i].reason);
	}
}

static void size_limits(void **state)
{
	static char line[HAL__SIM_LINE_MAX + 16];
	struct hal_read rd;
	const char *reason;
	size_t n;
	(void)state;
	/* exactly 1024 bytes of text is fine, 1025 is not */
	memcpy(line, "qr ", 3);
	memset(line + 3, 'a', HAL_READ_PAYLOAD_MAX + 1);
	assert_int_equal(hal__sim_parse_line(line, 3 + HAL_READ_PAYLOAD_MAX, &rd, &reason), 1);
	assert_int_equal(rd.payload_len, HAL_READ_PAYLOAD_MAX);
	assert_int_equal(hal__sim_parse_line(line, 3 + HAL_READ_PAYLOAD_MAX + 1, &rd, &reason),
			 RG_ERR_PARSE);
	assert_string_equal(reason, "too_long");
	/* 1024 NDEF bytes = 2048 hex digits fine; 1025 not */
	memcpy(line, "ndef ", 5);
	memset(line + 5, 'a', 2 * HAL_READ_PAYLOAD_MAX + 2);
	n = 5 + 2 * HAL_READ_PAYLOAD_MAX;
	assert_int_equal(hal__sim_parse_line(line, n, &rd, &reason), 1);
	assert_int_equal(rd.payload_len, HAL_READ_PAYLOAD_MAX);
	assert_int_equal(hal__sim_parse_line(line, n + 2, &rd, &reason), RG_ERR_PARSE);
	assert_string_equal(reason, "too_long");
	memset(line, 'a', sizeof line);
	assert_int_equal(hal__sim_parse_line(line, HAL__SIM_LINE_MAX + 1, &rd, &reason),
			 RG_ERR_PARSE);
	assert_string_equal(reason, "line_too_long");
	/* an embedded NUL is data, and not acceptable text */
	assert_int_equal(hal__sim_parse_line("qr a\0b", 6, &rd, &reason), RG_ERR_PARSE);
	assert_string_equal(reason, "bad_text");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(valid_lines_make_reads),
	    cmocka_unit_test(ping_is_valid_but_no_read),
	    cmocka_unit_test(bad_lines_are_refused_with_a_reason),
	    cmocka_unit_test(size_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
