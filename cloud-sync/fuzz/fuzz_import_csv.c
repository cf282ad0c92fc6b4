/*
 * fuzz_import_csv.c - libFuzzer target: CSV files of `regularsctl import`.
 * The input's first line is the header (cloud_csv_header_parse), every
 * further line a row (cloud_csv_split, cloud_csv_row_to_json); an
 * interaction row that converts goes on to the record parser, a profile row
 * to the customer parser, as the importer does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/import.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct cloud_csv_header h;
	char err[512];
	int first = 1, have_header = 0;

	rg_log_set_level(RG_LOG_OFF);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct cloud_csv_row row;
		if (first) {
			have_header = cloud_csv_header_parse(p, len, &h, err, sizeof err) == 0;
			first = 0;
		} else if (cloud_csv_split(p, len, &row, err, sizeof err) == 0) {
			cJSON *obj = NULL;
			if (row.n < 1 || row.n > CLOUD_CSV_FIELDS_MAX)
				abort();
			if (have_header &&
			    cloud_csv_row_to_json(&h, &row, &obj, err, sizeof err) == 0) {
				if (h.kind == CLOUD_CSV_INTERACTIONS) {
					struct cloud_import_rec r;
					if (cloud_import_interaction_from(obj, &r, err,
									  sizeof err) == 0)
						cloud_import_rec_free(&r);
				} else {
					struct rg_customer c;
					char *t = cJSON_PrintUnformatted(obj);
					if (t && rg_customer_parse(t, strlen(t), &c, err,
								   sizeof err) == 0)
						rg_customer_free(&c);
					cJSON_free(t);
				}
				cJSON_Delete(obj);
			}
			cloud_csv_row_free(&row);
		}
		p += len + (nl ? 1 : 0);
	}
	return 0;
}
