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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "peering.h"
#include "util.h"

typedef struct CatalogScope
{
	MemoryContext caller_cxt;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CatalogScope;

/* ----------------------------------------------------------------
 * Query parameters and results in their SQL types
 *
 * A value goes to SPI as a Datum of its column's type and comes back with
 * SPI_getbinval, so that no SQL text casts and no text round trips are
 * needed.  The kinds of value PeeringConn holds (CONN_CTYPE_* in
 * catalog.h) are converted in one place: field_to_datum and
 * field_from_datum.
 * ---------------------------------------------------------------- */

typedef enum ColumnKind
{
	COLUMN_TEXT,
	COLUMN_UUID,
	COLUMN_CIDR,
	COLUMN_CIDR_ARRAY,
	COLUMN_OPT_BOOL,
	COLUMN_BOOL,
	COLUMN_INT4,
	COLUMN_TIMESTAMPTZ
} ColumnKind;

/*
 * The SQL type of each kind; for kinds held as C strings, the input and
 * output functions of the type (of its elements, for an array).
 */
typedef struct KindInfo
{
	Oid			type;
	PGFunction	in;
	PGFunction	out;
} KindInfo;

static const KindInfo kinds[] = {
	[COLUMN_TEXT] = {TEXTOID, textin, textout},
	[COLUMN_UUID] = {UUIDOID, uuid_in, uuid_out},
	[COLUMN_CIDR] = {CIDROID, cidr_in, cidr_out},
	[COLUMN_CIDR_ARRAY] = {CIDRARRAYOID, cidr_in, cidr_out},
	[COLUMN_OPT_BOOL] = {BOOLOID},
	[COLUMN_BOOL] = {BOOLOID},
	[COLUMN_INT4] = {INT4OID},
	[COLUMN_TIMESTAMPTZ] = {TIMESTAMPTZOID},
};

/* The groups of columns of catalog.h: what catalog_save writes when. */
typedef enum ColumnGroup
{
	SPEC_COLUMN,
	LEARNED_COLUMN,
	PROGRESS_COLUMN
} ColumnGroup;

/* A column of peering.connections and where PeeringConn holds it. */
typedef struct ConnColumn
{
	const char *name;
	ColumnKind	kind;
	ColumnGroup group;
	size_t		offset;			/* of the field in PeeringConn */
} ConnColumn;

#define SPEC(name, kind) {#name, COLUMN_##kind, SPEC_COLUMN, offsetof(PeeringConn, name)},
#define LEARNED(name, kind) {#name, COLUMN_##kind, LEARNED_COLUMN, offsetof(PeeringConn, name)},
#define PROGRESS(name, kind) {#name, COLUMN_##kind, PROGRESS_COLUMN, offsetof(PeeringConn, name)},
static const ConnColumn conn_columns[] = {
	CONN_SPEC_COLUMNS(SPEC)
	CONN_LEARNED_COLUMNS(LEARNED)
	CONN_PROGRESS_COLUMNS(PROGRESS)
};
#undef SPEC
#undef LEARNED
#undef PROGRESS

#define foreach_conn_column(col) \
	for (const ConnColumn *col = conn_columns; col < conn_columns + lengthof(conn_columns); col++)

static void *
column_field(const ConnColumn *col, const PeeringConn *c)
{
	return (char *) c + col->offset;
}

/* What the remote side says of the peering now, as opposed to ids learned. */
static bool
column_is_observation(const ConnColumn *col)
{
	return strcmp(col->name, "state") == 0 ||
		strcmp(col->name, "state_message") == 0 ||
		strcmp(col->name, "azure_peering_state") == 0;
}

/*
 * A cidr[] of a list of prefixes in text form.  (construct_array_builtin()
 * does not know cidr.)
 */
static Datum
cidr_array_datum(const List *cidrs)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(cidrs));
	int			n = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ListCell   *lc;

	foreach(lc, cidrs)
		elems[n++] = DirectFunctionCall1(cidr_in, CStringGetDatum(lfirst(lc)));
	get_typlenbyvalalign(CIDROID, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, CIDROID, typlen, typbyval, typalign));
}

static List *
cidr_array_list(Datum array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	List	   *cidrs = NIL;

	get_typlenbyvalalign(CIDROID, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(array), CIDROID, typlen, typbyval, typalign,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i])			/* none: cidr_array_datum writes none */
			cidrs = lappend(cidrs, DatumGetCString(DirectFunctionCall1(cidr_out, elems[i])));
	}
	return cidrs;
}

