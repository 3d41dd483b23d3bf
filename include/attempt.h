/*
 * attempt.h
 *		What one attempt at a connection's step needs and leaves beyond its
 *		row of peering.connections.  step_prepare() fills the inputs, the
 *		step reads them and queues its outputs, catalog_save() writes the
 *		outputs back; conn_copy() starts a new attempt without the queued
 *		secret change and events.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_ATTEMPT_H
#define PEERING_ATTEMPT_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "auth.h"
#include "connbool.h"

/*
 * The kinds of peering.events, X(ID, name as peering.events.kind holds it):
 * created by peering_create() or peering_adopt(); a step completed; the
 * Aiven or Azure state changed; a failure retried; a connection stopped;
 * peering_retry(); peering_delete(); an ACTIVE peering changed; and
 * peering.auto_repair re-creating it; peering_alter() applied; the
 * services the VNet cannot reach changed.
 */
#define EVENT_KIND_LIST(X) \
	X(CREATED, created) \
	X(STEP, step) \
	X(STATE, state) \
	X(ERROR, error) \
	X(FAILED, failed) \
	X(RETRY, retry) \
	X(DELETE, delete) \
	X(DRIFT, drift) \
	X(REPAIR, repair) \
	X(ALTERED, altered) \
	X(REACHABILITY, reachability)

#define EVENT_KIND_ENUM(ID, name) EVENT_##ID,
typedef enum EventKind
{
	EVENT_KIND_LIST(EVENT_KIND_ENUM)
	EVENT_KINDS					/* how many there are */
} EventKind;
#undef EVENT_KIND_ENUM

/* One event to append to peering.events. */
typedef struct PeeringEvent
{
	EventKind	kind;
	int			step;			/* the step it concerns (a PeeringStep) */
	char	   *message;
	char	   *error_code;
	char	   *request_id;
} PeeringEvent;

/*
 * Objects shared by the connections of a subscription (the custom roles),
 * a tenant (the provider's service principal) or a VNet (the provider's role
 * assignment), as another live connection recorded them: made once, then
 * reused without a remote write.  NULL: none recorded yet.
 */
typedef struct SharedObjects
{
	char	   *app_role_id;
	ConnBool	app_role_owned;
	char	   *peer_role_id;
	ConnBool	peer_role_owned;
	char	   *provider_sp_id;
	char	   *peer_role_assignment_id;
} SharedObjects;

typedef struct ConnAttempt
{
	/* inputs */
	TimestampTz started;		/* when this attempt at the step began: what a
								 * step computes from the time must not change
								 * when the engine runs it again */
	Credential *azure_cred;
	Credential *aiven_cred;
	Credential *app_cred;		/* NULL until the app secret exists */
	bool		app_role_shared;	/* another live connection uses app_role_id */
	bool		peer_role_shared;	/* likewise peer_role_id */
	bool		peer_assignment_shared; /* likewise peer_role_assignment_id */
	SharedObjects known;		/* what other connections already made */
	int			recent_repairs; /* automatic repairs within the transient budget */

	/* outputs */
	bool		checked;		/* remote state read in this attempt */
	TimestampTz observed_at;	/* when it was read */
	char	   *new_app_secret; /* to store as the app's credential */
	bool		drop_app_secret;
	List	   *events;			/* of PeeringEvent * */
} ConnAttempt;

#endif							/* PEERING_ATTEMPT_H */
