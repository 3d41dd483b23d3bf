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

/*
 * The remote services a request goes to: X(ID, name for logs, name for
 * messages).  The token endpoint of Microsoft Entra ID serves IMDS too.
 */
#define REMOTE_SERVICE_LIST(X) \
	X(LOGIN, "login", "Microsoft Entra ID") \
	X(GRAPH, "graph", "Microsoft Graph") \
	X(ARM, "arm", "Azure Resource Manager") \
	X(AIVEN, "aiven", "Aiven API")

#define SERVICE_ENUM(ID, name, label) SERVICE_##ID,
typedef enum RemoteService
{
	REMOTE_SERVICE_LIST(SERVICE_ENUM)
	REMOTE_SERVICES				/* how many there are */
} RemoteService;
#undef SERVICE_ENUM

typedef struct HttpRequest
{
	RemoteService service;
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
	char	   *www_authenticate;	/* WWW-Authenticate header, or NULL */
	int			retry_after;	/* Retry-After in seconds, -1 if absent */
	int			ratelimit_remaining;	/* ARM's x-ms-ratelimit-remaining-
										 * subscription-reads/-writes, -1 if
										 * absent */
	int			attempts;		/* tries made, the last included */
	char	   *error;			/* why no response arrived (status 0) */
	HttpFailure failure;		/* its class (status 0 only) */
	/* a parse of the body kept for its other readers: rest_parse_shared() */
	void	   *memo;
	void	   *(*memo_parse) (const struct HttpResponse *resp, const char *operation);
} HttpResponse;

extern void http_init(void);

extern HttpResponse *http_perform(const HttpRequest *req);
extern void http_prefetch(List *reqs);
extern void http_prefetch_discard(void);

/* A batch of requests in flight together (curl multi); see http.c. */
typedef struct HttpBatch HttpBatch;

extern HttpBatch *http_batch_begin(int max_parallel);
extern void http_batch_add(HttpBatch *b, const HttpRequest *req, void *tag);
extern bool http_batch_next(HttpBatch *b, HttpResponse **resp, void **tag,
							long timeout_ms);
extern int	http_batch_size(const HttpBatch *b);

/* Told of each attempt's response in a batch: http_batch_observe(). */
typedef void (*HttpAttemptObserver) (void *tag, const HttpResponse *resp, void *arg);
extern void http_batch_observe(HttpBatch *b, HttpAttemptObserver observer, void *arg);
extern void http_batch_end(HttpBatch *b);

/*
 * When set, http_perform() asks it instead of the network: the reconcile
 * engine answers from the responses it collected, or notes the request and
 * throws to run it later (engine.c).
 */
typedef HttpResponse *(*HttpPerformHook) (const HttpRequest *req);
extern PGDLLIMPORT HttpPerformHook http_perform_hook;

extern HttpResponse *http_response_move(HttpResponse *resp);

extern bool http_is_transient(const HttpResponse *resp);

extern char *http_escape(const char *s);

extern List *http_add_header(List *headers, const char *name, const char *value);

extern const char *http_service_name(RemoteService service);

#endif							/* PEERING_HTTP_H */
