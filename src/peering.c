/*
 * peering.c
 *		Module entry point.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "http.h"
#include "jsonutil.h"
#include "peering.h"
#include "steps.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	peering_define_gucs();
	jsonutil_init();
	step_register();

	/* the worker and its shared state exist only when preloaded */
	if (!process_shared_preload_libraries_in_progress)
		return;
	peering_shmem_init();
	peering_worker_register();
}
