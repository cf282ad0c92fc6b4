/*
 * nfc_tag.c - NDEF message extraction for NFC Forum Type 2 (READ 0x30,
 * CC in page 3, TLVs from page 4) and Type 4 (ISO-DEP: NDEF application,
 * CC file E103, NDEF file with NLEN) tags. Bytes from a tag are outside
 * input: every offset is checked before use. Memory-control TLVs' reserved
 * areas are not skipped (no common NDEF tag puts them inside a message).
 */
#include <string.h>

#include "common/err.h"

#include "nfc_tag.h"

/* ---- Type 2 ---- */

int hal__t2_cc_check(const uint8_t cc[4], size_t *area)
{
	*area = 0;
	if (cc[0] != 0xE1)
		return RG_ERR_NOTFOUND;
	if ((cc[1] >> 4) != 1)
		return RG_ERR_UNSUPPORTED;
	if ((cc[3] >> 4) != 0)
		return RG_ERR_UNSUPPORTED; /* no read access */
	*area = (size_t)cc[2] * 8;
	return *area ? 0 : RG_ERR_NOTFOUND;
}

int hal__t2_tlv_find(const uint8_t *d, size_t n, size_t area, size_t *off, size_t *len)
{
	size_t i = 0;

	*off = 0;
	*len = 0;
	if (n > area)
		n = area;
	while (i < area) {
		uint8_t t;
		size_t l, v;
		if (i >= n)
			return RG_ERR_AGAIN;
		t = d[i];
		if (t == 0x00) { /* NULL TLV: no length */
			i++;
			continue;
		}
		if (t == 0xFE)
			return 0; /* terminator */
		if (i + 1 >= area)
			return RG_ERR_PARSE;
		if (i + 1 >= n)
			return RG_ERR_AGAIN;
		l = d[i + 1];
		v = i + 2;
		if (l == 0xFF) {
			if (i + 3 >= area)
				return RG_ERR_PARSE;
			if (i + 3 >= n)
				return RG_ERR_AGAIN;
			l = (size_t)d[i + 2] << 8 | d[i + 3];
			v = i + 4;
		}
		if (v + l > area)
			return RG_ERR_PARSE;
		if (t == 0x03) {
			if (l == 0)
				return 0; /* an empty NDEF TLV: no message */
			*len = l;
			if (v + l > n)
				return RG_ERR_AGAIN;
			*off = v;
			return 1;
		}
		/* Lock/Memory Control, proprietary and unknown TLVs are skipped. */
		i = v + l;
	}
	return 0;
}

int hal__t2_read_ndef(const struct hal__tag_io *io, uint8_t *out, size_t cap)
{
	uint8_t data[HAL__T2_AREA_MAX], rx[32], cmd[2] = {0x30, 3};
	size_t area, have, off, len;
	int k, rc;

	k = io->xfer(io->ctx, cmd, 2, rx, sizeof rx);
	if (k < 0)
		return k;
	if (k != 16)
		return RG_ERR_PARSE;
	rc = hal__t2_cc_check(rx, &area);
	if (rc == RG_ERR_NOTFOUND || rc == RG_ERR_UNSUPPORTED)
		return 0; /* not an NDEF tag (or not one we may read): a plain UID */
	have = area < 12 ? area : 12;
	memcpy(data, rx + 4, have);
	for (;;) {
		rc = hal__t2_tlv_find(data, have, area, &off, &len);
		if (rc == 1)
			break;
		if (rc != RG_ERR_AGAIN)
			return rc;
		if (len > cap)
			return RG_ERR_TOOBIG; /* no need to read the rest */
		if (4 + have / 4 > 0xFF)
			return RG_ERR_TOOBIG; /* beyond sector 0: needs SECTOR_SELECT */
		cmd[1] = (uint8_t)(4 + have / 4);
		k = io->xfer(io->ctx, cmd, 2, rx, sizeof rx);
		if (k < 0)
			return k;
		if (k != 16)
			return RG_ERR_PARSE;
		k = area - have < 16 ? (int)(area - have) : 16;
		memcpy(data + have, rx, (size_t)k);
		have += (size_t)k;
	}
	if (len > cap)
		return RG_ERR_TOOBIG;
	memcpy(out, data + off, len);
	return (int)len;
}

/* ---- Type 4 ---- */

static int sw_ok(const uint8_t *rx, int n)
{
	return n >= 2 && rx[n - 2] == 0x90 && rx[n - 1] == 0x00;
}

