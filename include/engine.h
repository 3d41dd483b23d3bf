/*
 * engine.h
 *		The reconcile engine: one cycle over the due connections, every
 *		connection's steps in flight together (docs/architecture.md §3).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_ENGINE_H
#define PEERING_ENGINE_H

#include "utils/palloc.h"

/*
 * Connections one cycle claims at most.  Large, so that the re-checks that
 * fall due together share their reads; the engine keeps
 * peering.max_parallel_requests in flight whatever the number.
 */
#define ENGINE_CLAIM_LIMIT	16384

/*
 * Connections loaded and worked through together within a cycle: what the
 * worker holds of rows, attempts and requests at once.
 */
#define ENGINE_BATCH_SIZE	512

/*
 * Bytes of shared answers a cycle keeps for its later batches; past them
 * those read longest ago are dropped, and read again if asked again.
 */
#define ENGINE_ANSWERS_BUDGET	(16 * 1024 * 1024)

/* How a driver starts and commits its short transactions. */
typedef struct CycleHooks
{
	void		(*begin) (void);
	void		(*commit) (void);
} CycleHooks;

extern int	engine_cycle(const CycleHooks *hooks, MemoryContext cycle_cxt, int limit);

#endif							/* PEERING_ENGINE_H */