/* The value of a field of kind, as a Datum of its SQL type. */
static Datum
field_to_datum(ColumnKind kind, const void *field, bool *isnull)
{
	*isnull = false;
	switch (kind)
	{
		case COLUMN_TEXT:
		case COLUMN_UUID:
		case COLUMN_CIDR:
			{
				const char *s = *(char *const *) field;

				*isnull = s == NULL;
				return s ? DirectFunctionCall1(kinds[kind].in, CStringGetDatum(s)) : (Datum) 0;
			}
		case COLUMN_CIDR_ARRAY:
			{
				const List *cidrs = *(List *const *) field;

				*isnull = cidrs == NIL;
				return cidrs ? cidr_array_datum(cidrs) : (Datum) 0;
			}
		case COLUMN_OPT_BOOL:
			*isnull = *(const ConnBool *) field == CONN_BOOL_NULL;
			return BoolGetDatum(*(const ConnBool *) field == CONN_BOOL_TRUE);
		case COLUMN_BOOL:
			return BoolGetDatum(*(const bool *) field);
		case COLUMN_INT4:
			return Int32GetDatum(*(const int32 *) field);
		case COLUMN_TIMESTAMPTZ:
			*isnull = *(const TimestampTz *) field == 0;
			return TimestampTzGetDatum(*(const TimestampTz *) field);
	}
	pg_unreachable();
}

/* Sets a field of kind from a Datum, allocating in the current context. */
static void
field_from_datum(ColumnKind kind, void *field, Datum value, bool isnull)
{
	switch (kind)
	{
		case COLUMN_TEXT:
		case COLUMN_UUID:
		case COLUMN_CIDR:
			*(char **) field = isnull ? NULL :
				DatumGetCString(DirectFunctionCall1(kinds[kind].out, value));
			break;
		case COLUMN_CIDR_ARRAY:
			*(List **) field = isnull ? NIL : cidr_array_list(value);
			break;
		case COLUMN_OPT_BOOL:
			*(ConnBool *) field = isnull ? CONN_BOOL_NULL :
				DatumGetBool(value) ? CONN_BOOL_TRUE : CONN_BOOL_FALSE;
			break;
		case COLUMN_BOOL:
			*(bool *) field = !isnull && DatumGetBool(value);
			break;
		case COLUMN_INT4:
			*(int32 *) field = isnull ? 0 : DatumGetInt32(value);
			break;
		case COLUMN_TIMESTAMPTZ:
			*(TimestampTz *) field = isnull ? 0 : DatumGetTimestampTz(value);
			break;
	}
}

static bool
string_lists_equal(const List *a, const List *b)
{
	ListCell   *la;
	ListCell   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
	{
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
			return false;
	}
	return true;
}

static bool
fields_equal(ColumnKind kind, const void *a, const void *b)
{
	switch (kind)
	{
		case COLUMN_TEXT:
		case COLUMN_UUID:
		case COLUMN_CIDR:
			return peering_str_same(*(char *const *) a, *(char *const *) b);
		case COLUMN_CIDR_ARRAY:
			return string_lists_equal(*(List *const *) a, *(List *const *) b);
		case COLUMN_OPT_BOOL:
			return *(const ConnBool *) a == *(const ConnBool *) b;
		case COLUMN_BOOL:
			return *(const bool *) a == *(const bool *) b;
		case COLUMN_INT4:
			return *(const int32 *) a == *(const int32 *) b;
		case COLUMN_TIMESTAMPTZ:
			return *(const TimestampTz *) a == *(const TimestampTz *) b;
	}
	pg_unreachable();
}

