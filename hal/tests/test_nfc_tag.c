/* test_nfc_tag.c - NDEF extraction from Type 2 and Type 4 tags against fake
 * tags in memory (the same code the libnfc backend runs): good tags, tags
 * without NDEF, and malformed or oversized tag data, which must be refused
 * without reading out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

#include "reader/nfc_tag.h"

/* NDEF URI record https://regulars.example/c/4006381333931 */
static const uint8_t uri_msg[] = {0xD1, 0x01, 0x21, 0x55, 0x04, 'r', 'e', 'g', 'u', 'l',
				  'a',	'r',  's',  '.',  'e',	'x', 'a', 'm', 'p', 'l',
				  'e',	'/',  'c',  '/',  '4',	'0', '0', '6', '3', '8',
				  '1',	'3',  '3',  '3',  '9',	'3', '1'};

/* ---- a fake Type 2 tag ---- */
struct t2 {
	uint8_t mem[1024];
	size_t pages;
	int reads;
	int fail_at; /* the read number that fails (0: none) */
};

static int t2_xfer(void *ctx, const uint8_t *tx, size_t txlen, uint8_t *rx, size_t cap)
{
	struct t2 *t = ctx;
	if (txlen != 2 || tx[0] != 0x30 || cap < 16)
		return RG_ERR_IO;
	if (++t->reads == t->fail_at || tx[1] >= t->pages)
		return RG_ERR_IO;
	for (size_t i = 0; i < 16; i++)
		rx[i] = t->mem[(tx[1] * 4 + i) % (t->pages * 4)];
	return 16;
}

static void t2_init(struct t2 *t, size_t pages, const uint8_t *tlvs, size_t n)
{
	memset(t, 0, sizeof *t);
	t->pages = pages;
	t->mem[12] = 0xE1;
	t->mem[13] = 0x10;
	t->mem[14] = (uint8_t)((pages - 4) * 4 / 8);
	memcpy(t->mem + 16, tlvs, n);
}

static void t2_short_and_long_messages(void **state)
{
	struct t2 t;
	struct hal__tag_io io = {t2_xfer, &t};
	uint8_t tlv[700], out[1024];
	(void)state;
	tlv[0] = 0x03;
	tlv[1] = sizeof uri_msg;
	memcpy(tlv + 2, uri_msg, sizeof uri_msg);
	tlv[2 + sizeof uri_msg] = 0xFE;
	t2_init(&t, 45, tlv, sizeof uri_msg + 3);
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), (int)sizeof uri_msg);
	assert_memory_equal(out, uri_msg, sizeof uri_msg);
	assert_int_equal(t.reads, 3); /* CC+12 bytes, then 16, then 16: no more than needed */

	/* 600-byte message: 3-byte length form, after a Lock Control TLV and NULLs */
	tlv[0] = 0x01;
	tlv[1] = 0x03;
	tlv[2] = 0xA0;
	tlv[3] = 0x10;
	tlv[4] = 0x44;
	tlv[5] = 0x00;
	tlv[6] = 0x00;
	tlv[7] = 0x03;
	tlv[8] = 0xFF;
	tlv[9] = 0x02;
	tlv[10] = 0x58;
	for (int i = 0; i < 600; i++)
		tlv[11 + i] = (uint8_t)i;
	tlv[611] = 0xFE;
	t2_init(&t, 231, tlv, 612);
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), 600);
	assert_int_equal(out[599], (uint8_t)599);
	assert_int_equal(out[0], 0);
}

static void t2_without_ndef(void **state)
{
	struct t2 t;
	struct hal__tag_io io = {t2_xfer, &t};
	uint8_t out[64];
	static const uint8_t empty[] = {0x03, 0x00, 0xFE};
	static const uint8_t term[] = {0xFE, 0x03, 0x05, 1, 2, 3, 4, 5};
	(void)state;
	memset(&t, 0, sizeof t);
	t.pages = 45; /* unformatted: CC all zero */
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), 0);
	t2_init(&t, 45, empty, sizeof empty);
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), 0);
	t2_init(&t, 45, term, sizeof term);
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), 0);
	t2_init(&t, 45, term, sizeof term);
	t.mem[13] = 0x20; /* major version 2: not ours to interpret */
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), 0);
}

