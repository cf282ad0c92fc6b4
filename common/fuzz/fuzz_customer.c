/*
 * fuzz_customer.c - libFuzzer target for the customer import line parser
 * (common/customer.h). Whatever parses must hold its invariants (a valid id,
 * a compact JSON object body within the cap, importable identifier types)
 * and its identifiers must go through a pipeline without crashing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/customer.h"
#include "common/json.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ident_pipeline *pipe_once(void)
{
	static struct ident_pipeline *p;
	static const uint8_t key[32] = "fuzz customer tenant key 000001";
	if (!p) {
		struct ident_config cfg;
		ident_config_default(&cfg);
		cfg.app_token.enabled = false;
		cfg.totp.enabled = false;
		struct ident_pipeline_params pp = {
		    .config = &cfg, .tenant_key = key, .tenant_key_len = sizeof key};
		rg_log_set_level(RG_LOG_OFF);
		if (ident_pipeline_new(&pp, &p) < 0)
			abort();
	}
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_customer c;
	char err[256];
	uint8_t tok[RG_TOKEN_LEN];
	cJSON *body;

	if (rg_customer_parse((const char *)data, size, &c, err, sizeof err) < 0) {
		if (c.body || c.n_idents || !err[0])
			abort();
		return 0;
	}
	if (!rg_customer_id_valid(c.id) || c.version < 1 || !c.body ||
	    c.body_len != strlen(c.body) || c.body_len > RG_CUSTOMER_BODY_MAX ||
	    c.n_idents > RG_CUSTOMER_IDENTS_MAX)
		abort();
	if (rg_json_parse(c.body, c.body_len, RG_CUSTOMER_BODY_MAX, &body, err, sizeof err) < 0 ||
	    !cJSON_IsObject(body))
		abort();
	cJSON_Delete(body);
	for (size_t i = 0; i < c.n_idents; i++) {
		if (!rg_customer_ident_importable(c.idents[i].type))
			abort();
		(void)rg_customer_ident_token(pipe_once(), &c.idents[i], tok, err, sizeof err);
	}
	rg_customer_free(&c);
	return 0;
}
