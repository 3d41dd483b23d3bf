/*
 * remote.h
 *		One table that maps remote failures (Azure AD, Graph, ARM, Aiven) to
 *		SQLSTATE, message, hint and retry class.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_REMOTE_H
#define PEERING_REMOTE_H

#include "http.h"

/*
 * Retry classes.  Each retryable class has its own time budget
 * (peering.*_retry_budget, peering.wait_budget); their SQL names are in
 * remote_retry_name().
 */
typedef enum RemoteRetry
{
	REMOTE_RETRY_NEVER,			/* the user must fix something */
	REMOTE_RETRY_TRANSIENT,		/* network, timeouts, 5xx */
	REMOTE_RETRY_PROPAGATION,	/* replication/propagation right after a write */
	REMOTE_RETRY_THROTTLING,	/* 429: the service asks us to slow down */
	REMOTE_RETRY_WAITING		/* no failure: the remote side is busy */
} RemoteRetry;

#define REMOTE_RETRY_CLASSES	(REMOTE_RETRY_WAITING + 1)

/* What the last remote_raise() reported, for callers that catch the ERROR. */
typedef struct RemoteError
{
	bool		recorded;		/* false: the ERROR was not a remote one */
	RemoteService service;
	long		http_status;
	char		code[64];		/* remote error code, e.g. AuthorizationFailed */
	char		request_id[128];
	RemoteRetry retry;
	int			retry_after;	/* seconds, -1 if none */
} RemoteError;

/* Forgets the last remote error (before a step runs). */
extern void remote_clear_error(void);

/*
 * The remote failure behind the last ERROR raised by remote_raise() or
 * remote_raise_unexpected() since remote_clear_error(), or NULL when that
 * ERROR did not come from a remote service.
 */
extern const RemoteError *remote_last_error(void);

/* Records a 2xx answer we cannot use as a transient failure (rest.c). */
extern void remote_note_unexpected(RemoteService service, const HttpResponse *resp);

/*
 * Raises ERROR for a failed response.  "operation" is the whole message of
 * the failure, translatable on its own, naming what was attempted on which
 * object, e.g. _("could not read virtual network \"%s\"") formatted; the
 * message reads "<operation>: <reason>", as "%m" follows a message in
 * PostgreSQL's own.  The detail has the
 * HTTP status, the remote code and message (never a secret) and the request
 * id; the hint comes from the table.
 */
extern void remote_raise(RemoteService service, const char *operation,
						 const HttpResponse *resp) pg_attribute_noreturn();

/* A service's name for messages: "Microsoft Graph" for SERVICE_GRAPH, … */
extern const char *remote_service_label(RemoteService service);

/* The remote error code in a failed response body ("" if none), palloc'd. */
extern char *remote_error_code(RemoteService service, const HttpResponse *resp);

/* "transient", "replication", "throttling"; NULL for REMOTE_RETRY_NEVER. */
extern const char *remote_retry_name(RemoteRetry retry);

/*
 * Does resp carry this remote error: HTTP status, code (NULL: any) and a
 * marker (NULL: any) found in the message or in an error detail's code or
 * value?  For the few answers whose generic code covers several causes.
 */
extern bool remote_error_is(RemoteService service, const HttpResponse *resp,
							long status, const char *code, const char *marker);

#endif							/* PEERING_REMOTE_H */
