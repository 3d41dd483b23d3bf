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

#include "nodes/pg_list.h"

extern bool peering_is_uuid(const char *s);

extern char *peering_uuid_v5(const char *name);

extern ErrorData *peering_catch_error(MemoryContext cxt);

extern bool peering_str_eq(const char *a, const char *b);

extern bool peering_str_same(const char *a, const char *b);
extern bool peering_string_list_member(const List *list, const char *s);
extern bool peering_string_lists_same(const List *a, const List *b);
extern bool peering_networks_overlap(const char *a, const char *b);
extern bool peering_network_within(const char *inner, const char *outer);
extern char *peering_string_list_text(const List *list);

extern int	peering_name_index(const char *const *names, int count, const char *name);

extern char *peering_lower(const char *s);

/* Azure name rules (docs/remote-apis.md §5) */
extern const char *azure_resource_group_problem(const char *name);
extern const char *azure_vnet_name_problem(const char *name);
extern const char *azure_peering_name_problem(const char *name);

#endif							/* PEERING_UTIL_H */
