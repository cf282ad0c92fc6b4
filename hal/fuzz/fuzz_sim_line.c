/*
 * fuzz_sim_line.c - libFuzzer target for the sim reader's line parser, which
 * takes bytes from any local process. Whatever it accepts must respect the
 * read's caps, and accepted text must be clean text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/text.h"
#include "reader/sim_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hal_read rd;
	const char *reason;
	int rc = hal__sim_parse_line((const char *)data, size, &rd, &reason);

	if (rc < 0 && (!reason || !reason[0]))
		abort();
	if (rc == 1) {
		if (rd.payload_len > HAL_READ_PAYLOAD_MAX || rd.uid_len > HAL_READ_UID_MAX)
			abort();
		if ((rd.kind == HAL_READ_BARCODE || rd.kind == HAL_READ_QR ||
		     rd.kind == HAL_READ_MAGSTRIPE) &&
		    (rd.payload_len == 0 || hal__text_check(rd.payload, rd.payload_len) != 0))
			abort();
		if (rd.kind == HAL_READ_NFC_UID && rd.uid_len == 0)
			abort();
	}
	return 0;
}
