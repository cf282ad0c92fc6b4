/*
 * bench_ident.c - the identifier pipeline on one core: (a) classification +
 * tokenisation of a mix of EAN-13 barcodes and 7-byte NFC UIDs beside a bare
 * HMAC-SHA256 of the same token input (type || 0x00 || canonical), (b) app
 * token verification through the pipeline (signature, time checks, replay
 * store) beside a bare ECDSA P-256 verify of the same body and signature.
 * Each measurement runs about 1.5 s; prints a readable line and a JSON line.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"

#define MIX 1024
#define RUN_NS INT64_C(1500000000)
#define TOKENS_MAX 65536 /* fresh app tokens at most (and replay store size) */

static const uint8_t tenant_key[32] = "bench tenant identifier key 0001";
static const uint8_t seal_key[RG_AEAD_KEY_LEN] = "bench totp seal key 00000000001";

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_ident: %s: %s\n", what, rc < 0 ? rg_strerror(rc) : "failed");
	exit(1);
}

struct item {
	enum ident_source src;
	uint8_t in[16];
	size_t in_len;
	uint8_t msg[40]; /* type || 0x00 || canonical: what rg_token hashes */
	size_t msg_len;
};

static void make_mix(struct item *it)
{
	uint64_t s = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < MIX; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		if (i % 2 == 0) { /* EAN-13, in-store prefix 2, valid check digit */
			char d[14];
			unsigned sum = 0;
			d[0] = '2';
			for (int k = 1; k < 12; k++)
				d[k] = (char)('0' + (s >> (4 * k)) % 10);
			for (int k = 0; k < 12; k++)
				sum += (unsigned)(d[k] - '0') * (k % 2 ? 3 : 1);
			d[12] = (char)('0' + (10 - sum % 10) % 10);
			it[i].src = IDENT_SRC_BARCODE;
			memcpy(it[i].in, d, 13);
			it[i].in_len = 13;
			memcpy(it[i].msg, "loyalty\0", 8);
			memcpy(it[i].msg + 8, d, 13);
			it[i].msg_len = 21;
		} else { /* 7-byte NXP-style UID */
			static const char hex[] = "0123456789ABCDEF";
			it[i].src = IDENT_SRC_NFC_UID;
			it[i].in[0] = 0x04;
			for (int k = 1; k < 7; k++)
				it[i].in[k] = (uint8_t)(s >> (8 * k));
			it[i].in_len = 7;
			memcpy(it[i].msg, "nfc_uid\0", 8);
			for (int k = 0; k < 7; k++) {
				it[i].msg[8 + 2 * k] = (uint8_t)hex[it[i].in[k] >> 4];
				it[i].msg[9 + 2 * k] = (uint8_t)hex[it[i].in[k] & 15];
			}
			it[i].msg_len = 22;
		}
	}
}

static void report(const char *name, const char *what, double ops, const char *base_name,
		   const char *base_what, double base_ops)
{
	printf("%-44s %12.0f ops/s\n", what, ops);
	printf("%-44s %12.0f ops/s\n", base_what, base_ops);
	printf("%-44s %12.2f (pipeline / baseline)\n", "ratio", ops / base_ops);
	printf(
	    "{\"bench\":\"%s\",\"ops_per_s\":%.0f,\"baseline\":\"%s\",\"baseline_ops_per_s\":%.0f,"
	    "\"ratio\":%.3f}\n",
	    name, ops, base_name, base_ops, ops / base_ops);
	fflush(stdout);
}

static void bench_classify(struct ident_pipeline *p)
{
	static struct item it[MIX];
	struct ident_result r;
	uint8_t mac[RG_SHA256_LEN];
	uint64_t n = 0, sink = 0;
	int64_t t0, dt;
	double ops, base;

	make_mix(it);
	/* check once that the pipeline token is the HMAC of the baseline bytes */
	for (size_t i = 0; i < MIX; i++) {
		int rc = ident_classify(p, it[i].src, it[i].in, it[i].in_len, &r);
		if (rc < 0 || r.reason != IDENT_OK)
			die("mix item refused", rc);
		rg_hmac_sha256(tenant_key, sizeof tenant_key, it[i].msg, it[i].msg_len, mac);
		if (memcmp(mac, r.token, sizeof mac))
			die("token differs from the baseline HMAC", 0);
	}
	t0 = now_ns();
	do {
		for (size_t i = 0; i < MIX; i++) {
			ident_classify(p, it[i].src, it[i].in, it[i].in_len, &r);
			sink += r.token[0];
		}
		n += MIX;
	} while ((dt = now_ns() - t0) < RUN_NS);
	ops = (double)n * 1e9 / (double)dt;
	n = 0;
	t0 = now_ns();
	do {
		for (size_t i = 0; i < MIX; i++) {
			rg_hmac_sha256(tenant_key, sizeof tenant_key, it[i].msg, it[i].msg_len,
				       mac);
			sink += mac[0];
		}
		n += MIX;
	} while ((dt = now_ns() - t0) < RUN_NS);
	base = (double)n * 1e9 / (double)dt;
	report("ident_classify_tokenise", "classify+tokenise (EAN-13 / NFC UID mix)", ops,
	       "hmac_sha256", "baseline: bare HMAC-SHA256, same bytes", base);
	if (sink == 42)
		fputc('\n', stderr);
}

