/*
 * catalog.c
 *		The connections and their events: the row model of
 *		peering.connections (catalog.h's columns), claims, saves, events and
 *		NOTIFY.  It knows nothing of the steps.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Every query runs through catalog_spi.c: as the extension's owner with
 * search_path fixed to pg_catalog, so that peering_run() (which may not be
 * SECURITY DEFINER, because it commits) and the SECURITY DEFINER functions
 * see the same tables, and a caller's search_path cannot redirect an
 * operator.  Credentials are catalog_credentials.c's.
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

#include "catalog_spi.h"
#include "peering.h"
#include "util.h"

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

static int
spi_arg_column(QueryArgs *args, const ConnColumn *col, const PeeringConn *c)
{
	return spi_arg_field(args, col->kind, column_field(col, c));
}

/* ----------------------------------------------------------------
 * Connections in memory
 * ---------------------------------------------------------------- */

/* Where SPI_tuptable (a SELECT * of connections) holds each column. */
typedef struct ConnRowColumns
{
	int			id;
	int			generation;
	int			columns[lengthof(conn_columns)];
} ConnRowColumns;

static void
conn_row_columns(ConnRowColumns *fnos)
{
	fnos->id = spi_result_column("id");
	fnos->generation = spi_result_column("generation");
	foreach_conn_column(col)
		fnos->columns[col - conn_columns] = spi_result_column(col->name);
}

/*
 * Builds a PeeringConn in cxt from row of SPI_tuptable, whose columns fnos
 * locates.
 */
static PeeringConn *
conn_from_row(int row, const ConnRowColumns *fnos, MemoryContext cxt)
{
	PeeringConn *c = MemoryContextAllocZero(cxt, sizeof(PeeringConn));
	bool		isnull;

	c->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
										fnos->id, &isnull));
	spi_result_field_at(row, fnos->generation, COLUMN_INT4, &c->generation, cxt);
	foreach_conn_column(col)
		spi_result_field_at(row, fnos->columns[col - conn_columns], col->kind,
							column_field(col, c), cxt);
	return c;
}

/*
 * A copy of a connection, for before/after: its columns deep-copied, the
 * attempt's inputs (credentials included) shared, and the secret change
 * and events it queued left out, so that each is saved once.
 */
PeeringConn *
conn_copy(const PeeringConn *src)
{
	PeeringConn *c = palloc(sizeof(PeeringConn));

	memcpy(c, src, sizeof(PeeringConn));
	foreach_conn_column(col)
		spi_field_copy_deep(col->kind, column_field(col, c));
	c->attempt.new_app_secret = NULL;
	c->attempt.drop_app_secret = false;
	c->attempt.events = NIL;
	return c;
}


/* "present" or "absent", as peering.connections.desired holds them. */
const char *
conn_desired_name(ConnDesired desired)
{
	return desired == DESIRED_ABSENT ? "absent" : "present";
}

static const char *const app_role_names[] = {
	[APP_ROLE_CUSTOM] = "custom",
	[APP_ROLE_NETWORK_CONTRIBUTOR] = "network_contributor",
};

/*
 * "custom" or "network_contributor", as peering.connections.app_role holds
 * them.
 */
const char *
app_role_name(AppRole role)
{
	Assert(role >= 0 && role < (int) lengthof(app_role_names));
	return app_role_names[role];
}

/* The app role of that SQL name; false for no role. */
bool
app_role_by_name(const char *name, AppRole *role)
{
	int			i = peering_name_index(app_role_names, lengthof(app_role_names), name);

	if (i >= 0)
		*role = (AppRole) i;
	return i >= 0;
}

/* The names of the event kinds, as peering.events.kind holds them. */
static const char *
event_kind_name(EventKind kind)
{
#define EVENT_KIND_NAME(ID, name) [EVENT_##ID] = #name,
	static const char *const names[EVENT_KINDS] = {EVENT_KIND_LIST(EVENT_KIND_NAME)};
#undef EVENT_KIND_NAME

	Assert(kind >= 0 && kind < EVENT_KINDS);
	return names[kind];
}

