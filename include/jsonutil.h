/*
 * jsonutil.h
 *		jansson helpers.  jansson allocates through palloc (set up in
 *		jsonutil_init), so a thrown ERROR leaks nothing and json_dumps()
 *		output is pfree'd, not free'd.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Never include utils/builtins.h next to this header, and never call
 * jansson's object constructor (json_object): the postgres binary exports
 * a function of that name (docs/architecture.md §10).  Build objects with
 * json_pack().
 */
#ifndef PEERING_JSONUTIL_H
#define PEERING_JSONUTIL_H

#include <jansson.h>
#include "http.h"

extern void jsonutil_init(void);

extern MemoryContext jsonutil_use_context(MemoryContext cxt);

extern json_t *json_parse_body(const HttpResponse *resp);

extern char *json_get_text(json_t *root, const char *path);

extern bool json_get_string_list(json_t *value, List **list);

extern char *json_to_text(json_t *value);

#endif							/* PEERING_JSONUTIL_H */
