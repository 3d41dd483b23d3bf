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

#include "attempt.h"
#include "auth.h"

/*
 * The columns of peering.connections a PeeringConn holds, each with the kind
 * of its field (CONN_CTYPE_* below; catalog.c knows each kind's SQL type and
 * conversion).  SPEC columns are what the user asked for: written at
 * creation and by peering_alter() (catalog_alter(), which re-arms the
 * connection in the same UPDATE), never by the worker.  LEARNED columns
 * (remote ids and observed state) are always written back, even when the
 * user re-armed or deleted the connection meanwhile, so that nothing created
 * is forgotten.  PROGRESS columns are written only while the generation is
 * unchanged: retry_class is remote_retry_name() or NULL when not retrying,
 * and a timestamp of 0 is NULL (next_attempt_at: nothing scheduled;
 * retry_since, retry_until: not retrying; active_since: never active).
 */
#define CONN_SPEC_COLUMNS(X) \
	X(project, TEXT) \
	X(project_vpc_id, UUID) \
	X(subscription_id, UUID) \
	X(resource_group, TEXT) \
	X(vnet_name, TEXT) \
	X(peering_name, TEXT) \
	X(azure_credential, TEXT) \
	X(aiven_credential, TEXT) \
	X(app_role, APP_ROLE) \
	X(app_credential, TEXT) \
	X(allow_forwarded_traffic, BOOL) \
	X(allow_gateway_transit, BOOL) \
	X(use_remote_gateways, BOOL) \
	X(user_peer_network_cidrs, CIDR_LIST) \
	X(open_ip_filter, BOOL) \
	X(adopted, BOOL) \
	X(desired, DESIRED)

#define CONN_LEARNED_COLUMNS(X) \
	X(tenant_id, UUID) \
	X(vnet_id, TEXT) \
	X(vnet_address_space, CIDR_ARRAY) \
	X(vpc_network_cidr, CIDR) \
	X(app_unique_name, TEXT) \
	X(app_id, UUID) \
	X(app_object_id, UUID) \
	X(app_sp_id, UUID) \
	X(app_secret_key_id, UUID) \
	X(app_role_id, UUID) \
	X(app_role_owned, OPT_BOOL) \
	X(app_role_assignment_id, UUID) \
	X(provider_sp_id, UUID) \
	X(provider_sp_created, OPT_BOOL) \
	X(peer_role_id, UUID) \
	X(peer_role_owned, OPT_BOOL) \
	X(peer_role_assignment_id, UUID) \
	X(to_tenant_id, UUID) \
	X(to_network_id, TEXT) \
	X(azure_peering_id, TEXT) \
	X(azure_operation, TEXT) \
	X(state, TEXT) \
	X(state_message, TEXT) \
	X(azure_peering_state, TEXT) \
	X(azure_sync_level, TEXT) \
	X(unreachable_services, TEXT_ARRAY)

#define CONN_PROGRESS_COLUMNS(X) \
	X(step, STEP) \
	X(failed, BOOL) \
	X(attempts, INT4) \
	X(last_error, TEXT) \
	X(last_error_code, TEXT) \
	X(next_attempt_at, TIMESTAMPTZ) \
	X(retry_class, TEXT) \
	X(retry_since, TIMESTAMPTZ) \
	X(retry_until, TIMESTAMPTZ) \
	X(step_since, TIMESTAMPTZ) \
	X(active_since, TIMESTAMPTZ)

/*
 * A text[] column whose NULL (not known yet) differs from '{}' (known to
 * be empty), which a List alone cannot tell apart.
 */
typedef struct ConnTextArray
{
	bool		known;
	List	   *items;			/* of char *; NIL when empty or unknown */
} ConnTextArray;

/* What a connection is to become; SQL names in conn_desired_name(). */
typedef enum ConnDesired
{
	DESIRED_PRESENT,
	DESIRED_ABSENT				/* peering_delete() was called */
} ConnDesired;