static char *
copy_or_null(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/* Replaces what a field of kind points to by a copy. */
static void
field_copy_deep(ColumnKind kind, void *field)
{
	switch (kind)
	{
		case COLUMN_TEXT:
		case COLUMN_UUID:
		case COLUMN_CIDR:
			*(char **) field = copy_or_null(*(char **) field);
			break;
		case COLUMN_CIDR_ARRAY:
			{
				List	   *copy = NIL;
				ListCell   *lc;

				foreach(lc, *(List **) field)
					copy = lappend(copy, pstrdup(lfirst(lc)));
				*(List **) field = copy;
				break;
			}
		default:
			break;				/* held by value */
	}
}

/* The parameters $1, $2, ... of a query. */
#define MAX_QUERY_ARGS 64

typedef struct QueryArgs
{
	int			n;
	Oid			types[MAX_QUERY_ARGS];
	Datum		values[MAX_QUERY_ARGS];
	char		nulls[MAX_QUERY_ARGS + 1];
} QueryArgs;

/* Appends a parameter; returns its number, for $n in the query. */
static int
add_arg(QueryArgs *args, Oid type, Datum value, bool isnull)
{
	if (args->n >= MAX_QUERY_ARGS)
		elog(ERROR, "too many query parameters");
	args->types[args->n] = type;
	args->values[args->n] = value;
	args->nulls[args->n] = isnull ? 'n' : ' ';
	args->nulls[++args->n] = '\0';
	return args->n;
}

/* Appends a field of kind as a parameter. */
static int
arg_field(QueryArgs *args, ColumnKind kind, const void *field)
{
	bool		isnull;
	Datum		value = field_to_datum(kind, field, &isnull);

	return add_arg(args, kinds[kind].type, value, isnull);
}

static int
arg_column(QueryArgs *args, const ConnColumn *col, const PeeringConn *c)
{
	return arg_field(args, col->kind, column_field(col, c));
}

static int
arg_int8(QueryArgs *args, int64 value)
{
	return add_arg(args, INT8OID, Int64GetDatum(value), false);
}

static int
arg_int4(QueryArgs *args, int32 value)
{
	return arg_field(args, COLUMN_INT4, &value);
}

static int
arg_bool(QueryArgs *args, bool value)
{
	return arg_field(args, COLUMN_BOOL, &value);
}

/* NULL pointers are SQL NULLs. */
static int
arg_text(QueryArgs *args, const char *value)
{
	return arg_field(args, COLUMN_TEXT, &value);
}

static int
arg_uuid(QueryArgs *args, const char *value)
{
	return arg_field(args, COLUMN_UUID, &value);
}

static int
arg_timestamptz(QueryArgs *args, TimestampTz value)
{
	return arg_field(args, COLUMN_TIMESTAMPTZ, &value);
}

/*
 * Saved plans of the statements run here, by their text and argument types,
 * as ri_triggers.c keeps its own: the worker runs the same few dozen
 * statements for every row (a save's text depends only on which columns
 * changed), and parsing and planning them each time cost more than running
 * them.  Past MAX_SAVED_PLANS statements are run unsaved.
 */
#define MAX_SAVED_PLANS 256

typedef struct SavedPlan
{
	char	   *key;			/* the text, then the argument types */
	SPIPlanPtr	plan;
} SavedPlan;

static HTAB *saved_plans = NULL;

static uint32
saved_plan_hash(const void *key, Size keysize)
{
	const char *text = *(const char *const *) key;

	return hash_bytes((const unsigned char *) text, strlen(text));
}

static int
saved_plan_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/* The saved plan of sql with those argument types, made on first use. */
static SPIPlanPtr
saved_plan(const char *sql, int nargs, Oid *types)
{
	StringInfoData key;
	const char *keyp;
	SavedPlan  *entry;
	bool		found;
	int			i;

	if (saved_plans == NULL)
	{
		HASHCTL		ctl = {0};

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(SavedPlan);
		ctl.hash = saved_plan_hash;
		ctl.match = saved_plan_match;
		ctl.hcxt = CacheMemoryContext;
		saved_plans = hash_create("peering saved plans", 64, &ctl,
								  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	initStringInfo(&key);
	appendStringInfoString(&key, sql);
	for (i = 0; i < nargs; i++)
		appendStringInfo(&key, "%c%u", i == 0 ? '\n' : ',', types[i]);
	keyp = key.data;
	entry = hash_search(saved_plans, &keyp, HASH_FIND, NULL);
	if (entry == NULL && hash_get_num_entries(saved_plans) < MAX_SAVED_PLANS)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed (%d): %s", SPI_result, sql);
		SPI_keepplan(plan);
		keyp = MemoryContextStrdup(CacheMemoryContext, key.data);
		entry = hash_search(saved_plans, &keyp, HASH_ENTER, &found);
		entry->plan = plan;
	}
	pfree(key.data);
	return entry ? entry->plan : NULL;
}

/*
 * Runs sql with args (NULL for none).  Returns SPI's result code after
 * checking it is the expected one.
 */
static int
catalog_exec(const char *sql, QueryArgs *args, int expected)
{
	static QueryArgs none = {0};
	SPIPlanPtr	plan;
	int			rc;

	if (args == NULL)
		args = &none;
	plan = saved_plan(sql, args->n, args->types);
	if (plan != NULL)
		rc = SPI_execute_plan(plan, args->values, args->nulls, false, 0);
	else
		rc = SPI_execute_with_args(sql, args->n, args->types, args->values,
								   args->nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "SPI_execute failed (%d): %s", rc, sql);
	return rc;
}

/* The binary value of a column of SPI_tuptable row. */
static Datum
result_datum(int row, const char *column, bool *isnull)
{
	int			fno = SPI_fnumber(SPI_tuptable->tupdesc, column);

	if (fno <= 0)
		elog(ERROR, "column \"%s\" missing from query result", column);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, fno, isnull);
}

/* Sets a field of kind from a column of SPI_tuptable row, allocating in cxt. */
static void
result_field(int row, const char *column, ColumnKind kind, void *field,
			 MemoryContext cxt)
{
	bool		isnull;
	Datum		value = result_datum(row, column, &isnull);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	field_from_datum(kind, field, value, isnull);
	MemoryContextSwitchTo(old);
}

static int64
result_int8(int row, const char *column)
{
	bool		isnull;
	Datum		value = result_datum(row, column, &isnull);

	return isnull ? 0 : DatumGetInt64(value);
}

/* ----------------------------------------------------------------
 * Catalog scope: the extension owner, a fixed search_path, SPI
 * ---------------------------------------------------------------- */

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

/*
 * Fixes search_path to pg_catalog (pg_temp last) until AtEOXact_GUC() of the
 * GUC nest level returned: a schema that the caller, or the database owner
 * through ALTER DATABASE, put first cannot supply the operators, functions
 * or types of our statements.  An error in between is undone by the
 * transaction's abort.
 */
static int
pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

/* The installed version of the extension, palloc'd; NULL if not installed. */
char *
catalog_installed_version(void)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *version = NULL;
	int			nestlevel = pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension"
					" WHERE extname OPERATOR(pg_catalog.=) 'peering'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed reading pg_extension");
	if (SPI_processed > 0)
		result_field(0, "extversion", COLUMN_TEXT, &version, caller);
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
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
 * Enters SPI as the owner, search_path pinned before the first query (the
 * version check's too).  An ERROR before catalog_leave() is cleaned up by
 * transaction abort, which restores the user and the GUC nest level.
 */
static void
catalog_enter(CatalogScope *scope)
{
	Oid			owner = catalog_owner();

	scope->caller_cxt = CurrentMemoryContext;
	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	SetUserIdAndSecContext(owner,
						   scope->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	scope->save_nestlevel = pin_search_path();
	catalog_require_version();
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

/* ----------------------------------------------------------------
 * Connections in memory
 * ---------------------------------------------------------------- */

/* Builds a PeeringConn from row i of SPI_tuptable (a SELECT * of connections). */
static PeeringConn *
conn_from_row(int row, MemoryContext cxt)
{
	PeeringConn *c = MemoryContextAllocZero(cxt, sizeof(PeeringConn));

	c->id = result_int8(row, "id");
	result_field(row, "generation", COLUMN_INT4, &c->generation, cxt);
	foreach_conn_column(col)
		result_field(row, col->name, col->kind, column_field(col, c), cxt);
	return c;
}

PeeringConn *
conn_copy(const PeeringConn *src)
{
	PeeringConn *c = palloc(sizeof(PeeringConn));

	memcpy(c, src, sizeof(PeeringConn));
	foreach_conn_column(col)
		field_copy_deep(col->kind, column_field(col, c));
	c->attempt.new_app_secret = NULL;
	c->attempt.drop_app_secret = false;
	c->attempt.events = NIL;
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
	c->attempt.events = lappend(c->attempt.events, e);
}

int
catalog_claim_lease_ms(void)
{
	return Max(peering_http_timeout, 1000) * 20;
}

/* Automatic repairs of a connection within peering.transient_retry_budget. */
int
catalog_count_recent_repairs(int64 id)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	int32		n;

	arg_int8(&args, id);
	arg_int4(&args, peering_transient_retry_budget);
	catalog_enter(&scope);
	catalog_exec("SELECT count(*)::integer AS n FROM peering.events"
				 " WHERE connection_id = $1 AND kind = 'repair'"
				 "   AND at > now() - $2 * interval '1 s'",
				 &args, SPI_OK_SELECT);
	result_field(0, "n", COLUMN_INT4, &n, CurrentMemoryContext);
	catalog_leave(&scope);
	return n;
}

/*
 * The shared objects other live connections of c's subscription (and VNet)
 * recorded, so that c's steps reuse them instead of writing them again.
 */
void
catalog_find_shared_objects(PeeringConn *c)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	SharedObjects *k = &c->attempt.known;

	memset(k, 0, sizeof(SharedObjects));
	if (c->tenant_id == NULL || c->vnet_id == NULL)
		return;
	arg_int8(&args, c->id);
	arg_uuid(&args, c->subscription_id);
	arg_text(&args, c->vnet_id);
	catalog_enter(&scope);
	catalog_exec("WITH siblings AS ("
				 "  SELECT * FROM peering.connections"
				 "   WHERE id <> $1 AND subscription_id = $2 AND desired = 'present'"
				 "     AND NOT failed AND step <> 'deleted')"
				 " SELECT a.app_role_id, a.app_role_owned, p.peer_role_id, p.peer_role_owned,"
				 "        s.provider_sp_id, v.peer_role_assignment_id"
				 "   FROM (SELECT 1) one"
				 "   LEFT JOIN LATERAL (SELECT app_role_id, app_role_owned FROM siblings"
				 "     WHERE app_role = 'custom' AND app_role_owned IS NOT NULL LIMIT 1) a ON true"
				 "   LEFT JOIN LATERAL (SELECT peer_role_id, peer_role_owned FROM siblings"
				 "     WHERE peer_role_owned IS NOT NULL LIMIT 1) p ON true"
				 "   LEFT JOIN LATERAL (SELECT provider_sp_id FROM siblings"
				 "     WHERE provider_sp_id IS NOT NULL LIMIT 1) s ON true"
				 "   LEFT JOIN LATERAL (SELECT peer_role_assignment_id FROM siblings"
				 "     WHERE lower(vnet_id) = lower($3) AND peer_role_assignment_id IS NOT NULL"
				 "     LIMIT 1) v ON true",
				 &args, SPI_OK_SELECT);
	result_field(0, "app_role_id", COLUMN_UUID, &k->app_role_id, scope.caller_cxt);
	result_field(0, "app_role_owned", COLUMN_OPT_BOOL, &k->app_role_owned, scope.caller_cxt);
	result_field(0, "peer_role_id", COLUMN_UUID, &k->peer_role_id, scope.caller_cxt);
	result_field(0, "peer_role_owned", COLUMN_OPT_BOOL, &k->peer_role_owned, scope.caller_cxt);
	result_field(0, "provider_sp_id", COLUMN_UUID, &k->provider_sp_id, scope.caller_cxt);
	result_field(0, "peer_role_assignment_id", COLUMN_UUID, &k->peer_role_assignment_id,
				 scope.caller_cxt);
	catalog_leave(&scope);
}

List *
catalog_claim_due(int limit)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	List	   *result = NIL;
	uint64		i;

	arg_int4(&args, limit);
	arg_int4(&args, catalog_claim_lease_ms());
	catalog_enter(&scope);
	catalog_exec("UPDATE peering.connections c"
				 "   SET claimed_by = pg_backend_pid(),"
				 "       claimed_until = now() + $2 * interval '1 ms'"
				 " WHERE c.id IN ("
				 "   SELECT d.id FROM peering.connections d"
				 "    WHERE NOT d.failed AND d.step <> 'deleted'"
				 "      AND d.next_attempt_at <= clock_timestamp()"
				 "      AND (d.claimed_by IS NULL OR d.claimed_until < now()"
				 "           OR d.claimed_by = pg_backend_pid()"
				 "           OR NOT EXISTS (SELECT FROM pg_stat_activity a"
				 "                          WHERE a.pid = d.claimed_by))"
				 "    ORDER BY d.next_attempt_at, d.project_vpc_id, d.vnet_id"
				 "    LIMIT $1"
				 "    FOR UPDATE SKIP LOCKED)"
				 " RETURNING c.*",
				 &args, SPI_OK_UPDATE_RETURNING);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scope.caller_cxt);

		result = lappend(result, conn_from_row(i, scope.caller_cxt));
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);
	return result;
}