static void bench_app_token(struct ident_pipeline *p, struct rg_ec_key *key,
			    struct rg_clock_manual *clk)
{
	char(*tok)[IDENT_TOKEN_TEXT_MAX + 1];
	uint8_t bin[IDENT_TOKEN_BIN_MAX];
	struct ident_result r;
	int64_t now = rg_clock_wall_ms(&clk->clock) / 1000, t0, dt;
	size_t used = 0, n = 0, count;
	double ops, base;
	int len, rc;

	/* the baseline first: it sizes the set of fresh tokens the pipeline needs */
	tok = malloc(TOKENS_MAX * sizeof *tok);
	if (!tok)
		die("out of memory", RG_ERR_NOMEM);
	rc = ident_token_issue(key, "cust-base", now, now + 300, rg_rand_system(), tok[0],
			       sizeof tok[0]);
	len = rg_b64url_decode(tok[0] + IDENT_TOKEN_PREFIX_LEN,
			       strlen(tok[0]) - IDENT_TOKEN_PREFIX_LEN, bin, sizeof bin);
	if (rc < 0 || len < RG_ECDSA_RAW_LEN ||
	    rg_ecdsa_verify_raw(key, bin, (size_t)len - 64, bin + len - 64) != 0)
		die("bare verify", rc);
	t0 = now_ns();
	do {
		rg_ecdsa_verify_raw(key, bin, (size_t)len - 64, bin + len - 64);
		n++;
	} while ((dt = now_ns() - t0) < RUN_NS);
	base = (double)n * 1e9 / (double)dt;

	count = (size_t)(base * 1.6 * (double)RUN_NS / 1e9) + 16;
	if (count > TOKENS_MAX)
		count = TOKENS_MAX;
	fprintf(stderr, "bench_ident: issuing %zu app tokens\n", count);
	for (size_t i = 0; i < count; i++) {
		char ref[32];
		snprintf(ref, sizeof ref, "cust-%06zu", i);
		rc = ident_token_issue(key, ref, now, now + 300, rg_rand_system(), tok[i],
				       sizeof tok[i]);
		if (rc < 0)
			die("ident_token_issue", rc);
	}
	/* every token is fresh: the replay store records a new nonce each time */
	t0 = now_ns();
	do {
		rc = ident_classify(p, IDENT_SRC_QR, tok[used], strlen(tok[used]), &r);
		if (rc < 0 || r.reason != IDENT_OK)
			die("app token refused", rc);
		used++;
	} while ((dt = now_ns() - t0) < RUN_NS && used < count);
	ops = (double)used * 1e9 / (double)dt;
	free(tok);
	report("ident_app_token_verify", "app token verify (pipeline, replay store)", ops,
	       "ecdsa_p256_verify", "baseline: bare ECDSA P-256 verify, same msg", base);
}

int main(int argc, char **argv)
{
	struct rg_clock_manual clk;
	struct ident_config cfg;
	struct ident_replay_store *replay;
	struct ident_secret_store *secrets;
	struct ident_pipeline *p;
	struct rg_ec_key *key;
	int rc;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
		if (!help)
			fprintf(stderr, "bench_ident: unknown option: %s\n", argv[1]);
		fprintf(help ? stdout : stderr,
			"usage: bench_ident\n"
			"Operations per second of the identifier pipeline (classify and tokenise,\n"
			"verify app tokens) on generated identifiers, beside bare HMAC-SHA256 and\n"
			"ECDSA P-256 verify; no options.\n");
		return help ? 0 : 2;
	}
	rg_log_set_level(RG_LOG_WARN);
	rg_clock_manual_init(&clk, rg_clock_wall_ms(rg_clock_system()));
	if ((rc = rg_ec_key_generate(&key, rg_rand_system())) < 0)
		die("key", rc);
	ident_config_default(&cfg);
	cfg.app_token.n_keys = 1;
	if ((rc = rg_ec_key_public_raw(key, cfg.app_token.keys[0])) < 0)
		die("key", rc);
	if ((rc = ident_replay_mem_new(TOKENS_MAX, &replay)) < 0 ||
	    (rc = ident_secret_mem_new(1, &secrets)) < 0)
		die("stores", rc);
	struct ident_pipeline_params pp = {.config = &cfg,
					   .tenant_key = tenant_key,
					   .tenant_key_len = sizeof tenant_key,
					   .totp_seal_key = seal_key,
					   .clock = &clk.clock,
					   .replay = replay,
					   .secrets = secrets};
	if ((rc = ident_pipeline_new(&pp, &p)) < 0)
		die("pipeline", rc);
	bench_classify(p);
	bench_app_token(p, key, &clk);
	ident_pipeline_free(p);
	ident_replay_mem_free(replay);
	ident_secret_mem_free(secrets);
	rg_ec_key_free(key);
	return 0;
}
