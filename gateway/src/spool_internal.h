/*
 * spool_internal.h - what the spool's files share: the schema migrations.
 */
#ifndef GATEWAY_SPOOL_INTERNAL_H
#define GATEWAY_SPOOL_INTERNAL_H

#include "common/db.h"

#define GW_SPOOL_COMP "spool"

/* Bring the schema to the newest version; returns it or RG_ERR_MIGRATE. */
int gw_spool__migrate(struct rg_db *db);

#endif
