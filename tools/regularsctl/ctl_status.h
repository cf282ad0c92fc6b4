/*
 * ctl_status.h - the receivers' retained status reports as `regularsctl
 * config status` shows them: one message (topic + payload, outside data from
 * the central broker) becomes a row, printed as a table line per scope or as
 * one JSON object. Kept apart from the MQTT code so a fuzz target drives it.
 */
#ifndef REGULARSCTL_CTL_STATUS_H
#define REGULARSCTL_CTL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

#include "common/pki.h"

struct ctl_status_row {
	char gw[PKI_ID_MAX + 1];
	char dev[PKI_ID_MAX + 1]; /* "" for the gateway's own status */
	const char *topic;	  /* borrowed */
	cJSON *status;		  /* owned; NULL when the payload is not a JSON object */
};

/* A row for rg/v1/g/<gw>/status or rg/v1/g/<gw>/d/<dev>/status. false (and
 * nothing to free) for any other topic or an empty payload (a clear). */
bool ctl_status_row_parse(const char *topic, const void *payload, size_t len,
			  struct ctl_status_row *r);
void ctl_status_row_clear(struct ctl_status_row *r);
/* qsort order: by gateway, the gateway's own row first, then its devices. */
int ctl_status_row_cmp(const void *a, const void *b);

void ctl_status_header(FILE *out);
/* Text: one line per scope of the "config" report, control characters of
 * the reported strings replaced; json: one object on one line. */
void ctl_status_row_print(const struct ctl_status_row *r, bool json, FILE *out);

#endif