int hal__t4_cc_parse(const uint8_t *b, size_t n, struct hal__t4_cc *cc)
{
	size_t cclen;

	memset(cc, 0, sizeof *cc);
	if (n < 15)
		return RG_ERR_PARSE;
	cclen = (size_t)b[0] << 8 | b[1];
	if (cclen < 15)
		return RG_ERR_PARSE;
	if ((b[2] >> 4) != 1 && (b[2] >> 4) != 2)
		return RG_ERR_UNSUPPORTED; /* mapping 3.0 uses an extended TLV */
	cc->mle = (uint16_t)(b[3] << 8 | b[4]);
	cc->mlc = (uint16_t)(b[5] << 8 | b[6]);
	if (cc->mle < 0x0F || cc->mlc < 0x01)
		return RG_ERR_PARSE;
	if (b[7] != 0x04 || b[8] < 6)
		return RG_ERR_PARSE; /* the NDEF File Control TLV comes first */
	cc->fid = (uint16_t)(b[9] << 8 | b[10]);
	if (cc->fid == 0x0000 || cc->fid == 0xE102 || cc->fid == 0xE103 || cc->fid == 0x3F00 ||
	    cc->fid == 0x3FFF || cc->fid == 0xFFFF)
		return RG_ERR_PARSE;
	cc->max_size = (uint16_t)(b[11] << 8 | b[12]);
	if (cc->max_size < 5 || cc->max_size == 0xFFFF)
		return RG_ERR_PARSE;
	if (b[13] != 0x00)
		return RG_ERR_UNSUPPORTED; /* no read access */
	return 0;
}

int hal__t4_nlen_parse(const uint8_t *b, size_t n, const struct hal__t4_cc *cc, size_t *nlen)
{
	*nlen = 0;
	if (n < 2)
		return RG_ERR_PARSE;
	*nlen = (size_t)b[0] << 8 | b[1];
	if (*nlen > (size_t)cc->max_size - 2) {
		*nlen = 0;
		return RG_ERR_PARSE;
	}
	return 0;
}

static int apdu(const struct hal__tag_io *io, const uint8_t *tx, size_t txlen, uint8_t *rx,
		size_t cap)
{
	int k = io->xfer(io->ctx, tx, txlen, rx, cap);
	if (k < 0)
		return k;
	return sw_ok(rx, k) ? k - 2 : RG_ERR_NOTFOUND;
}

int hal__t4_read_ndef(const struct hal__tag_io *io, uint8_t *out, size_t cap)
{
	static const uint8_t select_app[] = {0x00, 0xA4, 0x04, 0x00, 0x07, 0xD2, 0x76,
					     0x00, 0x00, 0x85, 0x01, 0x01, 0x00};
	static const uint8_t select_cc[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0xE1, 0x03};
	static const uint8_t read_cc[] = {0x00, 0xB0, 0x00, 0x00, 0x0F};
	uint8_t rx[258], cmd[8];
	struct hal__t4_cc cc;
	size_t nlen, got = 0;
	int k, rc;

	k = apdu(io, select_app, sizeof select_app, rx, sizeof rx);
	if (k == RG_ERR_NOTFOUND)
		return 0; /* no NDEF application: not an NFC Forum tag */
	if (k < 0)
		return k;
	k = apdu(io, select_cc, sizeof select_cc, rx, sizeof rx);
	if (k < 0)
		return k == RG_ERR_NOTFOUND ? RG_ERR_PARSE : k;
	k = apdu(io, read_cc, sizeof read_cc, rx, sizeof rx);
	if (k < 0)
		return k == RG_ERR_NOTFOUND ? RG_ERR_PARSE : k;
	rc = hal__t4_cc_parse(rx, (size_t)k, &cc);
	if (rc == RG_ERR_UNSUPPORTED)
		return 0;
	if (rc)
		return rc;
	cmd[0] = 0x00;
	cmd[1] = 0xA4;
	cmd[2] = 0x00;
	cmd[3] = 0x0C;
	cmd[4] = 0x02;
	cmd[5] = (uint8_t)(cc.fid >> 8);
	cmd[6] = (uint8_t)cc.fid;
	k = apdu(io, cmd, 7, rx, sizeof rx);
	if (k < 0)
		return k == RG_ERR_NOTFOUND ? RG_ERR_PARSE : k;
	cmd[1] = 0xB0;
	cmd[2] = 0x00;
	cmd[3] = 0x00;
	cmd[4] = 0x02;
	k = apdu(io, cmd, 5, rx, sizeof rx);
	if (k < 0)
		return k == RG_ERR_NOTFOUND ? RG_ERR_PARSE : k;
	rc = hal__t4_nlen_parse(rx, (size_t)k, &cc, &nlen);
	if (rc)
		return rc;
	if (nlen == 0)
		return 0;
	if (nlen > cap)
		return RG_ERR_TOOBIG;
	while (got < nlen) {
		size_t want = nlen - got, offset = 2 + got;
		size_t max = cc.mle < 0xF0 ? cc.mle : 0xF0;
		if (want > max)
			want = max;
		cmd[2] = (uint8_t)(offset >> 8);
		cmd[3] = (uint8_t)offset;
		cmd[4] = (uint8_t)want;
		k = apdu(io, cmd, 5, rx, sizeof rx);
		if (k < 0)
			return k == RG_ERR_NOTFOUND ? RG_ERR_PARSE : k;
		if (k == 0 || (size_t)k > want)
			return RG_ERR_PARSE;
		memcpy(out + got, rx, (size_t)k);
		got += (size_t)k;
	}
	return (int)nlen;
}