/* The peering application's role on the VNet; SQL names in app_role_name(). */
typedef enum AppRole
{
	APP_ROLE_CUSTOM,			/* a role holding only what peering needs */
	APP_ROLE_NETWORK_CONTRIBUTOR	/* the built-in Network Contributor */
} AppRole;

/* The field of each kind; SQL NULL is NULL, NIL, CONN_BOOL_NULL or 0. */
#define CONN_CTYPE_TEXT char *
#define CONN_CTYPE_UUID char *		/* in text form */
#define CONN_CTYPE_CIDR char *
#define CONN_CTYPE_CIDR_ARRAY List *	/* of char * */
#define CONN_CTYPE_CIDR_LIST List *	/* of char *; NOT NULL, NIL is '{}' */
#define CONN_CTYPE_TEXT_ARRAY ConnTextArray
#define CONN_CTYPE_OPT_BOOL ConnBool
#define CONN_CTYPE_BOOL bool		/* NOT NULL */
#define CONN_CTYPE_INT4 int32		/* NOT NULL */
#define CONN_CTYPE_TIMESTAMPTZ TimestampTz
#define CONN_CTYPE_DESIRED ConnDesired	/* NOT NULL */
#define CONN_CTYPE_APP_ROLE AppRole	/* NOT NULL */
#define CONN_CTYPE_STEP int			/* a PeeringStep (steps.h); NOT NULL */

typedef struct PeeringConn
{
	int64		id;
	int32		generation;

#define CONN_FIELD(name, kind) CONN_CTYPE_##kind name;
	CONN_SPEC_COLUMNS(CONN_FIELD)
	CONN_LEARNED_COLUMNS(CONN_FIELD)
	CONN_PROGRESS_COLUMNS(CONN_FIELD)
#undef CONN_FIELD

	ConnAttempt attempt;		/* not columns: see attempt.h */
} PeeringConn;

/* Name of the internal credential holding a connection's app secret. */
#define APP_CREDENTIAL_FMT "peering_app_" INT64_FORMAT

extern int64 *catalog_claim_due(int limit, int *count);

extern List *catalog_load_claimed(const int64 *ids, int n);

extern PeeringConn *catalog_load(int64 id, bool lock);

extern void catalog_load_credentials(PeeringConn *c, List **cache);

extern void catalog_lock_credentials(const PeeringConn *c);

extern char *catalog_progress(int64 id);

extern Credential *catalog_get_credential(const char *name, bool missing_ok);

extern bool catalog_save(PeeringConn *before, PeeringConn *after, bool progress,
						 bool keep_claim);

extern bool catalog_only_rechecked(const PeeringConn *before, const PeeringConn *after);

extern void catalog_save_rechecks(PeeringConn *const *conns, int n);

extern void catalog_record_save_failure(int64 id, const char *message);

extern int	catalog_claim_lease_ms(void);

extern int	catalog_count_recent_repairs(int64 id);

extern void catalog_find_shared_objects(PeeringConn *c);

extern TimestampTz catalog_next_due(void);

extern bool catalog_used_elsewhere(int64 id, const char *column, const char *value);

extern PeeringConn *conn_copy(const PeeringConn *c);

extern const char *conn_desired_name(ConnDesired desired);

extern const char *app_role_name(AppRole role);
extern bool app_role_by_name(const char *name, AppRole *role);

extern void catalog_register_steps(const char *const *names, int count);

extern void conn_event(PeeringConn *c, EventKind kind, const char *message,
					   const char *error_code, const char *request_id);

extern char *catalog_installed_version(void);

extern Oid	catalog_owner(void);



/* For the SQL entry points (api.c) */
extern int64 catalog_find_live(const PeeringConn *c);
extern int64 catalog_insert(PeeringConn *c);
extern void catalog_rearm(int64 id, ConnDesired desired, int step,
						  EventKind kind, const char *message);
extern void catalog_alter(const PeeringConn *before, const PeeringConn *after, int step);
extern Datum catalog_row_datum(int64 id);
extern bool catalog_created_here(int64 id);
extern void catalog_set_credential(const Credential *cred);
extern bool catalog_drop_credential(const char *name);

#endif							/* PEERING_CATALOG_H */
