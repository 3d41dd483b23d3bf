/*
 * catalog_spi.c
 *		The typed SPI layer under the catalog: values go to SPI as Datums of
 *		their columns' types and come back with SPI_getbinval; statements
 *		keep their plans; every query runs as the extension owner with the
 *		search_path pinned.  Also the step column's names, which the step
 *		layer registers.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "storage/proc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog_spi.h"
#include "peering.h"
#include "util.h"

/* ----------------------------------------------------------------
 * Query parameters and results in their SQL types
 *
 * A value goes to SPI as a Datum of its column's type and comes back with
 * SPI_getbinval, so that no SQL text casts and no text round trips are
 * needed.  The kinds of value PeeringConn holds (CONN_CTYPE_* in
 * catalog.h) are converted in one place: spi_field_to_datum and
 * spi_field_from_datum.
 * ---------------------------------------------------------------- */


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
	[COLUMN_CIDR_LIST] = {CIDRARRAYOID, cidr_in, cidr_out},
	[COLUMN_TEXT_ARRAY] = {TEXTARRAYOID, textin, textout},
	[COLUMN_OPT_BOOL] = {BOOLOID},
	[COLUMN_BOOL] = {BOOLOID},
	[COLUMN_INT4] = {INT4OID},
	[COLUMN_TIMESTAMPTZ] = {TIMESTAMPTZOID},
	[COLUMN_DESIRED] = {TEXTOID},
	[COLUMN_APP_ROLE] = {TEXTOID},
	[COLUMN_STEP] = {TEXTOID},
};

/*
 * An array of the element type of kind (cidr or text) of a list of values
 * in text form.  (construct_array_builtin() does not know cidr.)
 */
static Datum
string_array_datum(ColumnKind kind, const List *items)
{
	Oid			elemtype = get_element_type(kinds[kind].type);
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(items), 1));
	int			n = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ListCell   *lc;

	foreach(lc, items)
		elems[n++] = DirectFunctionCall1(kinds[kind].in, CStringGetDatum(lfirst(lc)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, elemtype, typlen, typbyval, typalign));
}

static List *
string_array_list(ColumnKind kind, Datum array)
{
	Oid			elemtype = get_element_type(kinds[kind].type);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	List	   *items = NIL;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(array), elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i])			/* none: string_array_datum writes none */
			items = lappend(items, DatumGetCString(DirectFunctionCall1(kinds[kind].out, elems[i])));
	}
	return items;
}

/* The step names the step layer registered (catalog_register_steps()). */
static const char *const *step_names = NULL;
static int	step_count = 0;

/*
 * Registers the names of the step column's values, in the order of their
 * enum: the step layer's table (step_table.c) registers them at load, so
 * that the catalog converts the column without knowing the steps.  names
 * must live as long as the process.
 */
void
catalog_register_steps(const char *const *names, int count)
{
	step_names = names;
	step_count = count;
}

/*
 * The name of a step, as registered by catalog_register_steps(); raises
 * for an unknown one.
 */
const char *
catalog_step_name(int step)
{
	if (step < 0 || step >= step_count)
		elog(ERROR, "peering step %d is unknown", step);
	return step_names[step];
}

/* The step of a name in the step column; raises for an unknown one. */
static int
step_by_name_registered(const char *name)
{
	int			step = peering_name_index(step_names, step_count, name);

	if (step < 0)
		elog(ERROR, "unknown peering step \"%s\"", name ? name : "(null)");
	return step;
}

/*
 * The value of a field of kind, as a Datum of its SQL type, allocated in
 * the current context; *isnull for the kind's NULL (NULL, NIL,
 * CONN_BOOL_NULL or 0).
 */
Datum
spi_field_to_datum(ColumnKind kind, const void *field, bool *isnull)
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
				return cidrs ? string_array_datum(kind, cidrs) : (Datum) 0;
			}
		case COLUMN_CIDR_LIST:
			return string_array_datum(kind, *(List *const *) field);
		case COLUMN_TEXT_ARRAY:
			{
				const ConnTextArray *a = field;

				*isnull = !a->known;
				return a->known ? string_array_datum(kind, a->items) : (Datum) 0;
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
		case COLUMN_DESIRED:
			return CStringGetTextDatum(conn_desired_name(*(const ConnDesired *) field));
		case COLUMN_APP_ROLE:
			return CStringGetTextDatum(app_role_name(*(const AppRole *) field));
		case COLUMN_STEP:
			return CStringGetTextDatum(catalog_step_name(*(const int *) field));
	}
	pg_unreachable();
}

/*
 * A uuid in its text form, in 37 bytes: uuid_out() builds it in a 1 kB
 * StringInfo, which a claim of thousands of rows, each with a dozen ids,
 * would keep.
 */
