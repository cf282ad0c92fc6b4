/*
 * sim_line.h - the sim reader's line grammar (docs/sim-reader.md), as a pure
 * function so tests and the fuzzer drive it without a socket.
 */
#ifndef HAL_READER_SIM_LINE_H
#define HAL_READER_SIM_LINE_H

#include <stddef.h>

#include "hal/reader.h"

#define HAL__SIM_LINE_MAX 4096 /* bytes, without the '\n' */

/* Parse one line (no '\n'; may contain any bytes). Returns 1 and fills rd
 * (everything except time_ms) for a read, 0 for a valid line that makes no
 * read ("ping"), or RG_ERR_PARSE with *reason set to a stable word from the
 * protocol doc. rd is zeroed first in every case. */
int hal__sim_parse_line(const char *line, size_t len, struct hal_read *rd, const char **reason);

#endif