static void t2_malformed_and_oversized(void **state)
{
	struct t2 t;
	struct hal__tag_io io = {t2_xfer, &t};
	uint8_t out[64];
	static const uint8_t past_end[] = {0x03, 0xFF, 0x10, 0x00};
	static const uint8_t big[] = {0x03, 0xC8};
	static const uint8_t ok[] = {0x03, 0x30};
	(void)state;
	t2_init(&t, 45, past_end, sizeof past_end); /* 4096 bytes in a 164-byte area */
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), RG_ERR_PARSE);
	t2_init(&t, 231, big, sizeof big); /* 200 bytes > cap 64: refused before reading it */
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), RG_ERR_TOOBIG);
	assert_int_equal(t.reads, 1);
	t2_init(&t, 45, ok, sizeof ok);
	t.fail_at = 3; /* the tag leaves mid-read */
	assert_int_equal(hal__t2_read_ndef(&io, out, sizeof out), RG_ERR_IO);
}

static void t2_tlv_walk_edges(void **state)
{
	size_t off, len;
	static const uint8_t hdr_only[] = {0x03, 0x10};
	static const uint8_t cut_len[] = {0x03, 0xFF, 0x00};
	static const uint8_t skip_past[] = {0x01, 0x09, 0, 0, 0};
	(void)state;
	assert_int_equal(hal__t2_tlv_find(hdr_only, 2, 64, &off, &len), RG_ERR_AGAIN);
	assert_int_equal(len, 16);
	assert_int_equal(hal__t2_tlv_find(hdr_only, 2, 8, &off, &len), RG_ERR_PARSE);
	assert_int_equal(hal__t2_tlv_find(cut_len, 3, 64, &off, &len), RG_ERR_AGAIN);
	assert_int_equal(hal__t2_tlv_find(cut_len, 3, 3, &off, &len), RG_ERR_PARSE);
	assert_int_equal(hal__t2_tlv_find(skip_past, 5, 8, &off, &len), RG_ERR_PARSE);
	assert_int_equal(hal__t2_tlv_find(NULL, 0, 0, &off, &len), 0);
	{
		uint8_t cc[4] = {0xE1, 0x10, 0x00, 0x00};
		size_t area;
		assert_int_equal(hal__t2_cc_check(cc, &area), RG_ERR_NOTFOUND); /* size 0 */
		cc[2] = 0x12;
		cc[3] = 0x80;
		assert_int_equal(hal__t2_cc_check(cc, &area), RG_ERR_UNSUPPORTED);
		cc[3] = 0x0F; /* read-only tag: still readable */
		assert_int_equal(hal__t2_cc_check(cc, &area), 0);
		assert_int_equal(area, 144);
	}
}

/* ---- a fake Type 4 tag ---- */
struct t4 {
	uint8_t cc[15];
	uint8_t file[2100];
	size_t file_len;
	int app, sel; /* sel: 1 CC, 2 NDEF */
	int reads;
};

static int t4_xfer(void *ctx, const uint8_t *a, size_t n, uint8_t *r, size_t cap)
{
	static const uint8_t aid[] = {0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01};
	struct t4 *t = ctx;
	size_t o = 0;
	if (cap < 258)
		return RG_ERR_IO;
	if (n >= 12 && a[1] == 0xA4 && a[2] == 0x04 && !memcmp(a + 5, aid, 7) && t->app >= 0) {
		t->app = 1;
	} else if (n == 7 && a[1] == 0xA4 && a[2] == 0x00 && t->app == 1) {
		uint16_t fid = (uint16_t)(a[5] << 8 | a[6]);
		uint16_t ndef = (uint16_t)(t->cc[9] << 8 | t->cc[10]);
		if (fid == 0xE103)
			t->sel = 1;
		else if (fid == ndef)
			t->sel = 2;
		else
			goto notfound;
	} else if (n == 5 && a[1] == 0xB0 && t->sel) {
		const uint8_t *f = t->sel == 1 ? t->cc : t->file;
		size_t flen = t->sel == 1 ? sizeof t->cc : t->file_len;
		size_t off = (size_t)(a[2] << 8 | a[3]), le = a[4] ? a[4] : 256;
		if (t->sel == 2)
			t->reads++;
		if (off > flen)
			goto notfound;
		o = flen - off < le ? flen - off : le;
		memcpy(r, f + off, o);
	} else {
		goto notfound;
	}
	r[o++] = 0x90;
	r[o++] = 0x00;
	return (int)o;
notfound:
	r[0] = 0x6A;
	r[1] = 0x82;
	return 2;
}

