/*
 * fuzz_wire.c - libFuzzer target for the uplink batch, bundle and ack
 * parsers. What parses as a batch must re-encode (through the writer) into a
 * document that parses to the same items, must read the same as a lone
 * uplink message, and must travel in a bundle (what a gateway does with every
 * batch it accepted) and come out the same.
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

	struct rg_wire_uplink u;
	if (rg_wire_ack_parse((const char *)data, size, &a, err, sizeof err) == 0)
		rg_wire_ack_free(&a);
	int urc = rg_wire_uplink_parse((const char *)data, size, &u, err, sizeof err);
	if (urc == 0) {
		if (u.n < 1 || u.n > RG_WIRE_BUNDLE_MAX_BATCHES)
			abort();
		for (size_t i = 0; i < u.n; i++)
			if (!u.batches[i].n_items ||
			    strcmp(u.batches[i].device, u.batches[0].device))
				abort();
	}
	if (rg_wire_batch_parse((const char *)data, size, &b, err, sizeof err) < 0) {
		/* What is not a batch is a bundle or nothing. */
		if (urc == 0 && !u.bundle)
			abort();
		rg_wire_uplink_free(&u);
		return 0;
	}
	if (urc != 0 || u.bundle || u.n != 1 || u.batches[0].n_items != b.n_items)
		abort();
	rg_wire_uplink_free(&u);
	{
		const char *docs[2] = {(const char *)data, (const char *)data};
		size_t lens[2] = {size, size}, len;
		char *bundle;
		if (rg_wire_bundle_build(docs, lens, 2, &bundle, &len) < 0 ||
		    rg_wire_uplink_parse(bundle, len, &u, err, sizeof err) < 0 || u.n != 2 ||
		    u.batches[1].n_items != b.n_items ||
		    rg_uuid_cmp(&u.batches[0].batch_id, &b.batch_id))
			abort();
		rg_wire_uplink_free(&u);
		free(bundle);
	}
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
