/*
 * fuzz_delta.c - libFuzzer target for the replication message parsers of
 * delta.h (request, page, chunk, notice). Whatever parses is rebuilt by the
 * matching writer, and that text must parse again to an equal message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/delta.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int changes_equal(const struct delta_change *a, const struct delta_change *b)
{
	if (a->seq != b->seq || a->op != b->op || strcmp(a->id, b->id) ||
	    strcmp(a->other, b->other))
		return 0;
	if (a->op != DELTA_PROFILE)
		return 1;
	if (a->version != b->version || a->hlc != b->hlc || a->body_len != b->body_len ||
	    strcmp(a->body, b->body) || a->n_idents != b->n_idents)
		return 0;
	for (size_t i = 0; i < a->n_idents; i++)
		if (memcmp(a->idents[i].token, b->idents[i].token, sizeof a->idents[i].token) ||
		    strcmp(a->idents[i].type, b->idents[i].type))
			return 0;
	return 1;
}

static void request_again(const struct delta_request *r)
{
	struct delta_request r2;
	char *s = delta_request_build(r);
	if (!s || delta_request_parse(s, strlen(s), &r2, NULL, 0) < 0)
		abort();
	if (r2.snapshot != r->snapshot || r2.since != r->since ||
	    r2.snapshot_id != r->snapshot_id || strcmp(r2.after, r->after) || r2.max != r->max)
		abort();
	free(s);
}

static void notice_again(int64_t latest)
{
	int64_t l2;
	char *s = delta_notice_build(latest);
	if (!s || delta_notice_parse(s, strlen(s), &l2) < 0 || l2 != latest)
		abort();
	free(s);
}

/* A page rebuilt by the writer parses to the same page. Canonical output can
 * be longer than a page near the cap (1e5 -> 100000, a raw control character
 * -> \u0001), so running out of room is tolerated only for large inputs. */
static void page_again(const struct delta_page *p, size_t size)
{
	struct delta_writer *w;
	struct delta_page p2;
	char *text;
	size_t len;

	if (p->snapshot_needed) {
		text = delta_page_snapshot_needed(p->since, p->latest, p->oldest, p->as_of_ms);
		if (!text)
			abort();
		len = strlen(text);
	} else {
		if (delta_writer_new(p->since, &w) < 0)
			abort();
		for (size_t i = 0; i < p->n; i++) {
			int rc = delta_writer_add(w, &p->changes[i]);
			if (rc == RG_ERR_TOOBIG && size > DELTA_PAGE_MAX / 2) {
				delta_writer_free(w);
				return;
			}
			if (rc < 0)
				abort();
		}
		if (delta_writer_finish(w, p->next, p->latest, p->oldest, p->as_of_ms, p->more,
					&text, &len) < 0)
			abort();
	}
	if (delta_page_parse(text, len, &p2, NULL, 0) < 0)
		abort();
	if (p2.since != p->since || p2.next != p->next || p2.latest != p->latest ||
	    p2.oldest != p->oldest || p2.as_of_ms != p->as_of_ms || p2.more != p->more ||
	    p2.snapshot_needed != p->snapshot_needed || p2.n != p->n)
		abort();
	for (size_t i = 0; i < p->n; i++)
		if (!changes_equal(&p->changes[i], &p2.changes[i]))
			abort();
	delta_page_free(&p2);
	free(text);
}

static void chunk_again(const struct delta_chunk *c, size_t size)
{
	struct delta_chunk c2;
	char *text;
	size_t len;
	int rc = delta_chunk_build(c->snapshot, c->seq, c->as_of_ms, c->after, c->done, c->changes,
				   c->n, &text, &len);

	if (rc == RG_ERR_TOOBIG && size > DELTA_PAGE_MAX / 2)
		return;
	if (rc < 0 || delta_chunk_parse(text, len, &c2, NULL, 0) < 0)
		abort();
	if (c2.snapshot != c->snapshot || c2.seq != c->seq || c2.as_of_ms != c->as_of_ms ||
	    strcmp(c2.after, c->after) || strcmp(c2.next_after, c->next_after) ||
	    c2.done != c->done || c2.n != c->n)
		abort();
	for (size_t i = 0; i < c->n; i++)
		if (!changes_equal(&c->changes[i], &c2.changes[i]))
			abort();
	delta_chunk_free(&c2);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct delta_request r;
	struct delta_page p;
	struct delta_chunk c;
	char err[256];
	int64_t latest;

	if (delta_request_parse(data, size, &r, err, sizeof err) == 0)
		request_again(&r);
	if (delta_notice_parse(data, size, &latest) == 0)
		notice_again(latest);
	if (delta_page_parse(data, size, &p, err, sizeof err) == 0) {
		page_again(&p, size);
		delta_page_free(&p);
	}
	if (delta_chunk_parse(data, size, &c, err, sizeof err) == 0) {
		chunk_again(&c, size);
		delta_chunk_free(&c);
	}
	return 0;
}