/*
 * Queues an event on c, at its current step, for catalog_save() to append;
 * the strings are copied.
 */
void
conn_event(PeeringConn *c, EventKind kind, const char *message,
		   const char *error_code, const char *request_id)
{
	PeeringEvent *e = palloc0(sizeof(PeeringEvent));

	e->kind = kind;
	e->step = c->step;
	e->message = spi_copy_or_null(message);
	e->error_code = spi_copy_or_null(error_code);
	e->request_id = spi_copy_or_null(request_id);
	c->attempt.events = lappend(c->attempt.events, e);
}

/*
 * How long a claim lasts, in milliseconds: many HTTP timeouts, so that a
 * live driver's claim does not lapse while its requests are out.
 */
int
catalog_claim_lease_ms(void)
{
	return Max(peering_http_timeout, 1000) * 20;
}

/*
 * The automatic repairs (repair events) of connection id within the last
 * peering.transient_retry_budget seconds.
 */
int
catalog_count_recent_repairs(int64 id)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	int32		n;

	spi_arg_int8(&args, id);
	spi_arg_int4(&args, peering_transient_retry_budget);
	spi_arg_text(&args, event_kind_name(EVENT_REPAIR));
	catalog_enter(&scope);
	catalog_exec("SELECT count(*)::integer AS n FROM peering.events"
				 " WHERE connection_id = $1 AND kind = $3"
				 "   AND at > now() - $2 * interval '1 s'",
				 &args, SPI_OK_SELECT);
	spi_result_field(0, "n", COLUMN_INT4, &n, CurrentMemoryContext);
	catalog_leave(&scope);
	return n;
}

/*
 * Fills c->attempt.known with the shared objects other live connections of
 * c's subscription (and, for the role assignment, its VNet) recorded, so
 * that c's steps reuse them instead of writing them again.  Nothing is
 * known before c has learned its tenant and VNet.
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
	spi_arg_int8(&args, c->id);
	spi_arg_uuid(&args, c->subscription_id);
	spi_arg_text(&args, c->vnet_id);
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
	spi_result_field(0, "app_role_id", COLUMN_UUID, &k->app_role_id, scope.caller_cxt);
	spi_result_field(0, "app_role_owned", COLUMN_OPT_BOOL, &k->app_role_owned, scope.caller_cxt);
	spi_result_field(0, "peer_role_id", COLUMN_UUID, &k->peer_role_id, scope.caller_cxt);
	spi_result_field(0, "peer_role_owned", COLUMN_OPT_BOOL, &k->peer_role_owned, scope.caller_cxt);
	spi_result_field(0, "provider_sp_id", COLUMN_UUID, &k->provider_sp_id, scope.caller_cxt);
	spi_result_field(0, "peer_role_assignment_id", COLUMN_UUID, &k->peer_role_assignment_id,
				 scope.caller_cxt);
	catalog_leave(&scope);
}

/*
 * Claims up to limit due connections for this process, a lease of
 * catalog_claim_lease_ms() that a later claim may take over once it lapses
 * or its process is gone.  Rows another transaction has locked are skipped,
 * not waited for.  Returns their ids, in the order they are best worked
 * through (due time, VNet, project VPC: neighbours share their reads, and
 * a VNet's list of peerings, the largest answer, is needed by the rows of
 * one stretch only), in an array palloc'd in the caller's context; *count
 * says how many.  The rows themselves are loaded by catalog_load_claimed(),
 * a batch at a time.
 */
int64 *
catalog_claim_due(int limit, int *count)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	int64	   *ids;

	spi_arg_int4(&args, limit);
	spi_arg_int4(&args, catalog_claim_lease_ms());
	catalog_enter(&scope);
	catalog_exec("WITH claimed AS ("
				 " UPDATE peering.connections c"
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
				 "    ORDER BY d.next_attempt_at, d.vnet_id, d.project_vpc_id"
				 "    LIMIT $1"
				 "    FOR UPDATE SKIP LOCKED)"
				 " RETURNING c.id, c.next_attempt_at, c.project_vpc_id, c.vnet_id)"
				 " SELECT id FROM claimed ORDER BY next_attempt_at, vnet_id, project_vpc_id",
				 &args, SPI_OK_SELECT);
	*count = (int) SPI_processed;
	ids = MemoryContextAlloc(scope.caller_cxt, sizeof(int64) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
		ids[i] = spi_result_int8(i, "id");
	catalog_leave(&scope);
	return ids;
}