static void t4_init(struct t4 *t, const uint8_t *msg, size_t n, uint16_t mle)
{
	static const uint8_t cc[15] = {0x00, 0x0F, 0x20, 0x00, 0x3B, 0x00, 0x34, 0x04,
				       0x06, 0xE1, 0x04, 0x08, 0x00, 0x00, 0x00};
	memset(t, 0, sizeof *t);
	memcpy(t->cc, cc, sizeof cc);
	t->cc[3] = (uint8_t)(mle >> 8);
	t->cc[4] = (uint8_t)mle;
	t->file[0] = (uint8_t)(n >> 8);
	t->file[1] = (uint8_t)n;
	memcpy(t->file + 2, msg, n);
	t->file_len = n + 2;
}

static void t4_reads_in_mle_chunks(void **state)
{
	struct t4 t;
	struct hal__tag_io io = {t4_xfer, &t};
	uint8_t msg[1000], out[1024];
	(void)state;
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B);
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), (int)sizeof uri_msg);
	assert_memory_equal(out, uri_msg, sizeof uri_msg);
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)(i * 7);
	t4_init(&t, msg, sizeof msg, 0x0F); /* 15-byte answers at most */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), 1000);
	assert_memory_equal(out, msg, 1000);
	assert_int_equal(t.reads, 1 + (1000 + 14) / 15);
}

static void t4_without_ndef_or_broken(void **state)
{
	struct t4 t;
	struct hal__tag_io io = {t4_xfer, &t};
	uint8_t out[64];
	(void)state;
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B);
	t.app = -1; /* no NDEF application: some other smart card */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), 0);
	t4_init(&t, uri_msg, 0, 0x3B); /* NLEN 0 */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), 0);
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B); /* > cap 64? no, 39: fits */
	assert_int_equal(hal__t4_read_ndef(&io, out, 16), RG_ERR_TOOBIG);
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B);
	t.file[0] = 0x08; /* NLEN 0x0825 > max size 0x0800 - 2 */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), RG_ERR_PARSE);
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B);
	t.cc[7] = 0x05; /* not an NDEF File Control TLV */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), RG_ERR_PARSE);
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B);
	t.cc[13] = 0xFF; /* no read access */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), 0);
	t4_init(&t, uri_msg, sizeof uri_msg, 0x3B);
	t.file_len = 20; /* file shorter than NLEN says: the tag stops answering */
	assert_int_equal(hal__t4_read_ndef(&io, out, sizeof out), RG_ERR_PARSE);
}

static void t4_cc_parse_edges(void **state)
{
	struct hal__t4_cc cc;
	uint8_t b[15] = {0x00, 0x0F, 0x20, 0x00, 0x3B, 0x00, 0x34, 0x04,
			 0x06, 0xE1, 0x04, 0x08, 0x00, 0x00, 0x00};
	size_t nlen;
	uint8_t nb[2] = {0x07, 0xFE};
	(void)state;
	assert_int_equal(hal__t4_cc_parse(b, 14, &cc), RG_ERR_PARSE);
	assert_int_equal(hal__t4_cc_parse(b, 15, &cc), 0);
	assert_int_equal(cc.fid, 0xE104);
	assert_int_equal(cc.max_size, 0x0800);
	assert_int_equal(hal__t4_nlen_parse(nb, 2, &cc, &nlen), 0);
	assert_int_equal(nlen, 0x7FE);
	nb[1] = 0xFF;
	assert_int_equal(hal__t4_nlen_parse(nb, 2, &cc, &nlen), RG_ERR_PARSE);
	assert_int_equal(hal__t4_nlen_parse(nb, 1, &cc, &nlen), RG_ERR_PARSE);
	b[2] = 0x30;
	assert_int_equal(hal__t4_cc_parse(b, 15, &cc), RG_ERR_UNSUPPORTED);
	b[2] = 0x20;
	b[9] = 0xE1;
	b[10] = 0x03; /* the CC file itself named as NDEF file */
	assert_int_equal(hal__t4_cc_parse(b, 15, &cc), RG_ERR_PARSE);
	b[10] = 0x04;
	b[11] = 0x00;
	b[12] = 0x02; /* max size below 5 */
	assert_int_equal(hal__t4_cc_parse(b, 15, &cc), RG_ERR_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t2_short_and_long_messages),
	    cmocka_unit_test(t2_without_ndef),
	    cmocka_unit_test(t2_malformed_and_oversized),
	    cmocka_unit_test(t2_tlv_walk_edges),
	    cmocka_unit_test(t4_reads_in_mle_chunks),
	    cmocka_unit_test(t4_without_ndef_or_broken),
	    cmocka_unit_test(t4_cc_parse_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
