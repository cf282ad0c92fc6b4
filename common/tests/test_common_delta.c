/*
 * test_common_delta.c - the replication messages of delta.h: every message
 * survives writer -> parser unchanged, the page writer keeps a page under its
 * byte and change caps, and every malformed, inconsistent or oversized
 * message is refused whole, with a reason naming the field, leaving the
 * output zeroed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/delta.h"
#include "common/err.h"
#include "common/hlc.h"

#define T64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define T64B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEAD                                                                                       \
	"{\"v\":1,\"type\":\"changes\",\"since\":10,\"next\":20,\"latest\":30,\"oldest\":5,\"as_"  \
	"of\":1763900000000,\"more\":false,"
#define PROF(seq, id)                                                                              \
	"{\"seq\":" #seq ",\"op\":\"profile\",\"profile\":{\"id\":\"" id                           \
	"\",\"version\":3,\"hlc\":\"1763899990000.2\",\"body\":{\"name\":\"Zoë\"},\"idents\":[{"  \
	"\"token\":\"" T64A "\",\"type\":\"loyalty\"}]}}"

static uint64_t hlc_of(int64_t ms, uint32_t logical)
{
	struct rg_hlc t = {.wall_ms = ms, .logical = logical};
	return rg_hlc_pack(&t);
}

/* A profile change with n identifiers (tokens i+1 repeated) and body text. */
static struct delta_change profile_change(int64_t seq, const char *id, const char *body,
					  struct delta_ident *idents, size_t n)
{
	struct delta_change c;
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.op = DELTA_PROFILE;
	snprintf(c.id, sizeof c.id, "%s", id);
	c.version = 7;
	c.hlc = hlc_of(1763899990000, 3);
	c.body = (char *)body;
	c.body_len = strlen(body);
	for (size_t i = 0; i < n; i++) {
		memset(idents[i].token, (int)i + 1, RG_TOKEN_LEN);
		snprintf(idents[i].type, sizeof idents[i].type, "%s",
			 i % 2 ? "nfc_uid" : "loyalty");
	}
	c.idents = idents;
	c.n_idents = n;
	return c;
}

static struct delta_change link_change(int64_t seq, enum delta_op op, const char *id,
				       const char *other)
{
	struct delta_change c;
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.op = op;
	snprintf(c.id, sizeof c.id, "%s", id);
	snprintf(c.other, sizeof c.other, "%s", other);
	return c;
}

static int zeroed(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* ---- requests ---- */

static void request_round_trips(void **state)
{
	struct delta_request r = {.since = 1234, .max = 500}, back;
	char err[256];
	(void)state;

	char *s = delta_request_build(&r);
	assert_non_null(s);
	assert_string_equal(s, "{\"v\":1,\"type\":\"changes\",\"since\":1234,\"max\":500}");
	assert_int_equal(delta_request_parse(s, strlen(s), &back, err, sizeof err), 0);
	assert_false(back.snapshot);
	assert_int_equal(back.since, 1234);
	assert_int_equal(back.max, 500);
	free(s);

	memset(&r, 0, sizeof r);
	r.snapshot = true;
	r.snapshot_id = 77;
	snprintf(r.after, sizeof r.after, "p-000500");
	r.max = 1000;
	s = delta_request_build(&r);
	assert_non_null(s);
	assert_int_equal(delta_request_parse(s, strlen(s), &back, err, sizeof err), 0);
	assert_true(back.snapshot);
	assert_int_equal(back.snapshot_id, 77);
	assert_string_equal(back.after, "p-000500");
	assert_int_equal(back.max, 1000);
	free(s);

	/* "max" is optional: the default applies. Largest since is 2^53-1. */
	const char *d = "{\"v\":1,\"type\":\"changes\",\"since\":9007199254740991}";
	assert_int_equal(delta_request_parse(d, strlen(d), &back, err, sizeof err), 0);
	assert_int_equal(back.max, DELTA_DEFAULT_MAX);
	assert_int_equal(back.since, DELTA_SEQ_MAX);
	d = "{\"v\":1,\"type\":\"snapshot\",\"snapshot\":0,\"after\":\"\"}";
	assert_int_equal(delta_request_parse(d, strlen(d), &back, err, sizeof err), 0);
	assert_true(back.snapshot);
	assert_int_equal(back.snapshot_id, 0);
	assert_string_equal(back.after, "");

	/* The builder refuses what the parser would refuse. */
	memset(&r, 0, sizeof r);
	r.since = -1;
	assert_null(delta_request_build(&r));
	r.since = 0;
	r.max = 1001;
	assert_null(delta_request_build(&r));
	memset(&r, 0, sizeof r);
	r.snapshot = true;
	snprintf(r.after, sizeof r.after, "p-1"); /* after with a new snapshot */
	assert_null(delta_request_build(&r));
}

struct refusal {
	const char *text;
	int rc;
	const char *reason; /* a substring of err */
};

static void request_refusals(void **state)
{
	static const struct refusal cases[] = {
	    {"not json", RG_ERR_PARSE, "JSON"},
	    {"[1,2]", RG_ERR_PARSE, "expected an object"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":1,\"extra\":1}", RG_ERR_PARSE,
	     "unknown key \"extra\""},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":1,\"since\":2}", RG_ERR_PARSE,
	     "duplicate key \"since\""},
	    {"{\"v\":1,\"type\":\"changes\"}", RG_ERR_PARSE, "since: missing"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":\"1\"}", RG_ERR_PARSE,
	     "since: expected an integer"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":-1}", RG_ERR_INVAL, "since: -1 is outside"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":1.5}", RG_ERR_INVAL,
	     "since: 1.5 is not an integer"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":9007199254740992}", RG_ERR_INVAL, "since:"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":1,\"max\":0}", RG_ERR_INVAL, "max:"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":1,\"max\":1001}", RG_ERR_INVAL, "max:"},
	    {"{\"v\":2,\"type\":\"changes\",\"since\":1}", RG_ERR_INVAL, "v: version 2"},
	    {"{\"v\":1,\"type\":\"everything\",\"since\":1}", RG_ERR_PARSE, "type:"},
	    {"{\"v\":1,\"type\":\"snapshot\",\"snapshot\":3}", RG_ERR_PARSE, "after: missing"},
	    {"{\"v\":1,\"type\":\"snapshot\",\"snapshot\":3,\"after\":\"p/1\"}", RG_ERR_INVAL,
	     "after: not a valid profile id"},
	    {"{\"v\":1,\"type\":\"snapshot\",\"snapshot\":3,\"after\":\"-p1\"}", RG_ERR_INVAL,
	     "after:"},
	    {"{\"v\":1,\"type\":\"snapshot\",\"snapshot\":0,\"after\":\"p1\"}", RG_ERR_INVAL,
	     "after: must be empty"},
	    {"{\"v\":1,\"type\":\"snapshot\",\"snapshot\":3,\"after\":\"\",\"since\":4}",
	     RG_ERR_PARSE, "unknown key \"since\""},
	};
	struct delta_request r;
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		err[0] = '\0';
		int rc =
		    delta_request_parse(cases[i].text, strlen(cases[i].text), &r, err, sizeof err);
		if (rc != cases[i].rc || !strstr(err, cases[i].reason))
			fail_msg("case %zu (%s): rc %d err \"%s\"", i, cases[i].text, rc, err);
		assert_true(zeroed(&r, sizeof r));
	}
	/* Over 1 KiB: refused before parsing. */
	char big[DELTA_REQUEST_MAX + 64];
	int n = snprintf(big, sizeof big, "{\"v\":1,\"type\":\"changes\",\"since\":1%*s}",
			 DELTA_REQUEST_MAX, "");
	assert_int_equal(delta_request_parse(big, (size_t)n, &r, err, sizeof err), RG_ERR_TOOBIG);
}