/*
 * Loads the n connections of ids this process still holds claimed, in that
 * order, in the caller's memory context (a List of PeeringConn *).
 */
List *
catalog_load_claimed(const int64 *ids, int n)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	ConnRowColumns fnos;
	List	   *result = NIL;

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	spi_arg_array(&args, INT8OID, elems, NULL, n);
	catalog_enter(&scope);
	catalog_exec("SELECT c.* FROM unnest($1) WITH ORDINALITY AS u(id, n)"
				 "  JOIN peering.connections c ON c.id = u.id"
				 " WHERE c.claimed_by = pg_backend_pid()"
				 " ORDER BY u.n",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		conn_row_columns(&fnos);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(scope.caller_cxt);

		result = lappend(result, conn_from_row(i, &fnos, scope.caller_cxt));
		MemoryContextSwitchTo(old);
	}
	catalog_leave(&scope);
	return result;
}

/*
 * Loads one connection in the caller's memory context (with FOR UPDATE
 * when lock); NULL if none.
 */
PeeringConn *
catalog_load(int64 id, bool lock)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	PeeringConn *c = NULL;
	ConnRowColumns fnos;

	spi_arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec(lock ?
				 "SELECT * FROM peering.connections WHERE id = $1 FOR UPDATE" :
				 "SELECT * FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		conn_row_columns(&fnos);
		c = conn_from_row(0, &fnos, scope.caller_cxt);
	}
	catalog_leave(&scope);
	return c;
}

/* The connection's row of peering.progress as a sentence; NULL if not live. */
char *
catalog_progress(int64 id)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	char	   *line = NULL;

	spi_arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec("SELECT format('step %s of %s (%s), state %s, waiting for %s',"
				 "              step_number, steps, step, coalesce(state, 'none'),"
				 "              waiting_for) AS line"
				 "  FROM peering.progress WHERE id = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		spi_result_field(0, "line", COLUMN_TEXT, &line, scope.caller_cxt);
	catalog_leave(&scope);
	return line;
}

/*
 * Does a live connection other than id have value in this uuid column?
 * column is a name of ours, never user input.
 */
bool
catalog_used_elsewhere(int64 id, const char *column, const char *value)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	bool		used;

	if (value == NULL)
		return false;
	spi_arg_int8(&args, id);
	spi_arg_uuid(&args, value);
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

/*
 * The earliest next_attempt_at of a connection this process may claim (not
 * failed, not deleted, not claimed by another live lease), or 0 if none.
 */
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
	spi_result_field(0, "due", COLUMN_TIMESTAMPTZ, &due, CurrentMemoryContext);
	catalog_leave(&scope);
	return due;
}