static char *
uuid_text(Datum value)
{
	static const char hex[] = "0123456789abcdef";
	const pg_uuid_t *uuid = DatumGetUUIDP(value);
	char	   *text = palloc(2 * UUID_LEN + 5);
	char	   *p = text;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0F];
	}
	*p = '\0';
	return text;
}

/* Sets a field of kind from a Datum, allocating in the current context. */
void
spi_field_from_datum(ColumnKind kind, void *field, Datum value, bool isnull)
{
	switch (kind)
	{
		case COLUMN_UUID:
			*(char **) field = isnull ? NULL : uuid_text(value);
			break;
		case COLUMN_TEXT:
		case COLUMN_CIDR:
			*(char **) field = isnull ? NULL :
				DatumGetCString(DirectFunctionCall1(kinds[kind].out, value));
			break;
		case COLUMN_CIDR_ARRAY:
		case COLUMN_CIDR_LIST:
			*(List **) field = isnull ? NIL : string_array_list(kind, value);
			break;
		case COLUMN_TEXT_ARRAY:
			((ConnTextArray *) field)->known = !isnull;
			((ConnTextArray *) field)->items = isnull ? NIL : string_array_list(kind, value);
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
		case COLUMN_DESIRED:
			/* the column's CHECK admits only the two */
			*(ConnDesired *) field = !isnull &&
				strcmp(TextDatumGetCString(value), conn_desired_name(DESIRED_ABSENT)) == 0 ?
				DESIRED_ABSENT : DESIRED_PRESENT;
			break;
		case COLUMN_APP_ROLE:
			if (isnull || !app_role_by_name(TextDatumGetCString(value), (AppRole *) field))
				elog(ERROR, "peering.connections.app_role holds an unknown role");
			break;
		case COLUMN_STEP:
			*(int *) field = step_by_name_registered(isnull ? NULL : TextDatumGetCString(value));
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

/* Do two fields of kind hold the same value (both NULL included)? */
bool
spi_fields_equal(ColumnKind kind, const void *a, const void *b)
{
	switch (kind)
	{
		case COLUMN_TEXT:
		case COLUMN_UUID:
		case COLUMN_CIDR:
			return peering_str_same(*(char *const *) a, *(char *const *) b);
		case COLUMN_CIDR_ARRAY:
		case COLUMN_CIDR_LIST:
			return string_lists_equal(*(List *const *) a, *(List *const *) b);
		case COLUMN_TEXT_ARRAY:
			return ((const ConnTextArray *) a)->known == ((const ConnTextArray *) b)->known &&
				string_lists_equal(((const ConnTextArray *) a)->items,
								   ((const ConnTextArray *) b)->items);
		case COLUMN_OPT_BOOL:
			return *(const ConnBool *) a == *(const ConnBool *) b;
		case COLUMN_BOOL:
			return *(const bool *) a == *(const bool *) b;
		case COLUMN_INT4:
			return *(const int32 *) a == *(const int32 *) b;
		case COLUMN_TIMESTAMPTZ:
			return *(const TimestampTz *) a == *(const TimestampTz *) b;
		case COLUMN_DESIRED:
			return *(const ConnDesired *) a == *(const ConnDesired *) b;
		case COLUMN_APP_ROLE:
			return *(const AppRole *) a == *(const AppRole *) b;
		case COLUMN_STEP:
			return *(const int *) a == *(const int *) b;
	}
	pg_unreachable();
}

/* A copy of a list of strings in the current context. */
static List *
string_list_copy(const List *items)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, items)
		copy = lappend(copy, pstrdup(lfirst(lc)));
	return copy;
}

/* A palloc'd copy of s, or NULL. */
char *
spi_copy_or_null(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/*
 * Replaces what a field of kind points to by a copy in the current
 * context; fields held by value are left as they are.
 */
void
spi_field_copy_deep(ColumnKind kind, void *field)
{
	switch (kind)
	{
		case COLUMN_TEXT:
		case COLUMN_UUID:
		case COLUMN_CIDR:
			*(char **) field = spi_copy_or_null(*(char **) field);
			break;
		case COLUMN_CIDR_ARRAY:
		case COLUMN_CIDR_LIST:
			*(List **) field = string_list_copy(*(List **) field);
			break;
		case COLUMN_TEXT_ARRAY:
			((ConnTextArray *) field)->items =
				string_list_copy(((ConnTextArray *) field)->items);
			break;
		default:
			break;				/* held by value */
	}
}


/* Appends a parameter; returns its number, for $n in the query. */
static int
spi_add_arg(QueryArgs *args, Oid type, Datum value, bool isnull)
{
	if (args->n >= MAX_QUERY_ARGS)
		elog(ERROR, "too many query parameters");
	args->types[args->n] = type;
	args->values[args->n] = value;
	args->nulls[args->n] = isnull ? 'n' : ' ';
	args->nulls[++args->n] = '\0';
	return args->n;
}

/*
 * Appends a field of kind as a parameter, a SQL NULL for the kind's NULL;
 * returns its number, for $n in the query.  The spi_arg_* functions below
 * do the same for plain C values.
 */
int
spi_arg_field(QueryArgs *args, ColumnKind kind, const void *field)
{
	bool		isnull;
	Datum		value = spi_field_to_datum(kind, field, &isnull);

	return spi_add_arg(args, kinds[kind].type, value, isnull);
}

/*
 * Appends a one-dimensional array of n elements of elemtype (nulls may be
 * NULL for none) as a parameter; returns its number.
 */
int
spi_arg_array(QueryArgs *args, Oid elemtype, Datum *elems, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return spi_add_arg(args, get_array_type(elemtype),
					   PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elemtype,
														  typlen, typbyval, typalign)),
					   false);
}

