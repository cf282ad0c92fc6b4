/*
 * fuzz_nfc_tag.c - libFuzzer target for the Type 2 / Type 4 NDEF extraction.
 * The input is a script of tag answers ([length byte][bytes]...), played to
 * the real readers through the exchange callback; the same bytes also go to
 * the TLV and CC parsers directly. Any out-of-bounds access or a result
 * larger than the input could hold aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#include "reader/nfc_tag.h"

struct script {
	const uint8_t *d;
	size_t n, pos;
};

static int play(void *ctx, const uint8_t *tx, size_t txlen, uint8_t *rx, size_t cap)
{
	struct script *s = ctx;
	size_t len;
	(void)tx;
	(void)txlen;
	if (s->pos >= s->n)
		return RG_ERR_IO;
	len = s->d[s->pos++];
	if (len > s->n - s->pos)
		len = s->n - s->pos;
	if (len > cap)
		len = cap;
	memcpy(rx, s->d + s->pos, len);
	s->pos += len;
	return (int)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = {data, size, 0};
	struct hal__tag_io io = {play, &s};
	uint8_t out[1024];
	size_t off, len, area;
	struct hal__t4_cc cc;
	int rc;

	rc = hal__t2_read_ndef(&io, out, sizeof out);
	if (rc > (int)sizeof out || (rc > 0 && (size_t)rc > size))
		abort();
	s.pos = 0;
	rc = hal__t4_read_ndef(&io, out, sizeof out);
	if (rc > (int)sizeof out || (rc > 0 && (size_t)rc > size))
		abort();

	rc = hal__t2_tlv_find(data, size, size, &off, &len);
	if (rc == 1 && (off + len > size || len == 0))
		abort();
	if (size >= 4)
		hal__t2_cc_check(data, &area);
	if (hal__t4_cc_parse(data, size, &cc) == 0 && size >= 2)
		hal__t4_nlen_parse(data, size, &cc, &len);
	return 0;
}
