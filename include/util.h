/*
 * util.h
 *		Small helpers: UUIDs (deterministic v5 names for Azure objects) and
 *		Azure/Aiven name rules.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_UTIL_H
#define PEERING_UTIL_H

/* 8-4-4-4-12 hex digits */
extern bool peering_is_uuid(const char *s);

/*
 * UUIDv5 (RFC 4122, SHA-1 via PostgreSQL's cryptohash) of name in the
 * peering namespace; palloc'd, lower case.
 */
extern char *peering_uuid_v5(const char *name);

/*
 * Inside PG_CATCH: the error as data, in cxt, and cleared.  Query cancels
 * and shutdowns are thrown on: they belong to the caller.
 */
extern ErrorData *peering_catch_error(MemoryContext cxt);

/* Equal strings, neither NULL. */
extern bool peering_str_eq(const char *a, const char *b);

/* Equal strings, or both NULL. */
extern bool peering_str_same(const char *a, const char *b);

/* The index of name in a name table of an enum, or -1 (name may be NULL). */
extern int	peering_name_index(const char *const *names, int count, const char *name);

/* Lower-cased copy (ASCII), palloc'd. */
extern char *peering_lower(const char *s);

/*
 * Azure name rules (docs/remote-apis.md §5).  Each returns NULL when the
 * name is valid, else a sentence saying what is wrong.
 */
extern const char *azure_resource_group_problem(const char *name);
extern const char *azure_vnet_name_problem(const char *name);
extern const char *azure_peering_name_problem(const char *name);

#endif							/* PEERING_UTIL_H */