PeeringConn *
catalog_load(int64 id, bool lock)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	PeeringConn *c = NULL;

	arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec(lock ?
				 "SELECT * FROM peering.connections WHERE id = $1 FOR UPDATE" :
				 "SELECT * FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		c = conn_from_row(0, scope.caller_cxt);
	catalog_leave(&scope);
	return c;
}

Credential *
catalog_get_credential(const char *name, bool missing_ok)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	Credential *cred = NULL;

	arg_text(&args, name);
	catalog_enter(&scope);
	catalog_exec("SELECT name, kind, tenant_id, client_id, secret_file, secret"
				 "  FROM peering.credentials WHERE name = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		MemoryContext cxt = scope.caller_cxt;

		cred = MemoryContextAllocZero(cxt, sizeof(Credential));
		result_field(0, "name", COLUMN_TEXT, &cred->name, cxt);
		result_field(0, "kind", COLUMN_TEXT, &cred->kind, cxt);
		result_field(0, "tenant_id", COLUMN_UUID, &cred->tenant_id, cxt);
		result_field(0, "client_id", COLUMN_UUID, &cred->client_id, cxt);
		result_field(0, "secret_file", COLUMN_TEXT, &cred->secret_file, cxt);
		result_field(0, "secret", COLUMN_TEXT, &cred->secret, cxt);
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
	c->attempt.azure_cred = shared_credential(c->azure_credential, cache);
	c->attempt.aiven_cred = shared_credential(c->aiven_credential, cache);
	/* the peering application's own secret, or the user's application's */
	if (c->app_credential != NULL)
		c->attempt.app_cred = shared_credential(c->app_credential, cache);
	else if (c->app_secret_key_id != NULL)
	{
		/* stored and dropped in the same save as app_secret_key_id */
		c->attempt.app_cred = catalog_get_credential(psprintf(APP_CREDENTIAL_FMT, c->id), true);
	}
	else
		c->attempt.app_cred = NULL;
}

