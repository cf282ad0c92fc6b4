/*
 * replica_internal.h - what the replica's files share: the schema migrations.
 */
#ifndef GATEWAY_REPLICA_INTERNAL_H
#define GATEWAY_REPLICA_INTERNAL_H

#include "common/db.h"

#define GW_REPLICA_COMP "replica"

/* Bring the schema to the newest version; returns it or RG_ERR_MIGRATE. */
int gw_replica__migrate(struct rg_db *db);

#endif