static void
insert_event(const PeeringConn *c, const PeeringEvent *e)
{
	QueryArgs	args = {0};

	spi_arg_int8(&args, c->id);
	spi_arg_text(&args, event_kind_name(e->kind));
	spi_arg_text(&args, catalog_step_name(e->step));
	spi_arg_text(&args, c->state);
	spi_arg_text(&args, c->azure_peering_state);
	spi_arg_text(&args, e->message);
	spi_arg_text(&args, e->error_code);
	spi_arg_text(&args, e->request_id);
	catalog_exec("INSERT INTO peering.events (connection_id, kind, step, state,"
				 "   azure_peering_state, message, error_code, request_id)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				 &args, SPI_OK_INSERT);
}

static void
notify_change(int64 id)
{
	QueryArgs	args = {0};

	spi_arg_int8(&args, id);
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
	appendStringInfo(sql, ", %s = $%d", col->name, spi_arg_column(args, col, c));
}

/*
 * Writes back what changed from before to after: the learned columns always
 * (what the remote side says only if it was seen after what the row holds),
 * the progress (when asked) only if the generation is unchanged and no other
 * driver holds the claim; stores or drops the app secret; appends the
 * events, a state event included; sends NOTIFY on a change of step or
 * state.  Releases this process's claim, or extends it when keep_claim (the
 * next step follows at once).  Returns whether the progress was written
 * (false also when the row is gone).  Raises, without waiting, when the row
 * is locked.
 */
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

	spi_arg_int8(&args, after->id);
	spi_arg_int4(&args, catalog_claim_lease_ms());
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
	spi_result_field(0, "generation", COLUMN_INT4, &generation, CurrentMemoryContext);
	spi_result_field(0, "claimed_by", COLUMN_INT4, &claimed_by, CurrentMemoryContext);
	spi_result_field(0, "checked_at", COLUMN_TIMESTAMPTZ, &checked_at, CurrentMemoryContext);

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
		bool		changed = !spi_fields_equal(col->kind, column_field(col, before),
											column_field(col, after));

		if ((col->group == LEARNED_COLUMN && changed &&
			 (fresher || !column_is_observation(col))) ||
			(col->group == PROGRESS_COLUMN && current))
			set_column(&sql, &args, col, after);
	}
	if (after->attempt.checked && fresher)
	{
		spi_arg_timestamptz(&args, after->attempt.observed_at);
		appendStringInfo(&sql, ", checked_at = $%d", args.n);
	}
	appendStringInfoString(&sql, " WHERE id = $1");
	catalog_exec(sql.data, &args, SPI_OK_UPDATE);

	if (after->attempt.new_app_secret)
	{
		catalog_store_app_secret(after);
		explicit_bzero(after->attempt.new_app_secret, strlen(after->attempt.new_app_secret));
	}
	if (after->attempt.drop_app_secret)
	{
		QueryArgs	name = {0};

		spi_arg_text(&name, psprintf(APP_CREDENTIAL_FMT, after->id));
		catalog_exec("DELETE FROM peering.credentials WHERE name = $1 AND internal",
					 &name, SPI_OK_DELETE);
	}

	if (!peering_str_same(before->state, after->state) ||
		!peering_str_same(before->azure_peering_state, after->azure_peering_state))
		conn_event(after, EVENT_STATE,
				   psprintf("Aiven state %s, Azure peering %s",
							after->state ? after->state : "none",
							after->azure_peering_state ? after->azure_peering_state : "none"),
				   NULL, NULL);
	foreach(lc, after->attempt.events)
		insert_event(after, lfirst(lc));

	if (!peering_str_same(before->state, after->state) ||
		!peering_str_same(before->azure_peering_state, after->azure_peering_state) ||
		(current && (before->step != after->step ||
					 before->failed != after->failed)))
		notify_change(after->id);

	catalog_leave(&scope);
	return current;
}

/*
 * Did the attempt from before to after only look, and find nothing new:
 * every column the same but when the connection is due next, nothing
 * queued to append or store?  Then catalog_save_rechecks() saves it.
 */
bool
catalog_only_rechecked(const PeeringConn *before, const PeeringConn *after)
{
	if (after->attempt.events != NIL || after->attempt.new_app_secret != NULL ||
		after->attempt.drop_app_secret)
		return false;
	foreach_conn_column(col)
	{
		if (col->offset != offsetof(PeeringConn, next_attempt_at) &&
			!spi_fields_equal(col->kind, column_field(col, before), column_field(col, after)))
			return false;
	}
	return true;
}

/*
 * Saves n connections for which catalog_only_rechecked() holds, in one
 * statement, as catalog_save() would: checked_at where the look is newer
 * than the row's, next_attempt_at where the generation is unchanged since
 * the claim and no other driver holds it, and this process's claims
 * released.  A row a user's open transaction has locked is skipped, not
 * waited for: its result is dropped and it is taken again later.
 */
