/*
 * sqlite_internal.h - private to the SQLite backend of the profile store
 * (store_sqlite.c, sqlite_schema.c).
 */
#ifndef CLOUD_SQLITE_INTERNAL_H
#define CLOUD_SQLITE_INTERNAL_H

#include "common/db.h"
#include "store_internal.h"

int sq__migrate(struct rg_db *db);

#endif
