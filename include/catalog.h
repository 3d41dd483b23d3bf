/*
 * catalog.h
 *		The peering.* tables, read and written through SPI as the extension's
 *		owner with a fixed search_path.  Every function needs a transaction.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_CATALOG_H
#define PEERING_CATALOG_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "auth.h"

/*
 * Text-valued columns of peering.connections, with their SQL types.  SPEC
 * columns never change after creation; LEARNED columns (remote ids and
 * observed state) are always written back, even when the user re-armed or
 * deleted the connection meanwhile, so that nothing created is forgotten.
 */
#define CONN_SPEC_COLUMNS(X) \
	X(project, "text") \
	X(project_vpc_id, "uuid") \
	X(subscription_id, "uuid") \
	X(resource_group, "text") \
	X(vnet_name, "text") \
	X(peering_name, "text") \
	X(azure_credential, "text") \
	X(aiven_credential, "text") \
	X(app_role, "text") \
	X(desired, "text")

#define CONN_LEARNED_COLUMNS(X) \
	X(tenant_id, "uuid") \
	X(vnet_id, "text") \
	X(vnet_address_space, "cidr[]") \
	X(vpc_network_cidr, "cidr") \
	X(app_unique_name, "text") \
	X(app_id, "uuid") \
	X(app_object_id, "uuid") \
	X(app_sp_id, "uuid") \
	X(app_secret_key_id, "uuid") \
	X(app_role_id, "uuid") \
	X(app_role_owned, "boolean") \
	X(app_role_assignment_id, "uuid") \
	X(provider_sp_id, "uuid") \
	X(provider_sp_created, "boolean") \
	X(peer_role_id, "uuid") \
	X(peer_role_owned, "boolean") \
	X(peer_role_assignment_id, "uuid") \
	X(to_tenant_id, "uuid") \
	X(to_network_id, "text") \
	X(azure_peering_id, "text") \
	X(azure_operation, "text") \
	X(state, "text") \
	X(state_message, "text") \
	X(azure_peering_state, "text")

/* One event to append to peering.events. */
typedef struct PeeringEvent
{
	const char *kind;			/* created, step, state, error, failed, retry, delete, drift */
	char	   *step;			/* the step it concerns */
	char	   *message;
	char	   *error_code;
	char	   *request_id;
} PeeringEvent;

typedef struct PeeringConn
{
	int64		id;
	int32		generation;

#define CONN_FIELD(name, type) char *name;
	CONN_SPEC_COLUMNS(CONN_FIELD)
	CONN_LEARNED_COLUMNS(CONN_FIELD)
#undef CONN_FIELD

	/* progress, written only while the generation is unchanged */
	char	   *step;
	bool		failed;
	int32		attempts;
	char	   *last_error;
	char	   *last_error_code;
	TimestampTz next_attempt_at;	/* 0: none */
	char	   *retry_class;	/* remote_retry_name(); NULL: not retrying */
	TimestampTz retry_since;	/* 0: not retrying */
	TimestampTz retry_until;	/* 0: not retrying */
	TimestampTz step_since;
	TimestampTz active_since;	/* 0: never */
	bool		checked;		/* remote state read in this cycle */

	/* work of the cycle, not columns */
	Credential *azure_cred;
	Credential *aiven_cred;
	Credential *app_cred;		/* NULL until the app secret exists */
	char	   *new_app_secret; /* to store as the app's credential */
	bool		drop_app_secret;
	bool		app_role_shared;	/* another live connection uses app_role_id */
	bool		peer_role_shared;	/* likewise peer_role_id */
	bool		peer_assignment_shared; /* likewise peer_role_assignment_id */
	List	   *events;			/* of PeeringEvent * */
} PeeringConn;

/* Name of the internal credential holding a connection's app secret. */
#define APP_CREDENTIAL_FMT "peering_app_" INT64_FORMAT

/* Claims up to limit due connections for this process (a lease) and loads them. */
extern List *catalog_claim_due(int limit);

/* Loads one connection (with FOR UPDATE when lock); NULL if none. */
extern PeeringConn *catalog_load(int64 id, bool lock);

/*
 * Fills the credentials the connection's steps need; raises if one is gone.
 * cache (may be NULL) shares the user credentials among connections.
 */
extern void catalog_load_credentials(PeeringConn *c, List **cache);

/* One credential; NULL when missing_ok and it does not exist. */
extern Credential *catalog_get_credential(const char *name, bool missing_ok);

/*
 * Writes back what changed from before to after: the learned columns always,
 * the progress (when asked) only if the generation is unchanged; stores or
 * drops the app secret; appends the events; sends NOTIFY on a change of step
 * or state; releases this process's lease.
 */
extern void catalog_save(PeeringConn *before, PeeringConn *after, bool progress);

/* The earliest next_attempt_at of a connection not failed, or 0 if none. */
extern TimestampTz catalog_next_due(void);

/* Does a live connection other than id have value in this uuid column? */
extern bool catalog_used_elsewhere(int64 id, const char *column, const char *value);

/* Deep copy of a connection (strings and credentials), for before/after. */
extern PeeringConn *conn_copy(const PeeringConn *c);

/* Queues an event on c. */
extern void conn_event(PeeringConn *c, const char *kind, const char *message,
					   const char *error_code, const char *request_id);

/* The installed version of the extension (palloc'd), NULL if not installed. */
extern char *catalog_installed_version(void);

/* Oid of the extension owner, for running catalog SPI as that role. */
extern Oid	catalog_owner(void);



/* For the SQL entry points (api.c) */
extern int64 catalog_find_live(const PeeringConn *c);
extern int64 catalog_insert(PeeringConn *c);
extern void catalog_rearm(int64 id, const char *desired, const char *step,
						  const char *kind, const char *message);
extern Datum catalog_row_datum(int64 id);
extern bool catalog_created_here(int64 id);
extern void catalog_set_credential(const Credential *cred);
extern bool catalog_drop_credential(const char *name);

#endif							/* PEERING_CATALOG_H */