/* ---- pages ---- */

static void page_round_trips(void **state)
{
	struct delta_ident ids[3];
	struct delta_writer *w;
	struct delta_page p;
	char err[256], *text;
	size_t len;
	(void)state;

	struct delta_change c[4] = {
	    profile_change(1240, "p-000042",
			   "{ \"name\" : \"Zoë\", \"points\": 120,\n \"tags\": [1, 2] }", ids, 3),
	    link_change(1251, DELTA_MERGE, "p-000043", "p-000042"),
	    link_change(1260, DELTA_UNMERGE, "p-000043", "p-000042"),
	    link_change(1290, DELTA_ERASE, "p-000050", ""),
	};
	assert_int_equal(delta_writer_new(1234, &w), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(delta_writer_add(w, &c[i]), 0);
	assert_int_equal(delta_writer_count(w), 4);
	assert_int_equal(delta_writer_finish(w, 1300, 5120, 900, 1763900000000, true, &text, &len),
			 0);
	assert_int_equal(strlen(text), len);

	assert_int_equal(delta_page_parse(text, len, &p, err, sizeof err), 0);
	assert_int_equal(p.since, 1234);
	assert_int_equal(p.next, 1300);
	assert_int_equal(p.latest, 5120);
	assert_int_equal(p.oldest, 900);
	assert_int_equal(p.as_of_ms, 1763900000000);
	assert_true(p.more);
	assert_false(p.snapshot_needed);
	assert_int_equal(p.n, 4);
	assert_int_equal(p.changes[0].op, DELTA_PROFILE);
	assert_int_equal(p.changes[0].seq, 1240);
	assert_string_equal(p.changes[0].id, "p-000042");
	assert_int_equal(p.changes[0].version, 7);
	assert_true(p.changes[0].hlc == hlc_of(1763899990000, 3));
	/* The body is kept as compact JSON text. */
	assert_string_equal(p.changes[0].body, "{\"name\":\"Zoë\",\"points\":120,\"tags\":[1,2]}");
	assert_int_equal(p.changes[0].body_len, strlen(p.changes[0].body));
	assert_int_equal(p.changes[0].n_idents, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_memory_equal(p.changes[0].idents[i].token, ids[i].token, RG_TOKEN_LEN);
		assert_string_equal(p.changes[0].idents[i].type, ids[i].type);
	}
	assert_int_equal(p.changes[1].op, DELTA_MERGE);
	assert_string_equal(p.changes[1].id, "p-000043");
	assert_string_equal(p.changes[1].other, "p-000042");
	assert_int_equal(p.changes[2].op, DELTA_UNMERGE);
	assert_string_equal(p.changes[2].other, "p-000042");
	assert_int_equal(p.changes[3].op, DELTA_ERASE);
	assert_string_equal(p.changes[3].id, "p-000050");
	assert_string_equal(p.changes[3].other, "");
	assert_int_equal(p.changes[3].seq, 1290);
	delta_page_free(&p);
	assert_true(zeroed(&p, sizeof p));
	free(text);

	/* An empty page (everything in the range filtered out): next moves on. */
	assert_int_equal(delta_writer_new(5, &w), 0);
	assert_int_equal(delta_writer_finish(w, 9, 9, 0, 1, false, &text, &len), 0);
	assert_int_equal(delta_page_parse(text, len, &p, err, sizeof err), 0);
	assert_int_equal(p.n, 0);
	assert_null(p.changes);
	assert_int_equal(p.next, 9);
	delta_page_free(&p);
	free(text);

	/* snapshot_needed */
	text = delta_page_snapshot_needed(12, 5120, 900, 1763900000000);
	assert_non_null(text);
	assert_int_equal(delta_page_parse(text, strlen(text), &p, err, sizeof err), 0);
	assert_true(p.snapshot_needed);
	assert_int_equal(p.since, 12);
	assert_int_equal(p.latest, 5120);
	assert_int_equal(p.oldest, 900);
	assert_int_equal(p.as_of_ms, 1763900000000);
	assert_int_equal(p.n, 0);
	delta_page_free(&p);
	free(text);
	assert_null(delta_page_snapshot_needed(12, 5, 900, 0)); /* oldest > latest */

	/* The documented example parses (with a real body and token). */
	const char *doc = HEAD "\"changes\":[" PROF(
	    11,
	    "p-000042") ","
			"{\"seq\":12,\"op\":\"merge\",\"from\":\"p-000043\",\"into\":\"p-000042\"},"
			"{\"seq\":13,\"op\":\"unmerge\",\"from\":\"p-000043\",\"into\":\"p-"
			"000042\"},"
			"{\"seq\":20,\"op\":\"erase\",\"id\":\"p-000050\"}]}";
	assert_int_equal(delta_page_parse(doc, strlen(doc), &p, err, sizeof err), 0);
	assert_int_equal(p.n, 4);
	delta_page_free(&p);
}

static void page_refusals(void **state)
{
	static const struct refusal cases[] = {
	    {"{\"v\":1,", RG_ERR_PARSE, "JSON syntax error"},
	    {HEAD "\"changes\":[],\"x\":1}", RG_ERR_PARSE, "unknown key \"x\""},
	    {HEAD "\"changes\":{}}", RG_ERR_PARSE, "changes: expected an array"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":10,\"latest\":30,\"oldest\":5,\"as_of\":1,"
	     "\"more\":false,\"changes\":[]}",
	     RG_ERR_PARSE, "next: missing"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":10,\"next\":9,\"latest\":30,\"oldest\":5,"
	     "\"as_of\":1,\"more\":false,\"changes\":[]}",
	     RG_ERR_INVAL, "next: 9 is below since 10"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":10,\"next\":20,\"latest\":3,\"oldest\":5,"
	     "\"as_of\":1,\"more\":false,\"changes\":[]}",
	     RG_ERR_INVAL, "oldest: 5 is above latest 3"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":10,\"next\":20,\"latest\":30,\"oldest\":5,"
	     "\"as_of\":1,\"more\":\"no\",\"changes\":[]}",
	     RG_ERR_PARSE, "more: expected a boolean"},
	    {"{\"v\":1,\"type\":\"changes\",\"since\":10,\"snapshot_needed\":true,\"latest\":30,"
	     "\"oldest\":5,\"as_of\":1,\"changes\":[]}",
	     RG_ERR_PARSE, "unknown key \"changes\""},
	    {HEAD "\"changes\":[" PROF(11, "p-1") "," PROF(11, "p-2") "]}", RG_ERR_INVAL,
	     "changes[1].seq: 11 is not above the previous seq 11"},
	    {HEAD "\"changes\":[" PROF(10, "p-1") "]}", RG_ERR_INVAL,
	     "changes[0].seq: 10 is not above since 10"},
	    {HEAD "\"changes\":[" PROF(21, "p-1") "]}", RG_ERR_INVAL,
	     "next: 20 is below the last seq 21"},
	    {HEAD "\"changes\":[" PROF(11, "p 1") "]}", RG_ERR_INVAL,
	     "changes[0].profile.id: not a valid profile id"},
	    {HEAD "\"changes\":[" PROF(
		 11, "p-000000000000000000000000000000000000000000000000000000000000000001") "]}",
	     RG_ERR_INVAL, "changes[0].profile.id:"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"rename\",\"id\":\"p-1\"}]}", RG_ERR_INVAL,
	     "changes[0].op: not profile"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"erase\",\"id\":\"p-1\",\"into\":\"p-2\"}]}",
	     RG_ERR_PARSE, "changes[0]: unknown key \"into\""},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"merge\",\"from\":\"p-1\",\"into\":\"p-1\"}]}",
	     RG_ERR_INVAL, "changes[0].into: same as \"from\""},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"merge\",\"from\":\"p-1\"}]}", RG_ERR_PARSE,
	     "changes[0].into: missing"},
	    {HEAD "\"changes\":[{\"seq\":0,\"op\":\"erase\",\"id\":\"p-1\"}]}", RG_ERR_INVAL,
	     "changes[0].seq: 0 is outside"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":0,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.version: 0 is outside"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.x\",\"body\":{},\"idents\":[]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.hlc: not an HLC stamp"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":[1],\"idents\":[]}}]}",
	     RG_ERR_PARSE, "changes[0].profile.body: expected an object, got an array"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{\"n\":1e999},\"idents\":[]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.body: a number is out of range"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[],\"name\":\"x\"}}]}",
	     RG_ERR_PARSE, "changes[0].profile: unknown key \"name\""},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{}}}]}",
	     RG_ERR_PARSE, "changes[0].profile.idents: missing"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[{\"token\":\"" T64A
		  "\",\"type\":\"loyalty\"},"
		  "{\"token\":\"" T64A "A\",\"type\":\"loyalty\"}]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.idents[1].token:"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[{\"token\":\""
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		  "\",\"type\":\"loyalty\"}]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.idents[0].token: not 64 lower-case hex"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[{\"token\":\"" T64A
		  "\",\"type\":\"Loyalty\"}]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.idents[0].type: not [a-z0-9_]"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[{\"token\":\"" T64A
		  "\",\"type\":\"loyalty\"},"
		  "{\"token\":\"" T64B "\",\"type\":\"nfc\"},{\"token\":\"" T64A
		  "\",\"type\":\"qr\"}]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.idents[2].token: duplicate of idents[0]"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,"
		  "\"hlc\":\"1.0\",\"body\":{},\"idents\":[{\"token\":\"" T64A "\"}]}}]}",
	     RG_ERR_PARSE, "changes[0].profile.idents[0].type: missing"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,\"hlc\":\"1.0\",\"body\":{\"n\":\"\xff\"},\"idents\":[]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.body: a string is not valid UTF-8"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"erase\",\"id\":\"p-1\",\"id\":\"p-2\"}]}",
	     RG_ERR_PARSE, "changes[0]: duplicate key \"id\""},
	    {HEAD "\"changes\":[7]}", RG_ERR_PARSE, "changes[0]: expected an object, got a number"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":\"p-1\"}]}",
	     RG_ERR_PARSE, "changes[0].profile: expected an object, got a string"},
	    {HEAD "\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":{\"id\":\"p-1\","
		  "\"version\":1,\"hlc\":\"281474976710656.0\",\"body\":{},\"idents\":[]}}]}",
	     RG_ERR_INVAL, "changes[0].profile.hlc: not an HLC stamp"},
	};
	struct delta_page p;
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		err[0] = '\0';
		int rc =
		    delta_page_parse(cases[i].text, strlen(cases[i].text), &p, err, sizeof err);
		if (rc != cases[i].rc || !strstr(err, cases[i].reason))
			fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
		assert_true(zeroed(&p, sizeof p));
	}
}

/* Values at their limits are accepted (no off-by-one): seq 2^53-1, a 64-char
 * id, the largest HLC, 32 identifiers, a body of exactly 32 KiB; one byte
 * more of body and the writer refuses the change. */
static void page_accepts_limits(void **state)
{
	struct delta_ident ids[DELTA_IDENTS_MAX];
	struct delta_writer *w;
	struct delta_page p;
	char err[256], id[DELTA_ID_MAX + 1], *text;
	char *body = malloc(DELTA_BODY_MAX + 2);
	size_t len;
	(void)state;

	assert_non_null(body);
	memset(body, 'y', DELTA_BODY_MAX);
	memcpy(body, "{\"k\":\"", 6);
	memcpy(body + DELTA_BODY_MAX - 2, "\"}", 3);
	assert_int_equal(strlen(body), DELTA_BODY_MAX);
	memset(id, 'Z', DELTA_ID_MAX);
	id[DELTA_ID_MAX] = '\0';
	struct delta_change c = profile_change(DELTA_SEQ_MAX, id, body, ids, DELTA_IDENTS_MAX);
	c.version = DELTA_SEQ_MAX;
	c.hlc = UINT64_MAX;
	assert_int_equal(delta_writer_new(DELTA_SEQ_MAX - 1, &w), 0);
	assert_int_equal(delta_writer_add(w, &c), 0);
	assert_int_equal(delta_writer_finish(w, DELTA_SEQ_MAX, DELTA_SEQ_MAX, DELTA_SEQ_MAX,
					     DELTA_SEQ_MAX, false, &text, &len),
			 0);
	assert_int_equal(delta_page_parse(text, len, &p, err, sizeof err), 0);
	assert_int_equal(p.changes[0].seq, DELTA_SEQ_MAX);
	assert_string_equal(p.changes[0].id, id);
	assert_true(p.changes[0].hlc == UINT64_MAX);
	assert_int_equal(p.changes[0].n_idents, DELTA_IDENTS_MAX);
	assert_int_equal(p.changes[0].body_len, DELTA_BODY_MAX);
	delta_page_free(&p);
	free(text);

	memcpy(body + DELTA_BODY_MAX - 2, "y\"}", 4);
	c = profile_change(5, "p-1", body, ids, 1);
	assert_int_equal(delta_writer_new(0, &w), 0);
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	delta_writer_free(w);
	free(body);
}

/* Size caps: 33 identifiers, a 33 KiB body, 1001 changes, an oversize page. */
static void page_refuses_over_caps(void **state)
{
	struct delta_page p;
	char err[256];
	size_t cap = DELTA_PAGE_MAX + 4096, len;
	char *doc = malloc(cap);
	(void)state;
	assert_non_null(doc);

	len = (size_t)snprintf(
	    doc, cap,
	    "%s\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":"
	    "{\"id\":\"p-1\",\"version\":1,\"hlc\":\"1.0\",\"body\":{},\"idents\":[",
	    HEAD);
	for (int i = 0; i < DELTA_IDENTS_MAX + 1; i++)
		len += (size_t)snprintf(doc + len, cap - len,
					"%s{\"token\":\"%064x\",\"type\":\"t\"}", i ? "," : "", i);
	len += (size_t)snprintf(doc + len, cap - len, "]}}]}");
	assert_int_equal(delta_page_parse(doc, len, &p, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, "changes[0].profile.idents: 33 identifiers exceed 32"));

	len = (size_t)snprintf(doc, cap,
			       "%s\"changes\":[{\"seq\":11,\"op\":\"profile\",\"profile\":"
			       "{\"id\":\"p-1\",\"version\":1,\"hlc\":\"1.0\",\"body\":{\"x\":\"",
			       HEAD);
	memset(doc + len, 'x', DELTA_BODY_MAX);
	len += DELTA_BODY_MAX;
	len += (size_t)snprintf(doc + len, cap - len, "\"},\"idents\":[]}}]}");
	assert_int_equal(delta_page_parse(doc, len, &p, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, "changes[0].profile.body:"));

	len = (size_t)snprintf(
	    doc, cap,
	    "{\"v\":1,\"type\":\"changes\",\"since\":0,\"next\":2000,"
	    "\"latest\":2000,\"oldest\":0,\"as_of\":1,\"more\":false,\"changes\":[");
	for (int i = 1; i <= DELTA_CHANGES_MAX + 1; i++)
		len += (size_t)snprintf(doc + len, cap - len,
					"%s{\"seq\":%d,\"op\":\"erase\",\"id\":\"p-%d\"}",
					i > 1 ? "," : "", i, i);
	len += (size_t)snprintf(doc + len, cap - len, "]}");
	assert_int_equal(delta_page_parse(doc, len, &p, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, "changes: 1001 changes exceed 1000"));

	memset(doc, ' ', DELTA_PAGE_MAX + 1);
	assert_int_equal(delta_page_parse(doc, DELTA_PAGE_MAX + 1, &p, err, sizeof err),
			 RG_ERR_TOOBIG);
	assert_true(zeroed(&p, sizeof p));
	free(doc);
}

/* A refusal late in a page, after bodies and identifier sets were already
 * allocated for earlier changes, frees them (ASan) and leaves *out zeroed. */
static void page_failure_frees_and_zeroes(void **state)
{
	const char *doc = HEAD "\"changes\":[" PROF(11, "p-1") "," PROF(
	    12, "p-2") ","
		       "{\"seq\":13,\"op\":\"erase\",\"id\":\"bad id\"}]}";
	struct delta_page p;
	struct delta_chunk c;
	char err[256];
	(void)state;

	memset(&p, 0xa5, sizeof p);
	assert_int_equal(delta_page_parse(doc, strlen(doc), &p, err, sizeof err), RG_ERR_INVAL);
	assert_non_null(strstr(err, "changes[2].id"));
	assert_true(zeroed(&p, sizeof p));
	delta_page_free(&p); /* harmless on a zeroed page */
	memset(&c, 0xa5, sizeof c);
	assert_int_equal(delta_chunk_parse(doc, strlen(doc), &c, err, sizeof err), RG_ERR_PARSE);
	assert_true(zeroed(&c, sizeof c));
}

/* Many large bodies: the writer refuses the change that would overflow the
 * page (TOOBIG), and the page finished without it is valid and under the cap. */
static void writer_caps_page_size(void **state)
{
	size_t blen = DELTA_BODY_MAX - 64;
	char *body = malloc(blen + 1);
	struct delta_ident ids[DELTA_IDENTS_MAX];
	struct delta_writer *w;
	struct delta_page p;
	char err[256], id[32], *text;
	size_t len, added = 0;
	int rc = 0;
	(void)state;

	assert_non_null(body);
	memset(body, 'x', blen);
	memcpy(body, "{\"note\":\"", 9);
	memcpy(body + blen - 2, "\"}", 2);
	body[blen] = '\0';
	assert_int_equal(delta_writer_new(100, &w), 0);
	for (int64_t seq = 101; seq < 200; seq++) {
		snprintf(id, sizeof id, "p-%06lld", (long long)seq);
		struct delta_change c = profile_change(seq, id, body, ids, DELTA_IDENTS_MAX);
		if ((rc = delta_writer_add(w, &c)) < 0)
			break;
		added++;
	}
	assert_int_equal(rc, RG_ERR_TOOBIG);
	assert_true(added > 10);
	assert_int_equal(delta_writer_count(w), added);
	assert_int_equal(delta_writer_finish(w, 100 + (int64_t)added, 500, 0, 1, true, &text, &len),
			 0);
	assert_true(len <= DELTA_PAGE_MAX);
	assert_true(len > DELTA_PAGE_MAX - 2 * (DELTA_BODY_MAX + 4096)); /* it was really full */
	assert_int_equal(delta_page_parse(text, len, &p, err, sizeof err), 0);
	assert_int_equal(p.n, added);
	assert_true(p.more);
	assert_int_equal(p.next, 100 + (int64_t)added);
	assert_int_equal(p.changes[added - 1].body_len, blen);
	delta_page_free(&p);
	free(text);
	free(body);

	/* The change count cap: 1000 small changes fit, the 1001st does not. */
	assert_int_equal(delta_writer_new(0, &w), 0);
	for (int i = 1; i <= DELTA_CHANGES_MAX; i++) {
		snprintf(id, sizeof id, "p-%d", i);
		struct delta_change c = link_change(i, DELTA_ERASE, id, "");
		assert_int_equal(delta_writer_add(w, &c), 0);
	}
	struct delta_change extra = link_change(DELTA_CHANGES_MAX + 1, DELTA_ERASE, "p-x", "");
	assert_int_equal(delta_writer_add(w, &extra), RG_ERR_TOOBIG);
	assert_int_equal(delta_writer_finish(w, DELTA_CHANGES_MAX, 5000, 0, 1, true, &text, &len),
			 0);
	assert_int_equal(delta_page_parse(text, len, &p, err, sizeof err), 0);
	assert_int_equal(p.n, DELTA_CHANGES_MAX);
	delta_page_free(&p);
	free(text);
}

static void writer_refuses_invalid_changes(void **state)
{
	struct delta_ident ids[2];
	struct delta_writer *w;
	char *text = (char *)"x", *big;
	size_t len;
	(void)state;

	assert_int_equal(delta_writer_new(-1, &w), RG_ERR_INVAL);
	assert_null(w);
	assert_int_equal(delta_writer_new(10, &w), 0);
	struct delta_change c = profile_change(10, "p-1", "{}", ids, 1); /* seq not above since */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = profile_change(11, "p-1", "[1,2]", ids, 1); /* body not an object */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = profile_change(11, "p-1", "{\"a\":", ids, 1); /* body not JSON */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = profile_change(11, "p 1", "{}", ids, 1); /* bad id */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = profile_change(11, "p-1", "{}", ids, 2);
	memset(ids[1].token, 1, RG_TOKEN_LEN); /* duplicate token */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = profile_change(11, "p-1", "{}", ids, 1);
	snprintf(ids[0].type, sizeof ids[0].type, "NFC"); /* bad type */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = profile_change(11, "p-1", "{}", ids, 1);
	c.version = 0;
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	/* A body over 32 KiB can never fit: INVAL, not TOOBIG (no endless retry). */
	big = malloc(DELTA_BODY_MAX + 16);
	assert_non_null(big);
	memset(big, ' ', DELTA_BODY_MAX + 15);
	memcpy(big, "{}", 2);
	big[DELTA_BODY_MAX + 15] = '\0';
	c = profile_change(11, "p-1", big, ids, 1);
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	free(big);
	c = link_change(11, DELTA_MERGE, "p-1", "p-1");
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	c = link_change(11, (enum delta_op)9, "p-1", "");
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	assert_int_equal(delta_writer_count(w), 0);
	c = link_change(15, DELTA_ERASE, "p-1", "");
	assert_int_equal(delta_writer_add(w, &c), 0);
	c = link_change(15, DELTA_ERASE, "p-2", ""); /* seq not increasing */
	assert_int_equal(delta_writer_add(w, &c), RG_ERR_INVAL);
	/* next below the last seq: refused, and w is freed all the same. */
	assert_int_equal(delta_writer_finish(w, 14, 20, 0, 1, false, &text, &len), RG_ERR_INVAL);
	assert_null(text);
	assert_int_equal(delta_writer_new(10, &w), 0);
	assert_int_equal(delta_writer_finish(w, 10, 20, 21, 1, false, &text, &len), RG_ERR_INVAL);
	assert_int_equal(delta_writer_new(10, &w), 0);
	delta_writer_free(w);
}

/* ---- snapshot chunks ---- */

static void chunk_round_trips(void **state)
{
	struct delta_ident ids[4];
	struct delta_change c[3] = {
	    profile_change(0, "p-000001",
			   "{\"name\":\"Ann \\\"the\\\" Jones\",\"s\":\"a\\\\b\\n\"}", ids, 2),
	    profile_change(0, "p-000002", "{}", ids, 0),
	    profile_change(0, "p-000010", "{\"points\":12.5}", ids + 2, 2),
	};
	struct delta_chunk k;
	char err[256], *text;
	size_t len;
	(void)state;

	memset(ids[2].token, 0xee, RG_TOKEN_LEN);
	memset(ids[3].token, 0xef, RG_TOKEN_LEN);
	assert_int_equal(
	    delta_chunk_build(77, 5120, 1763900000000, "p-000000", false, c, 3, &text, &len), 0);
	assert_int_equal(delta_chunk_parse(text, len, &k, err, sizeof err), 0);
	assert_int_equal(k.snapshot, 77);
	assert_int_equal(k.seq, 5120);
	assert_int_equal(k.as_of_ms, 1763900000000);
	assert_string_equal(k.after, "p-000000");
	assert_string_equal(k.next_after, "p-000010");
	assert_false(k.done);
	assert_int_equal(k.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(k.changes[i].op, DELTA_PROFILE);
		assert_string_equal(k.changes[i].id, c[i].id);
		assert_int_equal(k.changes[i].version, c[i].version);
		assert_true(k.changes[i].hlc == c[i].hlc);
		assert_string_equal(k.changes[i].body, c[i].body);
		assert_int_equal(k.changes[i].n_idents, c[i].n_idents);
		for (size_t j = 0; j < c[i].n_idents; j++)
			assert_memory_equal(k.changes[i].idents[j].token, c[i].idents[j].token,
					    RG_TOKEN_LEN);
	}
	delta_chunk_free(&k);
	assert_true(zeroed(&k, sizeof k));
	free(text);

	/* The last chunk of an empty snapshot. */
	assert_int_equal(delta_chunk_build(78, 0, 1, "", true, NULL, 0, &text, &len), 0);
	assert_int_equal(delta_chunk_parse(text, len, &k, err, sizeof err), 0);
	assert_true(k.done);
	assert_int_equal(k.n, 0);
	assert_string_equal(k.next_after, "");
	delta_chunk_free(&k);
	free(text);

	/* The builder refuses ids out of order, ids not after "after", other ops. */
	struct delta_change swapped[2] = {c[1], c[0]};
	assert_int_equal(delta_chunk_build(77, 1, 1, "", false, swapped, 2, &text, &len),
			 RG_ERR_INVAL);
	assert_null(text);
	assert_int_equal(delta_chunk_build(77, 1, 1, "p-000005", false, c, 3, &text, &len),
			 RG_ERR_INVAL);
	struct delta_change erase = link_change(1, DELTA_ERASE, "p-000001", "");
	assert_int_equal(delta_chunk_build(77, 1, 1, "", false, &erase, 1, &text, &len),
			 RG_ERR_INVAL);
	assert_int_equal(delta_chunk_build(0, 1, 1, "", false, c, 3, &text, &len), RG_ERR_INVAL);
}

/* A chunk around data text, with the sha256 given or (NULL) computed. */
static char *chunk_text(const char *data, int count, const char *next_after, const char *sha)
{
	uint8_t sum[32];
	char hex[65];
	cJSON *o = cJSON_CreateObject();
	if (!sha) {
		rg_sha256(data, strlen(data), sum);
		rg_hex_encode(sum, sizeof sum, hex, sizeof hex);
		sha = hex;
	}
	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "type", "snapshot_chunk");
	cJSON_AddNumberToObject(o, "snapshot", 77);
	cJSON_AddNumberToObject(o, "seq", 5120);
	cJSON_AddNumberToObject(o, "as_of", 1);
	cJSON_AddStringToObject(o, "after", "p-1");
	cJSON_AddStringToObject(o, "next_after", next_after);
	cJSON_AddBoolToObject(o, "done", 0);
	cJSON_AddNumberToObject(o, "count", count);
	cJSON_AddStringToObject(o, "sha256", sha);
	cJSON_AddStringToObject(o, "data", data);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	assert_non_null(s);
	return s;
}

#define CP(id) "{\"id\":\"" id "\",\"version\":1,\"hlc\":\"5.0\",\"body\":{\"a\":1},\"idents\":[]}"

static void chunk_refusals(void **state)
{
	static const struct {
		const char *data;
		int count;
		const char *next_after;
		const char *sha;
		int rc;
		const char *reason;
	} cases[] = {
	    {"[" CP("p-2") "," CP("p-3") "]", 2, "p-3", T64A, RG_ERR_INVAL,
	     "sha256: does not match data"},
	    {"[" CP("p-2") "," CP("p-3") "]", 3, "p-3", NULL, RG_ERR_INVAL,
	     "count: 3 but data holds 2 profiles"},
	    {"[" CP("p-2") "," CP("p-3") "]", 1, "p-3", NULL, RG_ERR_INVAL, "count: 1 but"},
	    {"[" CP("p-3") "," CP("p-2") "]", 2, "p-2", NULL, RG_ERR_INVAL,
	     "data[1].id: not after the previous id"},
	    {"[" CP("p-2") "," CP("p-2") "]", 2, "p-2", NULL, RG_ERR_INVAL, "data[1].id:"},
	    {"[" CP("p-0") "]", 1, "p-0", NULL, RG_ERR_INVAL, "data[0].id: not after \"after\""},
	    {"[" CP("p-2") "," CP("p-3") "]", 2, "p-2", NULL, RG_ERR_INVAL,
	     "next_after: not the last id"},
	    {"[" CP("p-2") "]", 1, "", NULL, RG_ERR_INVAL, "next_after:"},
	    {"{}", 0, "", NULL, RG_ERR_PARSE, "data: expected an array"},
	    {"[1", 0, "", NULL, RG_ERR_PARSE, "data: JSON syntax error"},
	    {"[{\"id\":\"p-2\"}]", 1, "p-2", NULL, RG_ERR_PARSE, "data[0].version: missing"},
	    {"[" CP("p 2") "]", 1, "p-2", NULL, RG_ERR_INVAL, "data[0].id: not a valid"},
	    {"[]", 0, "", "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
	     RG_ERR_INVAL, "sha256: not 64 lower-case hex"},
	};
	struct delta_chunk k;
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *s =
		    chunk_text(cases[i].data, cases[i].count, cases[i].next_after, cases[i].sha);
		err[0] = '\0';
		int rc = delta_chunk_parse(s, strlen(s), &k, err, sizeof err);
		if (rc != cases[i].rc || !strstr(err, cases[i].reason))
			fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
		assert_true(zeroed(&k, sizeof k));
		free(s);
	}
	/* Control: the same helper with consistent fields parses. */
	char *s = chunk_text("[" CP("p-2") "," CP("p-3") "]", 2, "p-3", NULL);
	assert_int_equal(delta_chunk_parse(s, strlen(s), &k, err, sizeof err), 0);
	assert_int_equal(k.n, 2);
	delta_chunk_free(&k);
	free(s);
	/* Unknown keys and a wrong type at the top. */
	const char *t =
	    "{\"v\":1,\"type\":\"snapshot_chunk\",\"snapshot\":1,\"seq\":1,\"as_of\":1,"
	    "\"after\":\"\",\"next_after\":\"\",\"done\":true,\"count\":0,\"sha256\":\"" T64A
	    "\",\"data\":\"[]\",\"extra\":0}";
	assert_int_equal(delta_chunk_parse(t, strlen(t), &k, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "unknown key \"extra\""));
	t = "{\"v\":1,\"type\":\"snapshot_chunk\",\"snapshot\":0,\"seq\":1,\"as_of\":1,"
	    "\"after\":\"\",\"next_after\":\"\",\"done\":true,\"count\":0,\"sha256\":\"" T64A
	    "\",\"data\":\"[]\"}";
	assert_int_equal(delta_chunk_parse(t, strlen(t), &k, err, sizeof err), RG_ERR_INVAL);
	assert_non_null(strstr(err, "snapshot: 0 is outside"));
}

/* A chunk that would exceed the page cap is refused by the builder. */
static void chunk_build_caps_size(void **state)
{
	size_t blen = DELTA_BODY_MAX - 64, n = 40;
	char *body = malloc(blen + 1);
	struct delta_change *c = calloc(n, sizeof *c);
	struct delta_ident ids[1];
	char id[32], *text;
	size_t len;
	(void)state;

	assert_non_null(body);
	assert_non_null(c);
	memset(body, 'x', blen);
	memcpy(body, "{\"note\":\"", 9);
	memcpy(body + blen - 2, "\"}", 2);
	body[blen] = '\0';
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof id, "p-%06zu", i);
		c[i] = profile_change(0, id, body, ids, 1);
	}
	assert_int_equal(delta_chunk_build(1, 1, 1, "", false, c, n, &text, &len), RG_ERR_TOOBIG);
	assert_null(text);
	assert_int_equal(delta_chunk_build(1, 1, 1, "", false, c, 20, &text, &len), 0);
	assert_true(len <= DELTA_PAGE_MAX);
	free(text);
	free(c);
	free(body);
}

/* ---- the notice ---- */

static void notice_round_trips_and_refusals(void **state)
{
	int64_t latest = -1;
	(void)state;

	char *s = delta_notice_build(5120);
	assert_non_null(s);
	assert_string_equal(s, "{\"v\":1,\"type\":\"changes_available\",\"latest\":5120}");
	assert_int_equal(delta_notice_parse(s, strlen(s), &latest), 0);
	assert_int_equal(latest, 5120);
	free(s);
	assert_null(delta_notice_build(-1));
	assert_null(delta_notice_build(DELTA_SEQ_MAX + 1));

	static const struct {
		const char *text;
		int rc;
	} cases[] = {
	    {"{\"v\":1,\"type\":\"changes_available\"}", RG_ERR_PARSE},
	    {"{\"v\":1,\"type\":\"changes_available\",\"latest\":1,\"profile\":\"p-1\"}",
	     RG_ERR_PARSE},
	    {"{\"v\":1,\"type\":\"changes\",\"latest\":1}", RG_ERR_PARSE},
	    {"{\"v\":1,\"type\":\"changes_available\",\"latest\":-5}", RG_ERR_INVAL},
	    {"{\"v\":1,\"type\":\"changes_available\",\"latest\":\"5\"}", RG_ERR_PARSE},
	    {"{\"v\":3,\"type\":\"changes_available\",\"latest\":5}", RG_ERR_INVAL},
	    {"{\"v\":1,", RG_ERR_PARSE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		latest = 99;
		int rc = delta_notice_parse(cases[i].text, strlen(cases[i].text), &latest);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		assert_int_equal(latest, 0);
	}
	char big[DELTA_REQUEST_MAX + 2];
	memset(big, ' ', sizeof big);
	assert_int_equal(delta_notice_parse(big, sizeof big, &latest), RG_ERR_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(request_round_trips),
	    cmocka_unit_test(request_refusals),
	    cmocka_unit_test(page_round_trips),
	    cmocka_unit_test(page_refusals),
	    cmocka_unit_test(page_accepts_limits),
	    cmocka_unit_test(page_refuses_over_caps),
	    cmocka_unit_test(page_failure_frees_and_zeroes),
	    cmocka_unit_test(writer_caps_page_size),
	    cmocka_unit_test(writer_refuses_invalid_changes),
	    cmocka_unit_test(chunk_round_trips),
	    cmocka_unit_test(chunk_refusals),
	    cmocka_unit_test(chunk_build_caps_size),
	    cmocka_unit_test(notice_round_trips_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
