/*
 * rest.h
 *		REST plumbing shared by the remote API modules (aiven.c, graph.c,
 *		arm.c).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_REST_H
#define PEERING_REST_H

#include "http.h"

/*
 * Kept free of jansson types so that this header stays includable next to
 * utils/builtins.h.
 */
struct json_t;

extern char *rest_base_url(const char *setting);

extern HttpRequest *rest_request(RemoteService service, const char *method,
								 const char *url, const char *scheme,
								 const char *token, const char *body);

extern bool rest_ok(const HttpResponse *resp);

extern struct json_t *rest_json(RemoteService service, const char *operation,
								const HttpResponse *resp);

/* Makes the caller's structure of a 2xx answer, or raises. */
typedef void *(*RestParse) (const HttpResponse *resp, const char *operation);

extern void *rest_parse_shared(const HttpResponse *resp, const char *operation,
							   RestParse parse);

extern void rest_unexpected(RemoteService service, const char *operation,
							const HttpResponse *resp, const char *reason)
			pg_attribute_noreturn();

extern char *rest_body(struct json_t *value);

extern char *rest_odata_string(const char *value);

#endif							/* PEERING_REST_H */
