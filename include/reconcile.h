/*
 * reconcile.h
 *		The state machine: advances one connection by one step, and the cycle
 *		(claim in a short transaction, network with none, write back in a
 *		short transaction) shared by the worker and CALL peering_run().
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_RECONCILE_H
#define PEERING_RECONCILE_H

#include "catalog.h"

/* How a driver starts and commits its short transactions. */
typedef struct CycleHooks
{
	void		(*begin) (void);
	void		(*commit) (void);
} CycleHooks;

/*
 * One cycle over at most limit due connections, allocating in cycle_cxt.
 * Returns how many connections are due again at once (a step completed).
 */
extern int	reconcile_cycle(const CycleHooks *hooks, MemoryContext cycle_cxt, int limit);

/* Reads the Aiven connection and the Azure peering into c (peering_status). */
extern void reconcile_refresh(PeeringConn *c);

/* The step a re-armed connection restarts from. */
extern const char *reconcile_restart_step(const PeeringConn *c);

#endif							/* PEERING_RECONCILE_H */