void
catalog_save_rechecks(PeeringConn *const *conns, int n)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *generations = palloc(sizeof(Datum) * n);
	Datum	   *due = palloc(sizeof(Datum) * n);
	bool	   *due_null = palloc(sizeof(bool) * n);
	Datum	   *checked = palloc(sizeof(Datum) * n);
	bool	   *checked_null = palloc(sizeof(bool) * n);

	for (int i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(conns[i]->id);
		generations[i] = Int32GetDatum(conns[i]->generation);
		due[i] = TimestampTzGetDatum(conns[i]->next_attempt_at);
		due_null[i] = conns[i]->next_attempt_at == 0;
		checked[i] = TimestampTzGetDatum(conns[i]->attempt.observed_at);
		checked_null[i] = !conns[i]->attempt.checked;
	}
	spi_arg_array(&args, INT8OID, ids, NULL, n);
	spi_arg_array(&args, INT4OID, generations, NULL, n);
	spi_arg_array(&args, TIMESTAMPTZOID, due, due_null, n);
	spi_arg_array(&args, TIMESTAMPTZOID, checked, checked_null, n);
	catalog_enter(&scope);
	catalog_exec("WITH u AS (SELECT * FROM unnest($1, $2, $3, $4)"
				 "             AS u(id, generation, next_attempt_at, checked_at)),"
				 " mine AS (SELECT c.id FROM peering.connections c JOIN u ON c.id = u.id"
				 "           FOR UPDATE OF c SKIP LOCKED)"
				 " UPDATE peering.connections c"
				 "   SET next_attempt_at = CASE WHEN c.generation = u.generation"
				 "         AND coalesce(c.claimed_by, pg_backend_pid()) = pg_backend_pid()"
				 "         THEN u.next_attempt_at ELSE c.next_attempt_at END,"
				 "       checked_at = CASE WHEN u.checked_at >= c.checked_at OR c.checked_at IS NULL"
				 "         THEN coalesce(u.checked_at, c.checked_at) ELSE c.checked_at END,"
				 "       claimed_by = CASE WHEN c.claimed_by = pg_backend_pid()"
				 "         THEN NULL ELSE c.claimed_by END,"
				 "       claimed_until = CASE WHEN c.claimed_by = pg_backend_pid()"
				 "         THEN NULL ELSE c.claimed_until END"
				 "  FROM u WHERE c.id = u.id AND c.id IN (SELECT id FROM mine)",
				 &args, SPI_OK_UPDATE);
	catalog_leave(&scope);
}

/*
 * Stops a connection whose result cannot be saved, with the reason, and
 * releases its claim; peering_retry() re-arms it.
 */
