/*
 * store_suite.h - the profile store's behaviour, written once against
 * cloud/store.h and run on every backend (SQLite now, PostgreSQL later). A
 * backend's test file supplies how to make a fresh store and how to make the
 * application of one interaction id fail inside the transaction.
 */
#ifndef CLOUD_TESTS_STORE_SUITE_H
#define CLOUD_TESTS_STORE_SUITE_H

#include "cloud/store.h"

struct suite_backend {
	const char *name;
	/* Fill o for a fresh, empty store living in dir (a new temp dir). */
	void (*opts)(struct cloud_store_opts *o, const char *dir);
	/* From now on, recording the interaction `id` fails (a fault inside
	 * the batch's transaction); clear removes the fault. */
	void (*fail_on)(const char *dir, const char *id);
	void (*fail_clear)(const char *dir);
};

/* Runs every test of the suite (cmocka); returns the failure count. */
int store_suite_run(const struct suite_backend *b);

#endif