char *
catalog_progress(int64 id)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	char	   *line = NULL;

	arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec("SELECT format('step %s of %s (%s), state %s, waiting for %s',"
				 "              step_number, steps, step, coalesce(state, 'none'),"
				 "              waiting_for) AS line"
				 "  FROM peering.progress WHERE id = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		result_field(0, "line", COLUMN_TEXT, &line, scope.caller_cxt);
	catalog_leave(&scope);
	return line;
}

void
catalog_lock_credentials(const PeeringConn *c)
{
	CatalogScope scope;
	QueryArgs	args = {0};

	arg_text(&args, c->azure_credential);
	arg_text(&args, c->aiven_credential);
	arg_text(&args, c->app_credential);
	catalog_enter(&scope);
	catalog_exec("SELECT FROM peering.credentials WHERE name IN ($1, $2, $3) FOR KEY SHARE",
				 &args, SPI_OK_SELECT);
	catalog_leave(&scope);
}

bool
catalog_used_elsewhere(int64 id, const char *column, const char *value)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	bool		used;

	if (value == NULL)
		return false;
	arg_int8(&args, id);
	arg_uuid(&args, value);
	catalog_enter(&scope);
	/* column is one of ours, never user input */
	catalog_exec(psprintf("SELECT FROM peering.connections"
						  " WHERE id <> $1 AND desired = 'present' AND step <> 'deleted'"
						  "   AND %s = $2 LIMIT 1", column),
				 &args, SPI_OK_SELECT);
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
				 " WHERE NOT failed AND step <> 'deleted'"
				 "   AND (claimed_by IS NULL OR claimed_by = pg_backend_pid()"
				 "        OR claimed_until < now())",
				 NULL, SPI_OK_SELECT);
	result_field(0, "due", COLUMN_TIMESTAMPTZ, &due, CurrentMemoryContext);
	catalog_leave(&scope);
	return due;
}

