/*
 * fuzz_ctl_status.c - libFuzzer target for the rendering of retained status
 * reports by `regularsctl config status` (ctl_status.c): input is a topic,
 * a NUL byte, then the payload. Both output forms are produced (to
 * /dev/null) for every row that parses.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../ctl_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	char topic[300];
	const uint8_t *nul = memchr(data, 0, size);
	struct ctl_status_row r;
	size_t tl;

	if (!sink && !(sink = fopen("/dev/null", "w")))
		return 0;
	if (!nul || (tl = (size_t)(nul - data)) >= sizeof topic)
		return 0;
	memcpy(topic, data, tl);
	topic[tl] = '\0';
	if (!ctl_status_row_parse(topic, nul + 1, size - tl - 1, &r))
		return 0;
	ctl_status_row_print(&r, false, sink);
	ctl_status_row_print(&r, true, sink);
	ctl_status_row_clear(&r);
	return 0;
}
