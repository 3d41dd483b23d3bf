/*
 * http.h
 *		The HTTPS client: the only part of peering that talks to libcurl.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Every wait is interruptible (statement_timeout, pg_cancel_backend, SIGTERM,
 * postmaster death): curl state is freed before CHECK_FOR_INTERRUPTS() is
 * allowed to throw.  Remote failures are never thrown from here; they come
 * back in the HttpResponse for remote.c to classify.
 */
#ifndef PEERING_HTTP_H
#define PEERING_HTTP_H

#include "nodes/pg_list.h"

typedef struct HttpRequest
{
	const char *service;		/* "aiven", "graph", "arm" or "login" */
	const char *method;			/* GET, POST, PUT, PATCH, DELETE */
	const char *url;			/* absolute https URL */
	List	   *headers;		/* of char *, "Name: value" */
	const char *body;			/* NULL: no body */
	const char *content_type;	/* default "application/json" with a body */
	bool		no_retry;		/* one attempt only */
} HttpRequest;

/*
 * Why a request got no response (status 0).  Zero means "not classified",
 * which counts as a transient transport error.
 */
typedef enum HttpFailure
{
	HTTP_FAILURE_NONE = 0,		/* a response arrived, or not classified */
	HTTP_FAILURE_TIMEOUT,		/* peering.http_timeout expired: transient */
	HTTP_FAILURE_CONNECT,		/* DNS, refused, reset, TLS handshake: transient */
	HTTP_FAILURE_TLS,			/* certificate verification, CA file: permanent */
	HTTP_FAILURE_TOO_LARGE,		/* body over HTTP_MAX_RESPONSE_SIZE: permanent */
	HTTP_FAILURE_REQUEST,		/* bad URL, scheme not allowed: permanent */
	HTTP_FAILURE_INTERRUPTED	/* abandoned to serve an interrupt: transient */
} HttpFailure;

/* Response bodies larger than this are refused (HTTP_FAILURE_TOO_LARGE). */
#define HTTP_MAX_RESPONSE_SIZE	(16 * 1024 * 1024)

typedef struct HttpResponse
{
	long		status;			/* HTTP status; 0 when no response arrived */
	char	   *body;			/* NUL-terminated, never NULL */
	size_t		body_len;
	char	   *request_id;		/* x-ms-request-id / request-id, or NULL */
	char	   *location;		/* Location header, or NULL */
	char	   *async_operation;	/* Azure-AsyncOperation header, or NULL */
	int			retry_after;	/* Retry-After in seconds, -1 if absent */
	int			attempts;		/* tries made, the last included */
	char	   *error;			/* why no response arrived (status 0) */
	HttpFailure failure;		/* its class (status 0 only) */
} HttpResponse;

extern void http_init(void);

/*
 * Sends one request.  Transient failures (connection errors, timeouts, 5xx,
 * 429) are retried a bounded number of times: Retry-After is honoured for
 * 429/503, otherwise exponential backoff with jitter.  The final response is
 * returned whatever its status.
 */
extern HttpResponse *http_perform(const HttpRequest *req);

/*
 * Sends n requests in parallel (curl multi), at most max_parallel at once,
 * with the same retry rules per request; resps[i] answers reqs[i].
 */
extern void http_perform_many(HttpRequest **reqs, HttpResponse **resps,
							  int n, int max_parallel);

/*
 * Is this failure worth another try (transport error other than TLS, size or
 * a bad URL; 408, 429, 5xx)?  The one notion used both for retries in place
 * and by remote.c's classes.
 */
extern bool http_is_transient(const HttpResponse *resp);

/* Percent-encodes a path segment or form value (palloc'd). */
extern char *http_escape(const char *s);

/* Appends "name: value" to a header list (palloc'd). */
extern List *http_add_header(List *headers, const char *name, const char *value);

#endif							/* PEERING_HTTP_H */
