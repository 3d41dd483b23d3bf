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

extern void remote_clear_error(void);

extern const RemoteError *remote_last_error(void);

extern void remote_note_unexpected(RemoteService service, const HttpResponse *resp);

extern void remote_raise(RemoteService service, const char *operation,
						 const HttpResponse *resp) pg_attribute_noreturn();

extern const char *remote_service_label(RemoteService service);

extern char *remote_error_code(RemoteService service, const HttpResponse *resp);

extern const char *remote_retry_name(RemoteRetry retry);

extern bool remote_error_is(RemoteService service, const HttpResponse *resp,
							long status, const char *code, const char *marker);

#endif							/* PEERING_REMOTE_H */
