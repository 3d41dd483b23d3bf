/*
 * catalog.c
 *		SPI access to peering.connections, peering.events and
 *		peering.credentials.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Every query runs as the extension's owner with search_path fixed to
 * pg_catalog, so that peering_run() (which may not be SECURITY DEFINER,
 * because it commits) and the SECURITY DEFINER functions see the same
 * tables, and a caller's search_path cannot redirect an operator.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "peering.h"

typedef struct CatalogScope
{
	MemoryContext caller_cxt;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CatalogScope;

Oid
catalog_owner(void)
{
	Oid			nsp = get_namespace_oid(PEERING_SCHEMA, false);
	Oid			relid = get_relname_relid("connections", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table peering.connections does not exist"),
				 errhint("Run CREATE EXTENSION peering.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* The installed version of the extension, palloc'd; NULL if not installed. */
char *
catalog_installed_version(void)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *version = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension"
					" WHERE extname = 'peering'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed reading pg_extension");
	if (SPI_processed > 0)
		version = MemoryContextStrdup(caller,
									  SPI_getvalue(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return version;
}

/*
 * Refuses to touch tables of another version than the library's: after a
 * package upgrade the old tables lack columns until ALTER EXTENSION runs.
 * Checked once per transaction.
 */
static void
catalog_require_version(void)
{
	static LocalTransactionId checked_in = InvalidLocalTransactionId;
	char	   *version;

	if (checked_in == MyProc->lxid)
		return;
	version = catalog_installed_version();
	if (version != NULL && strcmp(version, PEERING_CATALOG_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"peering\" is at version %s, but its library needs version %s",
						version, PEERING_CATALOG_VERSION),
				 errhint("Run ALTER EXTENSION peering UPDATE.")));
	checked_in = MyProc->lxid;
}

/*
 * Enters SPI as the owner.  An ERROR before catalog_leave() is cleaned up by
 * transaction abort, which restores the user and the GUC nest level.
 */
