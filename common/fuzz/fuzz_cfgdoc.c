/*
 * fuzz_cfgdoc.c - libFuzzer target for the signed configuration documents:
 * any bytes given to cfgdoc_verify, cfgdoc_rotate, cfgdoc_keyset_parse and
 * cfgdoc_envelope_payload are refused cleanly or accepted consistently.
 * Inputs that are not envelopes but look like JSON are also signed with the
 * fixed test keys and verified, so the document parser behind the
 * signature check is fuzzed too. The keys below are test keys, used nowhere
 * else. With CFGDOC_FUZZ_WRITE_SEEDS=<dir> the target writes its seed
 * corpus (fuzz/corpus/cfgdoc/) and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfgdoc.h"
#include "common/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test keys: set v1 = keys 0,1,2 (threshold 2), set v2 = keys 1,2,3 (threshold 2). */
static const char key0_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
			       "MHcCAQEEIG2Nun3dI1lFt4s50I1UfJuxhJD/eZQi+N3R2Ba1/ZTWoAoGCCqGSM49\n"
			       "AwEHoUQDQgAEA4V8KUU9oXIFjuDyLcoFiywtc2aibDFA7rOJrCwFAzks4DRUkHT+\n"
			       "6lmRYyFoZf0L++26OTEpWRAAdyQSlOB0mQ==\n"
			       "-----END EC PRIVATE KEY-----\n";
static const char key1_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
			       "MHcCAQEEIAQ7j3b/+ZGRSBbLpd8R6neN7SIjuaAgmK7zsQSY68vooAoGCCqGSM49\n"
			       "AwEHoUQDQgAEqCoR2MYDTdEnu0wGQOtQetv2pfwkabO4lZyH6Eic9rAw7hYPKMOK\n"
			       "SxrWpfSdsqEUK41Hhstd1cZc0hLAYliEQA==\n"
			       "-----END EC PRIVATE KEY-----\n";
static const char key2_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
			       "MHcCAQEEIB/p8W6YvY6EFBEmwNG/11E+jUhVTWIglkRHl2JrjwHfoAoGCCqGSM49\n"
			       "AwEHoUQDQgAEufWN2Y8qxB0HsbIBVIWYjKfrHDIrJAx3iE5OfUWF5mmXhCVXTWvv\n"
			       "PORsL/c/cb0lMvVyiE1uV/Tjq1KmLNvknQ==\n"
			       "-----END EC PRIVATE KEY-----\n";
static const char key3_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
			       "MHcCAQEEIGsKW2M+QoJ6pCzLCaMYSCr8i/WlBQyUqjnIrlZpRucgoAoGCCqGSM49\n"
			       "AwEHoUQDQgAEgOcforQRLK4b7ffnX4+GMQKuroMFF4EuSPlH+eCmEM5MPAPRMugh\n"
			       "QWK5npKVWo1M8TLIdWVb8ZpqsJ6+x6/gPw==\n"
			       "-----END EC PRIVATE KEY-----\n";

static const char *const pems[] = {key0_pem, key1_pem, key2_pem, key3_pem};
static struct rg_ec_key *key[4];
static struct cfgdoc_keyset v1, v2, one; /* one: key 1 alone, threshold 1 */
static const int64_t now = 1795428000;	 /* 2026-11-23T10:00:00Z */

static void keyset(struct cfgdoc_keyset *ks, int64_t version, int first)
{
	memset(ks, 0, sizeof *ks);
	snprintf(ks->tenant, sizeof ks->tenant, "acme");
	ks->version = version;
	ks->threshold = 2;
	for (int i = first; i < first + 3; i++, ks->n++)
		if (rg_ec_key_public_raw(key[i], ks->keys[ks->n].pub) < 0 ||
		    rg_ec_key_id(key[i], ks->keys[ks->n].id) < 0)
			abort();
}

static char *sign(const char *doc, int first, int n)
{
	char *env = NULL;
	if (cfgdoc_sign(doc, strlen(doc), NULL, 0, key + first, (size_t)n, &env, NULL, 0) < 0)
		return NULL;
	return env;
}

static void write_seed(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!text || !(f = fopen(path, "w")) || fputs(text, f) < 0 || fclose(f))
		abort();
}

