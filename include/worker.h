/*
 * worker.h
 *		The background worker and its wake-up at COMMIT.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_WORKER_H
#define PEERING_WORKER_H

extern void peering_worker_register(void);
extern void peering_shmem_init(void);

extern void peering_wake_worker_at_commit(void);

extern PGDLLEXPORT void peering_worker_main(Datum main_arg);

#endif							/* PEERING_WORKER_H */
