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

/* A URL setting without one trailing '/', palloc'd. */
extern char *rest_base_url(const char *setting);

/* A request carrying "Authorization: <scheme> <token>"; body may be NULL. */
extern HttpRequest *rest_request(RemoteService service, const char *method,
								 const char *url, const char *scheme,
								 const char *token, const char *body);

/* Is the status 2xx? */
extern bool rest_ok(const HttpResponse *resp);

/*
 * The body of a 2xx response as a JSON object (a new reference), or ERROR
 * "<operation>: unexpected response from <service>".
 */
extern struct json_t *rest_json(RemoteService service, const char *operation,
								const HttpResponse *resp);

/* Makes the caller's structure of a 2xx answer, or raises. */
typedef void *(*RestParse) (const HttpResponse *resp, const char *operation);

/*
 * parse(resp, operation) of an answer that many connections read (a VNet's
 * peerings, a project VPC): made once and kept with the response, in its
 * memory context, for every later reader.  The result is shared: read it,
 * never change it.  Not for answers that carry secrets.
 */
extern void *rest_parse_shared(const HttpResponse *resp, const char *operation,
							   RestParse parse);

/*
 * That ERROR (SQLSTATE 22P02), for a 2xx answer lacking what was expected:
 * reason is a short constant phrase and the body is never quoted.  resp may
 * be NULL.  remote_last_error() reports it as a transient failure.
 */
extern void rest_unexpected(RemoteService service, const char *operation,
							const HttpResponse *resp, const char *reason)
			pg_attribute_noreturn();

/* Serialises a json_pack() result (consumed) or raises if packing failed. */
extern char *rest_body(struct json_t *value);

/* An OData string literal's content: single quotes doubled (not escaped). */
extern char *rest_odata_string(const char *value);

#endif							/* PEERING_REST_H */
