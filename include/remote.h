/*
 * remote.h
 *		One table that maps remote failures (Azure AD, Graph, ARM, Aiven) to
 *		SQLSTATE, message, hint and retry class.
 */
#ifndef PEERING_REMOTE_H
#define PEERING_REMOTE_H

#include "http.h"

typedef enum RemoteRetry
{
	REMOTE_RETRY_NEVER,			/* the user must fix something */
	REMOTE_RETRY_TRANSIENT,		/* network, throttling, 5xx */
	REMOTE_RETRY_PROPAGATION	/* replication/propagation right after a write */
} RemoteRetry;

/* What the last remote_raise() reported, for callers that catch the ERROR. */
typedef struct RemoteError
{
	char		service[16];
	long		http_status;
	char		code[64];		/* remote error code, e.g. AuthorizationFailed */
	char		request_id[128];
	RemoteRetry retry;
	int			retry_after;	/* seconds, -1 if none */
} RemoteError;

extern RemoteError remote_last_error;

extern void remote_clear_error(void);

/*
 * Raises ERROR for a failed response.  "operation" is a verb phrase naming
 * what was attempted on which object, e.g. "read virtual network \"vnet-app\"";
 * the message reads "could not <operation>: <reason>".  The detail has the
 * HTTP status, the remote code and message (never a secret) and the request
 * id; the hint comes from the table.
 */
extern void remote_raise(const char *service, const char *operation,
						 const HttpResponse *resp) pg_attribute_noreturn();

/* A service's name for messages: "Microsoft Graph" for "graph", … */
extern const char *remote_service_label(const char *service);

/* The remote error code in a failed response body ("" if none), palloc'd. */
extern char *remote_error_code(const char *service, const HttpResponse *resp);

/* The retry class remote_raise() would report for resp, without raising. */
extern RemoteRetry remote_retry_class(const char *service, const HttpResponse *resp);

#endif							/* PEERING_REMOTE_H */
