/*
 * fuzz_wire.c - libFuzzer target for the uplink batch and ack parsers. What
 * parses must re-encode (through the writer) into a document that parses to
 * the same items.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_wire_batch b, b2;
	struct rg_wire_ack a;
	char err[RG_WIRE_ERR_MAX];

	if (rg_wire_ack_parse((const char *)data, size, &a, err, sizeof err) == 0)
		rg_wire_ack_free(&a);
	if (rg_wire_batch_parse((const char *)data, size, &b, err, sizeof err) < 0)
		return 0;
	struct rg_wire_writer *w;
	if (rg_wire_writer_new(b.device, b.store, &b.batch_id, &w) == 0) {
		for (size_t i = 0; i < b.n_items; i++) {
			char *body = cJSON_PrintUnformatted(b.items[i].body);
			if (!body)
				abort();
			if (rg_wire_writer_add(w, &b.items[i].id, &b.items[i].hlc, b.items[i].kind,
					       b.items[i].profile,
					       b.items[i].has_token ? b.items[i].token : NULL, body) < 0)
				abort();
			free(body);
		}
		char *doc;
		size_t len;
		if (rg_wire_writer_finish(w, &doc, &len) == 0) {
			if (rg_wire_batch_parse(doc, len, &b2, err, sizeof err) < 0 ||
			    b2.n_items != b.n_items)
				abort();
			rg_wire_batch_free(&b2);
			free(doc);
		}
		rg_wire_writer_free(w);
	}
	rg_wire_batch_free(&b);
	return 0;
}