/* Inserts or replaces a credential; inside catalog scope. */
static void
upsert_credential(const Credential *cred, bool internal)
{
	QueryArgs	args = {0};

	arg_text(&args, cred->name);
	arg_text(&args, cred->kind);
	arg_uuid(&args, cred->tenant_id);
	arg_uuid(&args, cred->client_id);
	arg_text(&args, cred->secret_file);
	arg_text(&args, cred->secret);
	arg_bool(&args, internal);
	catalog_exec("INSERT INTO peering.credentials"
				 "   (name, kind, tenant_id, client_id, secret_file, secret, internal)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7)"
				 " ON CONFLICT (name) DO UPDATE"
				 "   SET kind = excluded.kind, tenant_id = excluded.tenant_id,"
				 "       client_id = excluded.client_id, secret_file = excluded.secret_file,"
				 "       secret = excluded.secret, internal = excluded.internal,"
				 "       updated_at = now()",
				 &args, SPI_OK_INSERT);
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
	cred.secret = c->attempt.new_app_secret;
	upsert_credential(&cred, true);
}

static void
insert_event(const PeeringConn *c, const PeeringEvent *e)
{
	QueryArgs	args = {0};

	arg_int8(&args, c->id);
	arg_text(&args, e->kind);
	arg_text(&args, e->step);
	arg_text(&args, c->state);
	arg_text(&args, c->azure_peering_state);
	arg_text(&args, e->message);
	arg_text(&args, e->error_code);
	arg_text(&args, e->request_id);
	catalog_exec("INSERT INTO peering.events (connection_id, kind, step, state,"
				 "   azure_peering_state, message, error_code, request_id)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				 &args, SPI_OK_INSERT);
}

static void
notify_change(int64 id)
{
	QueryArgs	args = {0};

	arg_int8(&args, id);
	catalog_exec("SELECT pg_notify('" PEERING_NOTIFY_CHANNEL "',"
				 " json_build_object('id', id, 'state', state, 'step', step,"
				 "   'azure_peering_state', azure_peering_state, 'failed', failed)::text)"
				 "  FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_SELECT);
}

/* Appends ", column = $n" to an UPDATE, and the column of c to its args. */
static void
set_column(StringInfo sql, QueryArgs *args, const ConnColumn *col, const PeeringConn *c)
{
	appendStringInfo(sql, ", %s = $%d", col->name, arg_column(args, col, c));
}

bool
catalog_save(PeeringConn *before, PeeringConn *after, bool progress, bool keep_claim)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	int32		generation;
	int32		claimed_by;
	TimestampTz checked_at;
	bool		fresher;
	bool		current;
	StringInfoData sql;
	ListCell   *lc;

	arg_int8(&args, after->id);
	arg_int4(&args, catalog_claim_lease_ms());
	catalog_enter(&scope);

	/* never wait on a row a user's open transaction holds: try later */
	catalog_exec("SELECT generation, coalesce(claimed_by, 0) AS claimed_by, checked_at"
				 "  FROM peering.connections WHERE id = $1 FOR UPDATE NOWAIT",
				 &args, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		catalog_leave(&scope);
		return false;
	}
	result_field(0, "generation", COLUMN_INT4, &generation, CurrentMemoryContext);
	result_field(0, "claimed_by", COLUMN_INT4, &claimed_by, CurrentMemoryContext);
	result_field(0, "checked_at", COLUMN_TIMESTAMPTZ, &checked_at, CurrentMemoryContext);

	/*
	 * What the remote side says is written only if it was seen after what
	 * the row already holds: a refresh that read before the worker's newer
	 * look does not undo it.
	 */
	fresher = !after->attempt.checked || after->attempt.observed_at >= checked_at;

	/*
	 * Progress is written only by the driver that holds the claim, and only
	 * if the user did not re-arm the row meanwhile: a late save never undoes
	 * newer progress.
	 */
	current = progress && generation == after->generation &&
		(claimed_by == MyProcPid || claimed_by == 0);

	/*
	 * Only what this driver changed is written: a concurrent driver's or
	 * user's changes to other columns survive.
	 */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE peering.connections SET updated_at = now()");
	if (keep_claim && current)
		appendStringInfoString(&sql, ", claimed_until = now() + $2 * interval '1 ms'");
	else
		appendStringInfoString(&sql,
							   ", claimed_by = CASE WHEN claimed_by = pg_backend_pid()"
							   " THEN NULL ELSE claimed_by END,"
							   " claimed_until = CASE WHEN claimed_by = pg_backend_pid()"
							   " THEN NULL ELSE claimed_until END");
	foreach_conn_column(col)
	{
		bool		changed = !fields_equal(col->kind, column_field(col, before),
											column_field(col, after));

		if ((col->group == LEARNED_COLUMN && changed &&
			 (fresher || !column_is_observation(col))) ||
			(col->group == PROGRESS_COLUMN && current))
			set_column(&sql, &args, col, after);
	}
	if (after->attempt.checked && fresher)
	{
		arg_timestamptz(&args, after->attempt.observed_at);
		appendStringInfo(&sql, ", checked_at = $%d", args.n);
	}
	appendStringInfoString(&sql, " WHERE id = $1");
	catalog_exec(sql.data, &args, SPI_OK_UPDATE);

	if (after->attempt.new_app_secret)
	{
		store_app_secret(after);
		explicit_bzero(after->attempt.new_app_secret, strlen(after->attempt.new_app_secret));
	}
	if (after->attempt.drop_app_secret)
	{
		QueryArgs	name = {0};

		arg_text(&name, psprintf(APP_CREDENTIAL_FMT, after->id));
		catalog_exec("DELETE FROM peering.credentials WHERE name = $1 AND internal",
					 &name, SPI_OK_DELETE);
	}

	if (!peering_str_same(before->state, after->state) ||
		!peering_str_same(before->azure_peering_state, after->azure_peering_state))
		conn_event(after, "state",
				   psprintf("Aiven state %s, Azure peering %s",
							after->state ? after->state : "none",
							after->azure_peering_state ? after->azure_peering_state : "none"),
				   NULL, NULL);
	foreach(lc, after->attempt.events)
		insert_event(after, lfirst(lc));

	if (!peering_str_same(before->state, after->state) ||
		!peering_str_same(before->azure_peering_state, after->azure_peering_state) ||
		(current && (!peering_str_same(before->step, after->step) ||
					 before->failed != after->failed)))
		notify_change(after->id);

	catalog_leave(&scope);
	return current;
}

void
catalog_record_save_failure(int64 id, const char *message)
{
	CatalogScope scope;
	QueryArgs	args = {0};

	arg_int8(&args, id);
	arg_text(&args, psprintf("could not save the result of the last step: %s (hint: fix the cause, then call peering_retry(" INT64_FORMAT "))",
							 message, id));
	catalog_enter(&scope);
	catalog_exec("UPDATE peering.connections"
				 "   SET failed = true, last_error = $2, last_error_code = 'XX000',"
				 "       next_attempt_at = NULL, updated_at = now(),"
				 "       claimed_by = NULL, claimed_until = NULL"
				 " WHERE id = $1",
				 &args, SPI_OK_UPDATE);
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
	QueryArgs	args = {0};
	int64		id = 0;

	arg_uuid(&args, c->project_vpc_id);
	arg_uuid(&args, c->subscription_id);
	arg_text(&args, c->resource_group);
	arg_text(&args, c->vnet_name);
	catalog_enter(&scope);
	catalog_exec("SELECT id FROM peering.connections"
				 " WHERE project_vpc_id = $1 AND subscription_id = $2"
				 "   AND lower(resource_group) = lower($3) AND lower(vnet_name) = lower($4)"
				 "   AND step <> 'deleted'",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		id = result_int8(0, "id");
	catalog_leave(&scope);
	return id;
}

/* Inserts the spec and what was learned so far (NULLs take the defaults). */
int64
catalog_insert(PeeringConn *c)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	StringInfoData cols;
	StringInfoData vals;

	initStringInfo(&cols);
	initStringInfo(&vals);
	foreach_conn_column(col)
	{
		bool		isnull;
		Datum		value;
		int			n;

		/* an adopted peering starts at a later step */
		value = field_to_datum(col->kind, column_field(col, c), &isnull);
		if (isnull)
			continue;			/* the column's default */
		n = add_arg(&args, kinds[col->kind].type, value, false);
		appendStringInfo(&cols, "%s%s", n > 1 ? ", " : "", col->name);
		appendStringInfo(&vals, "%s$%d", n > 1 ? ", " : "", n);
	}

	catalog_enter(&scope);
	catalog_exec(psprintf("INSERT INTO peering.connections (%s) VALUES (%s) RETURNING id",
						  cols.data, vals.data),
				 &args, SPI_OK_INSERT_RETURNING);
	c->id = result_int8(0, "id");
	record_user_change(c->id, "created", "peering requested");
	catalog_leave(&scope);
	return c->id;
}

void
catalog_rearm(int64 id, const char *desired, const char *step,
			  const char *kind, const char *message)
{
	CatalogScope scope;
	QueryArgs	args = {0};

	arg_int8(&args, id);
	arg_text(&args, desired);
	arg_text(&args, step);
	catalog_enter(&scope);
	catalog_exec("UPDATE peering.connections"
				 "   SET desired = $2, failed = false, attempts = 0,"
				 "       last_error = NULL, last_error_code = NULL,"
				 "       retry_class = NULL, retry_since = NULL, retry_until = NULL,"
				 "       step_since = CASE WHEN step = $3 AND NOT failed THEN step_since ELSE now() END,"
				 "       step = $3, next_attempt_at = now(),"
				 "       generation = generation + 1, updated_at = now()"
				 " WHERE id = $1",
				 &args, SPI_OK_UPDATE);
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
	QueryArgs	args = {0};

	arg_int8(&args, id);
	arg_text(&args, kind);
	arg_text(&args, message);
	catalog_exec("INSERT INTO peering.events (connection_id, kind, step, state,"
				 "   azure_peering_state, message)"
				 " SELECT id, $2, step, state, azure_peering_state, $3"
				 "   FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_INSERT);
	notify_change(id);
}

Datum
catalog_row_datum(int64 id)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	Datum		result;

	arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec("SELECT * FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_SELECT);
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
	QueryArgs	args = {0};
	bool		isnull;
	bool		mine = false;

	arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec("SELECT xmin FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		mine = TransactionIdIsCurrentTransactionId(
												   DatumGetTransactionId(result_datum(0, "xmin", &isnull)));
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
	QueryArgs	args = {0};
	bool		dropped;

	arg_text(&args, name);
	catalog_enter(&scope);
	catalog_exec("SELECT id FROM peering.connections"
				 " WHERE step <> 'deleted' AND $1 IN (azure_credential, aiven_credential)"
				 " LIMIT 1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("credential \"%s\" is used by peering connection " INT64_FORMAT,
						name, result_int8(0, "id")),
				 errhint("Delete the connection with peering_delete() first, and wait until its step is \"deleted\".")));
	catalog_exec("DELETE FROM peering.credentials WHERE name = $1 AND NOT internal",
				 &args, SPI_OK_DELETE);
	dropped = SPI_processed > 0;
	catalog_leave(&scope);
	return dropped;
}
