/*
 * steps.h
 *		The steps of a peering's life (docs/architecture.md §2): what each
 *		does remotely, and what it makes of the answers.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * A step is a function of the connection: it makes its remote calls
 * through http_perform() and records in the PeeringConn and a StepResult
 * what it learned and how it went.  It never touches the catalog and never
 * decides when a request goes out: under the engine (engine.c) each call
 * is answered from what the engine fetched, or noted for the engine to
 * send, and the step is run again once the answer is in.  So a step must
 * be deterministic in its connection and the answers it gets.
 */
#ifndef PEERING_STEPS_H
#define PEERING_STEPS_H

#include "aiven.h"
#include "catalog.h"
#include "remote.h"

/* The steps, in the order of a lifecycle; names in step_name(). */
typedef enum PeeringStep
{
	STEP_APP,
	STEP_APP_SP,
	STEP_APP_ROLE,
	STEP_APP_ROLE_ASSIGNMENT,
	STEP_PROVIDER_SP,
	STEP_PEER_ROLE,
	STEP_PEER_ROLE_ASSIGNMENT,
	STEP_AIVEN_REQUEST,
	STEP_AIVEN_PENDING,
	STEP_APP_SECRET,
	STEP_AZURE_PEERING,
	STEP_AZURE_PEERING_WAIT,
	STEP_APP_SECRET_REMOVE,
	STEP_AIVEN_ACTIVE,
	STEP_ACTIVE,
	STEP_DELETE_AZURE_PEERING,
	STEP_DELETE_AIVEN,
	STEP_AIVEN_DELETED,
	STEP_DELETE_ROLE_ASSIGNMENTS,
	STEP_DELETE_APP,
	STEP_DELETE_ROLES,
	STEP_DELETED
} PeeringStep;

#define PEERING_STEPS	(STEP_DELETED + 1)

typedef enum StepOutcome
{
	STEP_ADVANCED,				/* done: go to the next step now */
	STEP_WAITING,				/* remote work in progress: poll again */
	STEP_RETRY,					/* failed, worth another attempt */
	STEP_FAILED					/* stopped: the user must fix something */
} StepOutcome;

typedef struct StepResult
{
	StepOutcome outcome;
	PeeringStep next;			/* STEP_ADVANCED: where to go */
	char	   *message;
	char	   *hint;
	char	   *error_code;
	char	   *request_id;
	int			retry_after;	/* seconds, -1 if none */
	RemoteRetry retry;
} StepResult;

/* The two custom roles, by the start of their names. */
#define ROLE_PEERING_WRITER		"peering VNet peering writer"
#define ROLE_PROVIDER_PEER		"peering provider VNet peer"

/* The connection's Aiven peering connection in vpc (which may be NULL), or NULL. */
extern AivenPeering *step_aiven_peering_in(const PeeringConn *c, const AivenVpc *vpc);

/* The names and GUIDs of the objects the steps make, deterministic. */
extern char *step_custom_role_name(const PeeringConn *c, const char *base_name);
extern char *step_custom_role_guid(const PeeringConn *c, const char *role_name);
extern char *step_role_assignment_guid(const PeeringConn *c, const char *role_id,
									   const char *principal_id);

/* The name of a step, as in peering.connections.step. */
extern const char *step_name(PeeringStep step);

/* The step of a name; raises for an unknown one. */
extern PeeringStep step_by_name(const char *name);

/* Is the connection at this step? */
extern bool step_is(const PeeringConn *c, PeeringStep step);

/*
 * Runs the connection's current step once: fills r, or raises.  r->next is
 * preset to the step that follows in the table.
 */
extern void step_run(PeeringConn *c, StepResult *r);

/* Reads the Aiven connection and the Azure peering into c (peering_status). */
extern void step_refresh(PeeringConn *c);

/* The step a re-armed connection restarts from. */
extern PeeringStep step_restart(const PeeringConn *c);

#endif							/* PEERING_STEPS_H */