static void
catalog_enter(CatalogScope *scope)
{
	Oid			owner;

	catalog_require_version();
	owner = catalog_owner();

	scope->caller_cxt = CurrentMemoryContext;
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	SetUserIdAndSecContext(owner,
						   scope->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	scope->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
catalog_leave(CatalogScope *scope)
{
	SPI_finish();
	AtEOXact_GUC(true, scope->save_nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

/*
 * Runs sql with text parameters (NULL pointers are SQL NULLs); the SQL casts
 * them.  Returns SPI's result code after checking it is the expected one.
 */
static int
catalog_exec(const char *sql, int nargs, const char **args, int expected)
{
	Oid		   *types = palloc(sizeof(Oid) * Max(nargs, 1));
	Datum	   *values = palloc(sizeof(Datum) * Max(nargs, 1));
	char	   *nulls = palloc(Max(nargs, 1) + 1);
	int			i;
	int			rc;

	for (i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = args[i] ? CStringGetTextDatum(args[i]) : (Datum) 0;
		nulls[i] = args[i] ? ' ' : 'n';
	}
	nulls[nargs] = '\0';
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "SPI_execute failed (%d): %s", rc, sql);
	return rc;
}

/* Value of a column of SPI_tuptable row i as text in cxt; NULL if null. */
static char *
spi_text(int row, const char *column, MemoryContext cxt)
{
	int			fno = SPI_fnumber(SPI_tuptable->tupdesc, column);
	MemoryContext old;
	char	   *value;

	if (fno <= 0)
		elog(ERROR, "column \"%s\" missing from query result", column);
	old = MemoryContextSwitchTo(cxt);
	value = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, fno);
	MemoryContextSwitchTo(old);
	return value;
}

static Datum
spi_binary(int row, const char *column, bool *isnull)
{
	int			fno = SPI_fnumber(SPI_tuptable->tupdesc, column);

	if (fno <= 0)
		elog(ERROR, "column \"%s\" missing from query result", column);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, fno, isnull);
}

static TimestampTz
spi_timestamp(int row, const char *column)
{
	bool		isnull;
	Datum		d = spi_binary(row, column, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

/* Builds a PeeringConn from row i of SPI_tuptable (a SELECT * of connections). */
static PeeringConn *
conn_from_row(int row, MemoryContext cxt)
{
	PeeringConn *c = MemoryContextAllocZero(cxt, sizeof(PeeringConn));
	bool		isnull;

	c->id = DatumGetInt64(spi_binary(row, "id", &isnull));
	c->generation = DatumGetInt32(spi_binary(row, "generation", &isnull));
#define CONN_READ(name, type) c->name = spi_text(row, #name, cxt);
	CONN_SPEC_COLUMNS(CONN_READ)
	CONN_LEARNED_COLUMNS(CONN_READ)
#undef CONN_READ
	c->step = spi_text(row, "step", cxt);
	c->failed = DatumGetBool(spi_binary(row, "failed", &isnull));
	c->attempts = DatumGetInt32(spi_binary(row, "attempts", &isnull));
	c->last_error = spi_text(row, "last_error", cxt);
	c->last_error_code = spi_text(row, "last_error_code", cxt);
	c->next_attempt_at = spi_timestamp(row, "next_attempt_at");
	c->retry_class = spi_text(row, "retry_class", cxt);
	c->retry_since = spi_timestamp(row, "retry_since");
	c->retry_until = spi_timestamp(row, "retry_until");
	c->step_since = spi_timestamp(row, "step_since");
	c->active_since = spi_timestamp(row, "active_since");
	return c;
}

static char *
copy_or_null(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

PeeringConn *
conn_copy(const PeeringConn *src)
{
	PeeringConn *c = palloc(sizeof(PeeringConn));

	memcpy(c, src, sizeof(PeeringConn));
#define CONN_COPY(name, type) c->name = copy_or_null(src->name);
	CONN_SPEC_COLUMNS(CONN_COPY)
	CONN_LEARNED_COLUMNS(CONN_COPY)
#undef CONN_COPY
	c->step = copy_or_null(src->step);
	c->last_error = copy_or_null(src->last_error);
	c->last_error_code = copy_or_null(src->last_error_code);
	c->retry_class = copy_or_null(src->retry_class);
	c->new_app_secret = NULL;
	c->drop_app_secret = false;
	c->events = NIL;
	return c;
}

void
conn_event(PeeringConn *c, const char *kind, const char *message,
		   const char *error_code, const char *request_id)
{
	PeeringEvent *e = palloc0(sizeof(PeeringEvent));

	e->kind = kind;
	e->step = copy_or_null(c->step);
	e->message = copy_or_null(message);
	e->error_code = copy_or_null(error_code);
	e->request_id = copy_or_null(request_id);
	c->events = lappend(c->events, e);
}

List *
catalog_claim_due(int limit)
{
	CatalogScope scope;
	const char *args[2];
	List	   *result = NIL;
	List	   *credentials = NIL;
	ListCell   *lc;
	uint64		i;

	args[0] = psprintf("%d", limit);
	args[1] = psprintf("%d", Max(peering_http_timeout, 1000) * 20);
	catalog_enter(&scope);
	catalog_exec("UPDATE peering.connections c"
				 "   SET claimed_by = pg_backend_pid(),"
				 "       claimed_until = now() + $2::int * interval '1 ms'"
				 " WHERE c.id IN ("
				 "   SELECT d.id FROM peering.connections d"
				 "    WHERE NOT d.failed AND d.step <> 'deleted'"
				 "      AND d.next_attempt_at <= clock_timestamp()"
				 "      AND (d.claimed_by IS NULL OR d.claimed_until < now()"
				 "           OR d.claimed_by = pg_backend_pid()"
				 "           OR NOT EXISTS (SELECT FROM pg_stat_activity a"
				 "                          WHERE a.pid = d.claimed_by))"
				 "    ORDER BY d.next_attempt_at"
				 "    LIMIT $1::int"
				 "    FOR UPDATE SKIP LOCKED)"
				 " RETURNING c.*",
				 2, args, SPI_OK_UPDATE_RETURNING);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scope.caller_cxt);

		result = lappend(result, conn_from_row(i, scope.caller_cxt));
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);

	foreach(lc, result)
	{
		PeeringConn *c = lfirst(lc);

		catalog_load_credentials(c, &credentials);
		/* shared objects survive while another connection uses them */
		if (strcmp(c->step, "delete_role_assignments") == 0)
			c->peer_assignment_shared =
				catalog_used_elsewhere(c->id, "peer_role_assignment_id",
									   c->peer_role_assignment_id);
		if (strcmp(c->step, "delete_roles") == 0)
		{
			c->app_role_shared = catalog_used_elsewhere(c->id, "app_role_id",
														c->app_role_id);
			c->peer_role_shared = catalog_used_elsewhere(c->id, "peer_role_id",
														 c->peer_role_id);
		}
	}
	return result;
}

PeeringConn *
catalog_load(int64 id, bool lock)
{
	CatalogScope scope;
	const char *args[1];
	PeeringConn *c = NULL;

	args[0] = psprintf(INT64_FORMAT, id);
	catalog_enter(&scope);
	catalog_exec(lock ?
				 "SELECT * FROM peering.connections WHERE id = $1::bigint FOR UPDATE" :
				 "SELECT * FROM peering.connections WHERE id = $1::bigint",
				 1, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		c = conn_from_row(0, scope.caller_cxt);
	catalog_leave(&scope);
	return c;
}

Credential *
catalog_get_credential(const char *name, bool missing_ok)
{
	CatalogScope scope;
	const char *args[1];
	Credential *cred = NULL;

	args[0] = name;
	catalog_enter(&scope);
	catalog_exec("SELECT name, kind, tenant_id, client_id, secret_file, secret"
				 "  FROM peering.credentials WHERE name = $1",
				 1, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		cred = MemoryContextAllocZero(scope.caller_cxt, sizeof(Credential));
		cred->name = spi_text(0, "name", scope.caller_cxt);
		cred->kind = spi_text(0, "kind", scope.caller_cxt);
		cred->tenant_id = spi_text(0, "tenant_id", scope.caller_cxt);
		cred->client_id = spi_text(0, "client_id", scope.caller_cxt);
		cred->secret_file = spi_text(0, "secret_file", scope.caller_cxt);
		cred->secret = spi_text(0, "secret", scope.caller_cxt);
	}
	catalog_leave(&scope);

	if (cred == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("credential \"%s\" does not exist", name),
				 errhint("Create it with peering_credential_set().")));
	return cred;
}

/*
 * A user credential, read once per claim however many connections use it.
 * In a claim a missing one is NULL, for the step to report; else it raises.
 */
static Credential *
shared_credential(const char *name, List **cache)
{
	Credential *cred;
	ListCell   *lc;

	if (cache != NULL)
		foreach(lc, *cache)
		{
			cred = lfirst(lc);
			if (strcmp(cred->name, name) == 0)
				return cred;
		}
	cred = catalog_get_credential(name, cache != NULL);
	if (cred != NULL && cache != NULL)
		*cache = lappend(*cache, cred);
	return cred;
}

void
catalog_load_credentials(PeeringConn *c, List **cache)
{
	c->azure_cred = shared_credential(c->azure_credential, cache);
	c->aiven_cred = shared_credential(c->aiven_credential, cache);
	c->app_cred = catalog_get_credential(psprintf(APP_CREDENTIAL_FMT, c->id), true);
}

bool
catalog_used_elsewhere(int64 id, const char *column, const char *value)
{
	CatalogScope scope;
	const char *args[2];
	bool		used;

	if (value == NULL)
		return false;
	args[0] = psprintf(INT64_FORMAT, id);
	args[1] = value;
	catalog_enter(&scope);
	/* column is one of ours, never user input */
	catalog_exec(psprintf("SELECT FROM peering.connections"
						  " WHERE id <> $1::bigint AND step <> 'deleted'"
						  "   AND %s = $2::uuid LIMIT 1", column),
				 2, args, SPI_OK_SELECT);
	used = SPI_processed > 0;
	catalog_leave(&scope);
	return used;
}

TimestampTz
catalog_next_due(void)
{
	CatalogScope scope;
	TimestampTz due;

	catalog_enter(&scope);
	catalog_exec("SELECT min(next_attempt_at) AS due FROM peering.connections"
				 " WHERE NOT failed AND step <> 'deleted'",
				 0, NULL, SPI_OK_SELECT);
	due = spi_timestamp(0, "due");
	catalog_leave(&scope);
	return due;
}

static const char *
timestamp_arg(TimestampTz t)
{
	/* timestamptz_to_str returns a static buffer */
	return t ? pstrdup(timestamptz_to_str(t)) : NULL;
}

static bool
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Inserts or replaces a credential; inside catalog scope. */
static void
upsert_credential(const Credential *cred, bool internal)
{
	const char *args[7];

	args[0] = cred->name;
	args[1] = cred->kind;
	args[2] = cred->tenant_id;
	args[3] = cred->client_id;
	args[4] = cred->secret_file;
	args[5] = cred->secret;
	args[6] = internal ? "true" : "false";
	catalog_exec("INSERT INTO peering.credentials"
				 "   (name, kind, tenant_id, client_id, secret_file, secret, internal)"
				 " VALUES ($1, $2, $3::uuid, $4::uuid, $5, $6, $7::boolean)"
				 " ON CONFLICT (name) DO UPDATE"
				 "   SET kind = excluded.kind, tenant_id = excluded.tenant_id,"
				 "       client_id = excluded.client_id, secret_file = excluded.secret_file,"
				 "       secret = excluded.secret, internal = excluded.internal,"
				 "       updated_at = now()",
				 7, args, SPI_OK_INSERT);
}

/* The peering application's secret becomes the connection's credential. */
static void
store_app_secret(const PeeringConn *c)
{
	Credential	cred = {0};

	cred.name = psprintf(APP_CREDENTIAL_FMT, c->id);
	cred.kind = "azure_client_secret";
	cred.tenant_id = c->tenant_id;
	cred.client_id = c->app_id;
	cred.secret = c->new_app_secret;
	upsert_credential(&cred, true);
}

static void
insert_event(const PeeringConn *c, const PeeringEvent *e)
{
	const char *args[8];

	args[0] = psprintf(INT64_FORMAT, c->id);
	args[1] = e->kind;
	args[2] = e->step;
	args[3] = c->state;
	args[4] = c->azure_peering_state;
	args[5] = e->message;
	args[6] = e->error_code;
	args[7] = e->request_id;
	catalog_exec("INSERT INTO peering.events (connection_id, kind, step, state,"
				 "   azure_peering_state, message, error_code, request_id)"
				 " VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8)",
				 8, args, SPI_OK_INSERT);
}

static void
notify_change(int64 id)
{
	const char *args[1];

	args[0] = psprintf(INT64_FORMAT, id);
	catalog_exec("SELECT pg_notify('" PEERING_NOTIFY_CHANNEL "',"
				 " json_build_object('id', id, 'state', state, 'step', step,"
				 "   'azure_peering_state', azure_peering_state, 'failed', failed)::text)"
				 "  FROM peering.connections WHERE id = $1::bigint",
				 1, args, SPI_OK_SELECT);
}

/* Appends ", column = $n::type" and its argument. */
static void
set_column(StringInfo sql, const char **args, int *n, const char *column,
		   const char *type, const char *value)
{
	args[*n] = value;
	(*n)++;
	appendStringInfo(sql, ", %s = $%d::%s", column, *n, type);
}

void
catalog_save(PeeringConn *before, PeeringConn *after, bool progress)
{
	CatalogScope scope;
	const char *args[64];
	int			n = 0;
	bool		current;
	StringInfoData sql;
	ListCell   *lc;

	args[n++] = psprintf(INT64_FORMAT, after->id);
	catalog_enter(&scope);

	catalog_exec("SELECT generation FROM peering.connections WHERE id = $1::bigint FOR UPDATE",
				 1, args, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		catalog_leave(&scope);
		return;
	}
	current = progress &&
		atoi(spi_text(0, "generation", CurrentMemoryContext)) == after->generation;

	/*
	 * Only what this driver changed is written: a concurrent driver's or
	 * user's changes to other columns survive.
	 */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE peering.connections SET updated_at = now(),"
						   " claimed_by = CASE WHEN claimed_by = pg_backend_pid()"
						   " THEN NULL ELSE claimed_by END,"
						   " claimed_until = CASE WHEN claimed_by = pg_backend_pid()"
						   " THEN NULL ELSE claimed_until END");
#define CONN_SET(name, type) \
	if (str_differs(before->name, after->name)) \
		set_column(&sql, args, &n, #name, type, after->name);
	CONN_LEARNED_COLUMNS(CONN_SET)
#undef CONN_SET
	if (after->checked)
		appendStringInfoString(&sql, ", checked_at = now()");
	if (current)
	{
		set_column(&sql, args, &n, "step", "text", after->step);
		set_column(&sql, args, &n, "failed", "boolean", after->failed ? "true" : "false");
		set_column(&sql, args, &n, "attempts", "int", psprintf("%d", after->attempts));
		set_column(&sql, args, &n, "last_error", "text", after->last_error);
		set_column(&sql, args, &n, "last_error_code", "text", after->last_error_code);
		set_column(&sql, args, &n, "next_attempt_at", "timestamptz",
				   timestamp_arg(after->next_attempt_at));
		set_column(&sql, args, &n, "retry_class", "text", after->retry_class);
		set_column(&sql, args, &n, "retry_since", "timestamptz",
				   timestamp_arg(after->retry_since));
		set_column(&sql, args, &n, "retry_until", "timestamptz",
				   timestamp_arg(after->retry_until));
		set_column(&sql, args, &n, "step_since", "timestamptz",
				   timestamp_arg(after->step_since));
		set_column(&sql, args, &n, "active_since", "timestamptz",
				   timestamp_arg(after->active_since));
	}
	Assert(n <= lengthof(args));
	appendStringInfoString(&sql, " WHERE id = $1::bigint");
	catalog_exec(sql.data, n, args, SPI_OK_UPDATE);

	if (after->new_app_secret)
		store_app_secret(after);
	if (after->drop_app_secret)
	{
		args[0] = psprintf(APP_CREDENTIAL_FMT, after->id);
		catalog_exec("DELETE FROM peering.credentials WHERE name = $1 AND internal",
					 1, args, SPI_OK_DELETE);
	}

	if (str_differs(before->state, after->state) ||
		str_differs(before->azure_peering_state, after->azure_peering_state))
		conn_event(after, "state",
				   psprintf("Aiven state %s, Azure peering %s",
							after->state ? after->state : "none",
							after->azure_peering_state ? after->azure_peering_state : "none"),
				   NULL, NULL);
	foreach(lc, after->events)
		insert_event(after, lfirst(lc));

	if (str_differs(before->state, after->state) ||
		str_differs(before->azure_peering_state, after->azure_peering_state) ||
		(current && (str_differs(before->step, after->step) ||
					 before->failed != after->failed)))
		notify_change(after->id);

	catalog_leave(&scope);
}

/* ----------------------------------------------------------------
 * For the SQL entry points
 * ---------------------------------------------------------------- */

static void record_user_change(int64 id, const char *kind, const char *message);

/* Id of a live connection of the same VPC and VNet, or 0. */
int64
catalog_find_live(const PeeringConn *c)
{
	CatalogScope scope;
	const char *args[4];
	int64		id = 0;
	bool		isnull;

	args[0] = c->project_vpc_id;
	args[1] = c->subscription_id;
	args[2] = c->resource_group;
	args[3] = c->vnet_name;
	catalog_enter(&scope);
	catalog_exec("SELECT id FROM peering.connections"
				 " WHERE project_vpc_id = $1::uuid AND subscription_id = $2::uuid"
				 "   AND lower(resource_group) = lower($3) AND lower(vnet_name) = lower($4)"
				 "   AND step <> 'deleted'",
				 4, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		id = DatumGetInt64(spi_binary(0, "id", &isnull));
	catalog_leave(&scope);
	return id;
}

int64
catalog_insert(PeeringConn *c)
{
	CatalogScope scope;
	const char *args[64];
	int			n = 0;
	bool		isnull;
	StringInfoData cols;
	StringInfoData vals;

	initStringInfo(&cols);
	initStringInfo(&vals);
#define CONN_INSERT(name, type) \
	if (c->name != NULL) \
	{ \
		args[n++] = c->name; \
		appendStringInfo(&cols, "%s%s", n > 1 ? ", " : "", #name); \
		appendStringInfo(&vals, "%s$%d::%s", n > 1 ? ", " : "", n, type); \
	}
	CONN_SPEC_COLUMNS(CONN_INSERT)
	CONN_LEARNED_COLUMNS(CONN_INSERT)
#undef CONN_INSERT

	catalog_enter(&scope);
	catalog_exec(psprintf("INSERT INTO peering.connections (%s) VALUES (%s) RETURNING id",
						  cols.data, vals.data),
				 n, args, SPI_OK_INSERT_RETURNING);
	c->id = DatumGetInt64(spi_binary(0, "id", &isnull));
	record_user_change(c->id, "created", "peering requested");
	catalog_leave(&scope);
	return c->id;
}

void
catalog_rearm(int64 id, const char *desired, const char *step,
			  const char *kind, const char *message)
{
	CatalogScope scope;
	const char *args[3];

	args[0] = psprintf(INT64_FORMAT, id);
	args[1] = desired;
	args[2] = step;
	catalog_enter(&scope);
	catalog_exec("UPDATE peering.connections"
				 "   SET desired = $2, failed = false, attempts = 0,"
				 "       last_error = NULL, last_error_code = NULL,"
				 "       retry_class = NULL, retry_since = NULL, retry_until = NULL,"
				 "       step_since = CASE WHEN step = $3 THEN step_since ELSE now() END,"
				 "       step = $3, next_attempt_at = now(),"
				 "       generation = generation + 1, updated_at = now()"
				 " WHERE id = $1::bigint",
				 3, args, SPI_OK_UPDATE);
	record_user_change(id, kind, message);
	catalog_leave(&scope);
}

/*
 * Appends an event with the row's current step and states and sends the
 * NOTIFY, for changes made by the SQL entry points.  Inside catalog scope.
 */
static void
record_user_change(int64 id, const char *kind, const char *message)
{
	const char *args[3];

	args[0] = psprintf(INT64_FORMAT, id);
	args[1] = kind;
	args[2] = message;
	catalog_exec("INSERT INTO peering.events (connection_id, kind, step, state,"
				 "   azure_peering_state, message)"
				 " SELECT id, $2, step, state, azure_peering_state, $3"
				 "   FROM peering.connections WHERE id = $1::bigint",
				 3, args, SPI_OK_INSERT);
	notify_change(id);
}

Datum
catalog_row_datum(int64 id)
{
	CatalogScope scope;
	const char *args[1];
	Datum		result;

	args[0] = psprintf(INT64_FORMAT, id);
	catalog_enter(&scope);
	catalog_exec("SELECT * FROM peering.connections WHERE id = $1::bigint",
				 1, args, SPI_OK_SELECT);
	if (SPI_processed == 0)
		elog(ERROR, "peering connection " INT64_FORMAT " vanished", id);
	result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	catalog_leave(&scope);
	return result;
}

/* Was the row inserted by the current transaction (not yet committed)? */
bool
catalog_created_here(int64 id)
{
	CatalogScope scope;
	const char *args[1];
	bool		isnull;
	bool		mine = false;

	args[0] = psprintf(INT64_FORMAT, id);
	catalog_enter(&scope);
	catalog_exec("SELECT xmin FROM peering.connections WHERE id = $1::bigint",
				 1, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		mine = TransactionIdIsCurrentTransactionId(
												   DatumGetTransactionId(spi_binary(0, "xmin", &isnull)));
	catalog_leave(&scope);
	return mine;
}

void
catalog_set_credential(const Credential *cred)
{
	CatalogScope scope;

	catalog_enter(&scope);
	upsert_credential(cred, false);
	catalog_leave(&scope);
}

/* Drops a user credential; raises if a live connection uses it. */
bool
catalog_drop_credential(const char *name)
{
	CatalogScope scope;
	const char *args[1];
	bool		isnull;
	bool		dropped;

	args[0] = name;
	catalog_enter(&scope);
	catalog_exec("SELECT id FROM peering.connections"
				 " WHERE step <> 'deleted' AND $1 IN (azure_credential, aiven_credential)"
				 " LIMIT 1",
				 1, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("credential \"%s\" is used by peering connection " INT64_FORMAT,
						name, DatumGetInt64(spi_binary(0, "id", &isnull))),
				 errhint("Delete the connection with peering_delete() first, and wait until its step is \"deleted\".")));
	catalog_exec("DELETE FROM peering.credentials WHERE name = $1 AND NOT internal",
				 1, args, SPI_OK_DELETE);
	dropped = SPI_processed > 0;
	catalog_leave(&scope);
	return dropped;
}