int
spi_arg_int8(QueryArgs *args, int64 value)
{
	return spi_add_arg(args, INT8OID, Int64GetDatum(value), false);
}

int
spi_arg_int4(QueryArgs *args, int32 value)
{
	return spi_arg_field(args, COLUMN_INT4, &value);
}

int
spi_arg_bool(QueryArgs *args, bool value)
{
	return spi_arg_field(args, COLUMN_BOOL, &value);
}

/* NULL pointers are SQL NULLs, here and in spi_arg_uuid(). */
int
spi_arg_text(QueryArgs *args, const char *value)
{
	return spi_arg_field(args, COLUMN_TEXT, &value);
}

int
spi_arg_uuid(QueryArgs *args, const char *value)
{
	return spi_arg_field(args, COLUMN_UUID, &value);
}

int
spi_arg_timestamptz(QueryArgs *args, TimestampTz value)
{
	return spi_arg_field(args, COLUMN_TIMESTAMPTZ, &value);
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
 * Runs sql with args (NULL for none) through its saved plan, inside
 * catalog scope.  Returns SPI's result code after checking it is the
 * expected one; raises otherwise.
 */
int
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

/*
 * The number of a column of SPI_tuptable, for spi_result_field_at(); raises
 * if the result has no such column.
 */
int
spi_result_column(const char *column)
{
	int			fno = SPI_fnumber(SPI_tuptable->tupdesc, column);

	if (fno <= 0)
		elog(ERROR, "column \"%s\" missing from query result", column);
	return fno;
}

/* The binary value of a column of SPI_tuptable row; raises if there is none. */
Datum
spi_result_datum(int row, const char *column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 spi_result_column(column), isnull);
}

/* Sets a field of kind from a column of SPI_tuptable row, allocating in cxt. */
void
spi_result_field(int row, const char *column, ColumnKind kind, void *field,
			 MemoryContext cxt)
{
	spi_result_field_at(row, spi_result_column(column), kind, field, cxt);
}

/*
 * spi_result_field() by column number: a row loader looks each column up
 * once per result, not once per row.
 */
void
spi_result_field_at(int row, int fno, ColumnKind kind, void *field, MemoryContext cxt)
{
	bool		isnull;
	Datum		value = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									  fno, &isnull);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	spi_field_from_datum(kind, field, value, isnull);
	MemoryContextSwitchTo(old);
}

/* An int8 column of SPI_tuptable row; 0 for NULL. */
int64
spi_result_int8(int row, const char *column)
{
	bool		isnull;
	Datum		value = spi_result_datum(row, column, &isnull);

	return isnull ? 0 : DatumGetInt64(value);
}

/* ----------------------------------------------------------------
 * Catalog scope: the extension owner, a fixed search_path, SPI
 * ---------------------------------------------------------------- */

/*
 * Oid of the extension owner (the owner of peering.connections), for
 * running catalog SPI as that role.  Raises when the extension is not
 * installed.
 */
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

/*
 * The installed version of the extension, palloc'd; NULL if not installed.
 * Read from pg_extension by its name index, not by a query: every
 * transaction that touches the tables asks, and planning a query each time
 * cost more than the answer.
 */
char *
catalog_installed_version(void)
{
	char	   *version = NULL;
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("peering"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(value);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
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
 * version check's too), and remembers the caller's memory context in scope
 * for results that must outlive SPI.  Raises when the installed extension
 * is of another version than the library.  An ERROR before catalog_leave()
 * is cleaned up by transaction abort, which restores the user and the GUC
 * nest level.
 */
void
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

/* Leaves SPI and restores the caller's search_path and user. */
void
catalog_leave(CatalogScope *scope)
{
	SPI_finish();
	AtEOXact_GUC(true, scope->save_nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}
