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

/*
 * The one table of steps, in the order of their lifecycles.  Everything
 * else that knows the steps is made from it: the enum, the names (those of
 * peering.connections.step), each step's function step_<name>, the step
 * that follows, the position peering.progress shows, the catalog reads a
 * step needs before it runs, and peering.steps() for SQL.
 *
 * X(ID, name, phase, needs, waits_for):
 *	phase		STEP_PHASE_CREATE, _WATCH (the re-checks of an ACTIVE
 *				connection, and a change of it in place), _DELETE or _DONE; a
 *				step is followed by the next one of the table, but one of
 *				WATCH or DONE by itself
 *	needs		what catalog reads the step needs (STEP_NEEDS_*)
 *	waits_for	what a connection at the step waits for, in the words of
 *				peering.progress and peering_wait
 */
#define PEERING_STEP_TABLE(X) \
	X(APP, app, CREATE, 0, "the application to be created") \
	X(APP_SP, app_sp, CREATE, 0, "its service principal") \
	X(APP_ROLE, app_role, CREATE, STEP_NEEDS_SHARED, "the application's role") \
	X(APP_ROLE_ASSIGNMENT, app_role_assignment, CREATE, 0, "the application's role on the VNet") \
	X(PROVIDER_SP, provider_sp, CREATE, STEP_NEEDS_SHARED, "the provider's service principal") \
	X(PEER_ROLE, peer_role, CREATE, STEP_NEEDS_SHARED, "the provider's role") \
	X(PEER_ROLE_ASSIGNMENT, peer_role_assignment, CREATE, STEP_NEEDS_SHARED, "the provider's role on the VNet") \
	X(AIVEN_REQUEST, aiven_request, CREATE, 0, "the Aiven connection to be requested") \
	X(AIVEN_PENDING, aiven_pending, CREATE, 0, "Aiven to build its side (APPROVED to PENDING_PEER)") \
	X(APP_SECRET, app_secret, CREATE, 0, "the application's secret") \
	X(AZURE_PEERING, azure_peering, CREATE, 0, "the Azure peering to be created") \
	X(AZURE_PEERING_WAIT, azure_peering_wait, CREATE, 0, "Azure to provision the peering") \
	X(APP_SECRET_REMOVE, app_secret_remove, CREATE, 0, "the application's secret to be removed") \
	X(AIVEN_ACTIVE, aiven_active, CREATE, 0, "Aiven to see the peering (PENDING_PEER to ACTIVE)") \
	X(ACTIVE, active, WATCH, STEP_NEEDS_REPAIRS, "the next re-check") \
	X(ALTER, alter, WATCH, 0, "the change of peering_alter() to be applied") \
	X(DELETE_AZURE_PEERING, delete_azure_peering, DELETE, 0, "Azure to delete the peering") \
	X(IP_FILTER_CLOSE, ip_filter_close, DELETE, 0, "the IP filter entries of this peering to be removed") \
	X(DELETE_AIVEN, delete_aiven, DELETE, 0, "the Aiven connection to be deleted") \
	X(AIVEN_DELETED, aiven_deleted, DELETE, 0, "Aiven to delete the connection (DELETING to DELETED)") \
	X(DELETE_ROLE_ASSIGNMENTS, delete_role_assignments, DELETE, STEP_NEEDS_ASSIGNMENT_USERS, "the role assignments to be deleted") \
	X(DELETE_APP, delete_app, DELETE, 0, "the application to be deleted and purged") \
	X(DELETE_ROLES, delete_roles, DELETE, STEP_NEEDS_ROLE_USERS, "the custom roles to be deleted if unused") \
	X(DELETED, deleted, DONE, 0, "nothing: the peering is deleted")

#define STEP_ENUM(ID, name, phase, needs, waits_for)	STEP_##ID,

typedef enum PeeringStep
{
	PEERING_STEP_TABLE(STEP_ENUM)
	PEERING_STEPS				/* how many there are */
} PeeringStep;

#undef STEP_ENUM

typedef enum StepPhase
{
	STEP_PHASE_CREATE,
	STEP_PHASE_WATCH,
	STEP_PHASE_DELETE,
	STEP_PHASE_DONE
} StepPhase;

/* Catalog reads a step needs before it runs (step_prepare()). */
#define STEP_NEEDS_SHARED			0x01	/* shared objects of siblings */
#define STEP_NEEDS_REPAIRS			0x02	/* recent automatic repairs */
#define STEP_NEEDS_ASSIGNMENT_USERS	0x04	/* who else uses the assignment */
#define STEP_NEEDS_ROLE_USERS		0x08	/* who else uses the custom roles */

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

extern AivenPeering *step_aiven_peering_in(const PeeringConn *c, const AivenVpc *vpc);

/* The names and GUIDs of the objects the steps make, deterministic. */
extern char *step_custom_role_name(const PeeringConn *c, const char *base_name);
extern char *step_custom_role_guid(const PeeringConn *c, const char *role_name);
extern char *step_role_assignment_guid(const PeeringConn *c, const char *role_id,
									   const char *principal_id);

extern const char *step_name(PeeringStep step);

extern PeeringStep step_by_name(const char *name);

extern bool step_is(const PeeringConn *c, PeeringStep step);

extern void step_run(PeeringConn *c, StepResult *r);

extern void step_refresh(PeeringConn *c);

extern PeeringStep step_restart(const PeeringConn *c);

extern void step_register(void);

extern void step_prepare(PeeringConn *c, List **credentials);

#endif							/* PEERING_STEPS_H */
