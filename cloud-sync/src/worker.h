/*
 * worker.h - private to regulars-cloud: the daemon object main.c drives
 * (worker.c). One per process; the signal functions are async-signal-safe.
 */
#ifndef CLOUD_WORKER_H
#define CLOUD_WORKER_H

#include "cloud/cloud.h"
#include "cloud/store.h"

struct cloud_worker;

/* store (batches, pruning) and rstore (lookups and replication requests,
 * on a thread of their own; NULL: on the main thread with store) are
 * borrowed and must outlive the worker. */
int cloud_worker_new(const struct cloud_config *cfg, const char *config_path,
		     struct cloud_store *store, struct cloud_store *rstore,
		     struct cloud_worker **out);
/* Until RG_WAKE_STOP is posted (common/wake.h: SIGTERM/SIGINT). 0 on a clean stop. */
int cloud_worker_run(struct cloud_worker *w);
void cloud_worker_free(struct cloud_worker *w);

#endif
