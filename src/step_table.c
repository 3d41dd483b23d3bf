/*
 * step_table.c
 *		The one table of steps (PEERING_STEP_TABLE in steps.h) at run time:
 *		names, order, lifecycle positions, what a step needs loaded, and
 *		peering.steps() for SQL.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include <time.h>

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aiven.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "graph.h"
#include "peering.h"
#include "steps.h"
#include "step_internal.h"
#include "remote.h"
#include "util.h"


typedef void (*StepFunction) (PeeringConn *c, StepResult *r);

/* A row of the step table (PEERING_STEP_TABLE in steps.h). */
typedef struct StepDef
{
	StepFunction fn;
	StepPhase	phase;
	int			needs;			/* STEP_NEEDS_* */
	const char *waits_for;
} StepDef;


/* A connection that is deleted has no step left to take. */
void
step_deleted(PeeringConn *c, StepResult *r)
{
	elog(ERROR, "connection " INT64_FORMAT " has no step to take", c->id);
}

#define STEP_DEF(ID, name, phase, needs, waits_for) \
	[STEP_##ID] = {step_##name, STEP_PHASE_##phase, needs, waits_for},

static const StepDef step_table[PEERING_STEPS] = {
	PEERING_STEP_TABLE(STEP_DEF)
};

#undef STEP_DEF

/* The names, as peering.connections.step holds them. */
#define STEP_NAME(ID, name, phase, needs, waits_for) [STEP_##ID] = #name,

static const char *const step_names[PEERING_STEPS] = {
	PEERING_STEP_TABLE(STEP_NAME)
};

#undef STEP_NAME

/*
 * Gives the catalog the names of the step column's values; from
 * _PG_init(), before any catalog access.
 */
void
step_register(void)
{
	catalog_register_steps(step_names, PEERING_STEPS);
}

static const char *const step_phase_names[] = {
	[STEP_PHASE_CREATE] = "create",
	[STEP_PHASE_WATCH] = "watch",
	[STEP_PHASE_DELETE] = "delete",
	[STEP_PHASE_DONE] = "done",
};

/* The name of a step, as in peering.connections.step. */
const char *
step_name(PeeringStep step)
{
	Assert(step >= 0 && step < PEERING_STEPS);
	return step_names[step];
}

/* The step of a name; raises for an unknown one (or NULL). */
PeeringStep
step_by_name(const char *name)
{
	int			step = peering_name_index(step_names, PEERING_STEPS, name);

	if (step < 0)
		elog(ERROR, "unknown peering step \"%s\"", name ? name : "(null)");
	return (PeeringStep) step;
}

/* Is the connection at this step? */
bool
step_is(const PeeringConn *c, PeeringStep step)
{
	return c->step == (int) step;
}

/* The step that follows: the next of the table; a watch or the end stays. */
static PeeringStep
step_next(PeeringStep step)
{
	StepPhase	phase = step_table[step].phase;

	if (phase == STEP_PHASE_WATCH || phase == STEP_PHASE_DONE)
		return step;
	return step + 1;
}

/*
 * The position of a step in its lifecycle, as peering.progress shows it:
 * creation counts its steps, the watch of an ACTIVE connection stands at
 * the end of creation, deletion counts its own.
 */
static int
step_number(PeeringStep step)
{
	StepPhase	phase = step_table[step].phase;
	int			number = 0;
	int			i;

	if (phase == STEP_PHASE_WATCH)
		phase = STEP_PHASE_CREATE;
	for (i = 0; i <= (int) step; i++)
		if (step_table[i].phase == phase)
			number++;
	return phase == STEP_PHASE_DONE ? 0 : number;
}

/*
 * Runs the connection's current step once: fills r, or raises.  r->next is
 * preset to the step that follows in the table.
 */
void
step_run(PeeringConn *c, StepResult *r)
{
	PeeringStep step = (PeeringStep) c->step;

	r->next = step_next(step);
	step_table[step].fn(c, r);
}

/*
 * Loads into c->attempt what a connection's step needs beyond its row, as
 * its table row says (STEP_NEEDS_*): the credentials (shared through
 * credentials, which may be NULL: see catalog_load_credentials()), and
 * what the catalog knows of the shared objects it would create or delete.
 * Rows being deleted too do not count as users: deleting a shared object
 * twice is harmless, keeping it when the last user leaves is not.  Needs a
 * transaction.
 */
void
step_prepare(PeeringConn *c, List **credentials)
{
	int			needs = step_table[c->step].needs;

	catalog_load_credentials(c, credentials);
	/* only automatic repair counts them */
	if ((needs & STEP_NEEDS_REPAIRS) && peering_auto_repair)
		c->attempt.recent_repairs = catalog_count_recent_repairs(c->id);
	if (needs & STEP_NEEDS_SHARED)
		catalog_find_shared_objects(c);
	c->attempt.peer_assignment_shared = (needs & STEP_NEEDS_ASSIGNMENT_USERS) &&
		catalog_used_elsewhere(c->id, "peer_role_assignment_id",
							   c->peer_role_assignment_id);
	c->attempt.app_role_shared = (needs & STEP_NEEDS_ROLE_USERS) &&
		catalog_used_elsewhere(c->id, "app_role_id", c->app_role_id);
	c->attempt.peer_role_shared = (needs & STEP_NEEDS_ROLE_USERS) &&
		catalog_used_elsewhere(c->id, "peer_role_id", c->peer_role_id);
}

PG_FUNCTION_INFO_V1(peering_steps);

/*
 * peering.steps(): the step table for SQL, one row per step in the order
 * of the lifecycles (number, step, phase, waits_for); peering.progress and
 * the tests read it.
 */
Datum
peering_steps(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < PEERING_STEPS; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int32GetDatum(step_number((PeeringStep) i));
		nulls[0] = step_table[i].phase == STEP_PHASE_DONE;
		values[1] = CStringGetTextDatum(step_names[i]);
		values[2] = CStringGetTextDatum(step_phase_names[step_table[i].phase]);
		values[3] = CStringGetTextDatum(step_table[i].waits_for);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

