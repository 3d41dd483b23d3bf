/*
 * catalog_spi.h
 *		The typed SPI layer under the catalog: values in their SQL types,
 *		query parameters, saved plans, and the scope every query runs in
 *		(the extension owner, a pinned search_path).  For the catalog's
 *		own files only (catalog.c, catalog_credentials.c).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_CATALOG_SPI_H
#define PEERING_CATALOG_SPI_H

#include "catalog.h"

typedef struct CatalogScope
{
	MemoryContext caller_cxt;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CatalogScope;

/* The kinds of value PeeringConn holds, each with its SQL type. */
typedef enum ColumnKind
{
	COLUMN_TEXT,
	COLUMN_UUID,
	COLUMN_CIDR,
	COLUMN_CIDR_ARRAY,			/* NULL when NIL */
	COLUMN_CIDR_LIST,			/* cidr[] NOT NULL: '{}' when NIL */
	COLUMN_TEXT_ARRAY,			/* text[], ConnTextArray in C */
	COLUMN_OPT_BOOL,
	COLUMN_BOOL,
	COLUMN_INT4,
	COLUMN_TIMESTAMPTZ,
	COLUMN_DESIRED,				/* text, ConnDesired in C */
	COLUMN_APP_ROLE,			/* text, AppRole in C */
	COLUMN_STEP					/* text, a PeeringStep in C */
} ColumnKind;

/* The parameters $1, $2, ... of a query. */
#define MAX_QUERY_ARGS 64

typedef struct QueryArgs
{
	int			n;
	Oid			types[MAX_QUERY_ARGS];
	Datum		values[MAX_QUERY_ARGS];
	char		nulls[MAX_QUERY_ARGS + 1];
} QueryArgs;

extern Datum spi_field_to_datum(ColumnKind kind, const void *field, bool *isnull);
extern void spi_field_from_datum(ColumnKind kind, void *field, Datum value, bool isnull);
extern bool spi_fields_equal(ColumnKind kind, const void *a, const void *b);
extern void spi_field_copy_deep(ColumnKind kind, void *field);
extern char *spi_copy_or_null(const char *s);
extern int	spi_arg_field(QueryArgs *args, ColumnKind kind, const void *field);
extern int	spi_arg_array(QueryArgs *args, Oid elemtype, Datum *elems, bool *nulls, int n);
extern int	spi_arg_int8(QueryArgs *args, int64 value);
extern int	spi_arg_int4(QueryArgs *args, int32 value);
extern int	spi_arg_bool(QueryArgs *args, bool value);
extern int	spi_arg_text(QueryArgs *args, const char *value);
extern int	spi_arg_uuid(QueryArgs *args, const char *value);
extern int	spi_arg_timestamptz(QueryArgs *args, TimestampTz value);
extern int	catalog_exec(const char *sql, QueryArgs *args, int expected);
extern int	spi_result_column(const char *column);
extern Datum spi_result_datum(int row, const char *column, bool *isnull);
extern void spi_result_field(int row, const char *column, ColumnKind kind, void *field,
			 MemoryContext cxt);
extern void spi_result_field_at(int row, int fno, ColumnKind kind, void *field,
								MemoryContext cxt);
extern int64 spi_result_int8(int row, const char *column);
extern void catalog_enter(CatalogScope *scope);
extern void catalog_leave(CatalogScope *scope);

extern void catalog_store_app_secret(const PeeringConn *c);

extern const char *catalog_step_name(int step);

#endif							/* PEERING_CATALOG_SPI_H */
