/*
 * test_privacy.c - a copy of a kiosk's files reveals nobody. The real
 * regulars-device runs on a database the test seeded with 200 customers;
 * every customer's card and NFC UID is tapped (so every body is opened and
 * a screen greets them by name), every stranger's too (recorded by token),
 * and bad check digits are refused. Then the power goes (SIGKILL, so the
 * -wal and -shm stay as they were), and the database file, its -wal and
 * -shm, and everything the daemon logged, are searched for every seeded
 * full name, first name, surname, card number and UID (raw bytes, lower
 * and upper hex): none is found. Controls prove the search can see.
 *
 * Usage: test_device_privacy PATH/TO/regulars-device PATH/TO/firmware/ui
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "devharness.h"

#define N_KNOWN 200
#define N_STRANGERS 100
#define WINDOW 8

static const char *daemon_path, *ui_path;
static struct dh_env env;
static struct dh_daemon dmn;
static struct dh_sse sse;
static struct dh_tap tap;

struct tally {
	size_t screens, greeting, named, unknown, refused, confirmed;
};

static void on_event(void *ctx, const char *event, const char *data)
{
	struct tally *t = ctx;
	if (strcmp(event, "screen") != 0)
		return;
	cJSON *j = cJSON_Parse(data);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	if (!cJSON_IsString(st))
		fail_msg("screen event without a state: %s", data);
	if (!strcmp(st->valuestring, "idle")) {
		cJSON_Delete(j);
		return;
	}
	t->screens++;
	t->greeting += !strcmp(st->valuestring, "greeting");
	t->unknown += !strcmp(st->valuestring, "unknown");
	t->refused += !strcmp(st->valuestring, "refused");
	t->named += cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "first_name"));
	t->confirmed += cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "interaction"));
	cJSON_Delete(j);
}

static void database_wal_shm_and_log_hold_no_name_card_number_or_uid(void **state)
{
	(void)state;
	uint64_t seed = dh_seed_from_env("RG_PRIVACY_SEED");
	printf("privacy: seed=0x%016" PRIx64 "\n", seed);
	dh_env_setup(&env, daemon_path, ui_path, seed, N_KNOWN, N_STRANGERS);
	dh_daemon_start(&env, &dmn, DH_SANITIZED ? 60000 : 20000);
	dh_tap_open(&tap, env.sock);
	dh_sse_open(&sse, dmn.port, 10000);

	/* every card and UID of everyone, and every 5th card with a bad check digit */
	size_t n_lines = 2 * env.n_people + env.n_people / 5, next = 0;
	char(*lines)[64] = calloc(n_lines, sizeof *lines);
	size_t n = 0, consenting = 0;
	assert_non_null(lines);
	for (size_t i = 0; i < env.n_people; i++) {
		const struct dh_person *p = &env.people[i];
		snprintf(lines[n++], sizeof lines[0], "barcode %s", p->card);
		snprintf(lines[n++], sizeof lines[0], "nfc %s", i % 2 ? p->uid_lo : p->uid_up);
		if (i % 5 == 0)
			snprintf(lines[n++], sizeof lines[0], "barcode %s", p->bad_card);
		consenting += p->known && p->consent ? 2 : 0;
	}
	assert_int_equal(n, n_lines);

	struct tally t = {0};
	int64_t deadline = dh_now_ms() + (DH_SANITIZED ? 120000 : 40000);
	while (t.screens < n_lines) {
		while (next < n_lines && next - t.screens < WINDOW)
			if (dh_tap_send(&tap, lines[next++]) < 0)
				fail_msg("the sim reader socket closed");
		int64_t left = deadline - dh_now_ms();
		if (left <= 0)
			fail_msg("only %zu of %zu screens before the deadline", t.screens, n_lines);
		struct pollfd p[3] = {{.fd = sse.fd, .events = POLLIN},
				      {.fd = tap.fd, .events = POLLIN},
				      {.fd = dmn.err_fd, .events = POLLIN}};
		if (poll(p, 3, (int)left) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		if (dh_sse_pump(&sse, on_event, &t))
			fail_msg("the event stream ended");
		dh_tap_pump(&tap);
		if (dh_daemon_pump(&dmn)) {
			dh_daemon_dump(&dmn, "the daemon went away");
			fail_msg("the daemon exited during the taps");
		}
	}
	printf("privacy: %zu taps: %zu greetings (%zu by first name), %zu unknown, %zu refused, "
	       "%zu confirmed\n",
	       n_lines, t.greeting, t.named, t.unknown, t.refused, t.confirmed);
	/* the daemon did open every body and show names: there was something to leak */
	assert_int_equal(t.greeting, 2 * N_KNOWN);
	assert_int_equal(t.named, consenting);
	assert_int_equal(t.unknown, 2 * N_STRANGERS);
	assert_int_equal(t.refused, env.n_people / 5);
	assert_int_equal(t.confirmed, 2 * env.n_people);

	/* The daemon logs each read just after its screen went out: wait for the
	 * last lines before the kill, so the log checked below is complete. */
	for (;;) {
		size_t logged = 0;
		for (const char *q = dmn.log; q && (q = strstr(q, "event=read ")); q++)
			logged++;
		int64_t left = deadline - dh_now_ms();
		if (logged >= n_lines || left <= 0)
			break;
		struct pollfd pe = {.fd = dmn.err_fd, .events = POLLIN};
		if (poll(&pe, 1, (int)left) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		if (dh_daemon_pump(&dmn))
			break;
	}
	dh_daemon_kill(&dmn);
	size_t scanned = dh_privacy_check(&env);

	/* its log: no secret either, though it logged a line for every read */
	char log_path[260];
	size_t len;
	struct dh_needle *nd;
	size_t nn = dh_secret_needles(&env, &nd);
	snprintf(log_path, sizeof log_path, "%s/daemon.log", env.dir);
	FILE *f = fopen(log_path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(dmn.log, 1, dmn.log_len, f), dmn.log_len);
	assert_int_equal(fclose(f), 0);
	long k = dh_scan_file(log_path, nd, nn, NULL, true, &len);
	if (k != 0)
		fail_msg("the daemon's log holds %ld seeded secrets (listed above)", k);
	size_t reads = 0;
	for (const char *q = dmn.log; (q = strstr(q, "event=read ")); q++)
		reads++;
	assert_int_equal(reads, n_lines);
	printf("privacy: %zu bytes of database, -wal and -shm and %zu bytes of log searched for "
	       "%zu secrets: none found\n",
	       scanned, len, nn);
	free(nd);
	free(lines);
	env.passed = true;
}

static int teardown(void **state)
{
	(void)state;
	dh_sse_close(&sse);
	dh_tap_close(&tap);
	dh_daemon_free(&dmn);
	dh_env_teardown(&env);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH/TO/regulars-device PATH/TO/firmware/ui\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	ui_path = argv[2];
	sse.fd = tap.fd = dmn.err_fd = -1;
	dmn.pid = -1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(database_wal_shm_and_log_hold_no_name_card_number_or_uid,
				      teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