void
catalog_record_save_failure(int64 id, const char *message)
{
	CatalogScope scope;
	QueryArgs	args = {0};

	spi_arg_int8(&args, id);
	spi_arg_text(&args, psprintf("could not save the result of the last step: %s (hint: fix the cause, then call peering_retry(" INT64_FORMAT "))",
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

static void record_user_change(int64 id, EventKind kind, const char *message);

/*
 * Id of a connection not deleted (failed ones included) of the same
 * project VPC and VNet, names compared case-insensitively, or 0.
 */
int64
catalog_find_live(const PeeringConn *c)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	int64		id = 0;

	spi_arg_uuid(&args, c->project_vpc_id);
	spi_arg_uuid(&args, c->subscription_id);
	spi_arg_text(&args, c->resource_group);
	spi_arg_text(&args, c->vnet_name);
	catalog_enter(&scope);
	catalog_exec("SELECT id FROM peering.connections"
				 " WHERE project_vpc_id = $1 AND subscription_id = $2"
				 "   AND lower(resource_group) = lower($3) AND lower(vnet_name) = lower($4)"
				 "   AND step <> 'deleted'",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		id = spi_result_int8(0, "id");
	catalog_leave(&scope);
	return id;
}

/*
 * Inserts the spec and what was learned so far (NULLs take the column
 * defaults), sets c->id, and records the "created" event with its NOTIFY.
 * Returns the new id.
 */
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
		int			n;

		/* the step is never NULL: an adopted peering starts at a later one */
		(void) spi_field_to_datum(col->kind, column_field(col, c), &isnull);
		if (isnull)
			continue;			/* the column's default */
		n = spi_arg_column(&args, col, c);
		appendStringInfo(&cols, "%s%s", n > 1 ? ", " : "", col->name);
		appendStringInfo(&vals, "%s$%d", n > 1 ? ", " : "", n);
	}

	catalog_enter(&scope);
	catalog_exec(psprintf("INSERT INTO peering.connections (%s) VALUES (%s) RETURNING id",
						  cols.data, vals.data),
				 &args, SPI_OK_INSERT_RETURNING);
	c->id = spi_result_int8(0, "id");
	record_user_change(c->id, EVENT_CREATED, "peering requested");
	catalog_leave(&scope);
	return c->id;
}

/*
 * Re-arms connection id for the user (peering_retry(), peering_delete()):
 * the failure and the retry forgotten, desired and step set, due now.  The
 * generation moves on, so that a driver still running the old step cannot
 * save its progress over this.  Records the event kind with message and
 * sends NOTIFY.
 */
void
catalog_rearm(int64 id, ConnDesired desired, int step,
			  EventKind kind, const char *message)
{
	CatalogScope scope;
	QueryArgs	args = {0};

	spi_arg_int8(&args, id);
	spi_arg_text(&args, conn_desired_name(desired));
	spi_arg_text(&args, catalog_step_name(step));
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
 * Writes the spec columns peering_alter() changed from before to after and
 * re-arms the connection at step in the same UPDATE (as catalog_rearm(),
 * the generation moves on), and sends NOTIFY.  The worker records the
 * altered event once it applied the change.
 */
void
catalog_alter(const PeeringConn *before, const PeeringConn *after, int step)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	StringInfoData sql;

	spi_arg_int8(&args, after->id);
	spi_arg_text(&args, catalog_step_name(step));
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "UPDATE peering.connections"
						   "   SET failed = false, attempts = 0,"
						   "       last_error = NULL, last_error_code = NULL,"
						   "       retry_class = NULL, retry_since = NULL, retry_until = NULL,"
						   "       step_since = CASE WHEN step = $2 THEN step_since ELSE now() END,"
						   "       step = $2, next_attempt_at = now(),"
						   "       generation = generation + 1, updated_at = now()");
	foreach_conn_column(col)
	{
		if (col->group == SPEC_COLUMN &&
			!spi_fields_equal(col->kind, column_field(col, before), column_field(col, after)))
			set_column(&sql, &args, col, after);
	}
	appendStringInfoString(&sql, " WHERE id = $1");
	catalog_enter(&scope);
	catalog_exec(sql.data, &args, SPI_OK_UPDATE);
	notify_change(after->id);
	catalog_leave(&scope);
}

/*
 * Appends an event with the row's current step and states and sends the
 * NOTIFY, for changes made by the SQL entry points.  Inside catalog scope.
 */
static void
record_user_change(int64 id, EventKind kind, const char *message)
{
	QueryArgs	args = {0};

	spi_arg_int8(&args, id);
	spi_arg_text(&args, event_kind_name(kind));
	spi_arg_text(&args, message);
	catalog_exec("INSERT INTO peering.events (connection_id, kind, step, state,"
				 "   azure_peering_state, message)"
				 " SELECT id, $2, step, state, azure_peering_state, $3"
				 "   FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_INSERT);
	notify_change(id);
}

/*
 * The row of connection id as a composite Datum, for a SQL function's
 * result (SPI_returntuple() copies it out of SPI).  Raises if the row is
 * gone.
 */
Datum
catalog_row_datum(int64 id)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	Datum		result;

	spi_arg_int8(&args, id);
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

	spi_arg_int8(&args, id);
	catalog_enter(&scope);
	catalog_exec("SELECT xmin FROM peering.connections WHERE id = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		mine = TransactionIdIsCurrentTransactionId(
												   DatumGetTransactionId(spi_result_datum(0, "xmin", &isnull)));
	catalog_leave(&scope);
	return mine;
}