static void write_seeds(const char *dir)
{
	static const char store_doc[] =
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"store\", "
	    "\"store\": \"0042\", \"version\": 7, \"issued\": \"2026-11-23T09:00:00Z\", "
	    "\"expires\": \"2026-12-23T09:00:00Z\", \"settings\": {\"screen\": "
	    "{\"idle_after_ms\": 9000, \"privacy\": \"first_name\"}, \"sync\": {\"batch_max\": "
	    "50}}}";
	static const char device_doc[] =
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"device\", "
	    "\"store\": \"0042\", \"device\": \"dev-0042-k1\", \"version\": 2, "
	    "\"issued\": \"2026-11-23T09:00:00Z\", \"expires\": \"2026-11-24T09:00:00Z\", "
	    "\"settings\": {\"log\": {\"level\": \"debug\"}}}";
	static const char tenant_doc[] =
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}";
	char *v2json = cfgdoc_keyset_json(&v2), *v1json = cfgdoc_keyset_json(&v1);
	char *env;

	write_seed(dir, "store-valid.json", env = sign(store_doc, 0, 3));
	free(env);
	write_seed(dir, "device-valid.json", env = sign(device_doc, 0, 2));
	free(env);
	write_seed(dir, "tenant-one-sig.json", env = sign(tenant_doc, 1, 1));
	free(env);
	write_seed(dir, "rotation-v2.json", env = sign(v2json, 0, 4));
	free(env);
	write_seed(dir, "rotation-v2-old-keys-only.json", env = sign(v2json, 0, 2));
	free(env);
	write_seed(dir, "keyset-v1.json", v1json);
	write_seed(dir, "document-store.json", store_doc); /* signed by the target */
	write_seed(dir, "document-keys.json", v2json);
	write_seed(
	    dir, "envelope-junk.json",
	    "{\"payload\": \"e30\", \"signatures\": [{\"keyid\": \"00\", \"sig\": \"AA\"}]}");
	write_seed(dir, "envelope-dup.json",
		   "{\"payload\": \"e30\", \"payload\": \"e30\", \"signatures\": []}");
	free(v1json);
	free(v2json);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rg_log_set_level(RG_LOG_OFF);
	for (int i = 0; i < 4; i++)
		if (rg_ec_key_parse(&key[i], pems[i], strlen(pems[i])) < 0)
			abort();
	keyset(&v1, 1, 0);
	keyset(&v2, 2, 1);
	one = v1;
	one.n = 1;
	one.threshold = 1;
	one.keys[0] = v1.keys[1];
	const char *dir = getenv("CFGDOC_FUZZ_WRITE_SEEDS");
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

static void check_envelope(const struct cfgdoc_keyset *trust, const void *env, size_t len)
{
	struct cfgdoc_expect exp = {.store = "0042",
				    .device = "dev-0042-k1",
				    .scope = -1,
				    .now = now,
				    .applied_version = 3,
				    .check_settings = true};
	struct cfgdoc d;
	struct cfgdoc_keyset next;
	char err[256];

	if (cfgdoc_verify(trust, env, len, &exp, &d, err, sizeof err) == CFGDOC_OK) {
		if (d.valid_signatures < trust->threshold || d.version <= 3 ||
		    (d.scope == CFGDOC_SCOPE_KEYS) != (d.settings == NULL))
			abort();
	} else if (d.settings || d.version) {
		abort(); /* nothing is handed out with a refusal */
	}
	cfgdoc_clear(&d);
	if (cfgdoc_rotate(trust, env, len, &next, err, sizeof err) == CFGDOC_OK) {
		if (next.version != 2 || strcmp(next.tenant, "acme") || next.n < 1)
			abort();
	} else if (next.n) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfgdoc_keyset ks, back;
	char err[256], *doc;
	size_t doc_len;

	check_envelope(&v1, data, size);
	if (cfgdoc_keyset_parse((const char *)data, size, &ks, err, sizeof err) == 0) {
		/* what parses re-encodes to the same set */
		char *json = cfgdoc_keyset_json(&ks);
		if (!json || cfgdoc_keyset_parse(json, strlen(json), &back, err, sizeof err) < 0 ||
		    back.version != ks.version || back.n != ks.n ||
		    memcmp(back.keys, ks.keys, sizeof ks.keys))
			abort();
		free(json);
	}
	if (cfgdoc_envelope_payload(data, size, &doc, &doc_len, err, sizeof err) == 0) {
		if (doc[doc_len] != '\0')
			abort();
		free(doc);
	} else if (size > 0 && size < 4096 && data[0] == '{') {
		/* a document: signed here (one key, against a set of that key
		 * alone, to keep the fuzzer fast), so its parser is reached */
		char *text = malloc(size + 1), *env;
		if (!text)
			return 0;
		memcpy(text, data, size);
		text[size] = '\0';
		if (strlen(text) == size && (env = sign(text, 1, 1)) != NULL) {
			check_envelope(&one, env, strlen(env));
			free(env);
		}
		free(text);
	}
	return 0;
}
