/*
 * http_internal.h
 *		What http.c (transfers, batches, interrupts) and http_capture.c (what
 *		libcurl hands back, made into an HttpResponse) share.  The only two
 *		files that use libcurl.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_HTTP_INTERNAL_H
#define PEERING_HTTP_INTERNAL_H

#include <curl/curl.h>

#include "datatype/timestamp.h"

#include "http.h"

#define HTTP_MAX_ATTEMPTS		4
#define HTTP_POLL_MS			100
#define HTTP_MAX_CONNECT_MS		10000
#define HTTP_DEFAULT_TIMEOUT_MS 30000
#define HTTP_BACKOFF_BASE_MS	500
#define HTTP_MAX_RETRY_AFTER	86400
#define HTTP_MAX_HEADER_VALUE	8192
#define HTTP_MAX_CONNECTS		16
#define HTTP_USER_AGENT			"peering/1.0"
#define HTTP_IMDS_HOST			"169.254.169.254"

typedef enum HttpTransferState
{
	XFER_WAITING,				/* next attempt due at not_before */
	XFER_RUNNING,				/* attempt in the multi handle */
	XFER_DONE					/* resp is final */
} HttpTransferState;

/* One request of a batch, across its attempts. */
typedef struct HttpTransfer
{
	const HttpRequest *req;
	void	   *tag;			/* the caller's, returned with the answer */
	HttpTransferState state;
	HttpResponse *resp;			/* last finished attempt, palloc'd */
	int			attempts;
	long		waited_ms;		/* time spent waiting between attempts */
	TimestampTz not_before;
	TimestampTz started;		/* of the current attempt */

	/* The current attempt: libcurl handles and malloc'd capture buffers. */
	CURL	   *easy;
	bool		in_multi;
	struct curl_slist *headers;
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	bool		too_large;
	bool		out_of_memory;
	char	   *request_id;
	int			request_id_rank;
	char	   *location;
	char	   *async_operation;
	char	   *www_authenticate;
	int			retry_after;
	int			ratelimit_remaining;
	char		errbuf[CURL_ERROR_SIZE];
} HttpTransfer;

extern size_t http_write_cb(char *data, size_t size, size_t nmemb, void *userdata);
extern void http_clear_captured(HttpTransfer *x);
extern size_t http_header_cb(char *data, size_t size, size_t nitems, void *userdata);
extern void http_response_free(HttpResponse *resp);
extern HttpResponse *http_failed_response(HttpFailure failure, char *error, int attempts);
extern HttpResponse *http_collect(HttpTransfer *x, CURLcode rc);

#endif							/* PEERING_HTTP_INTERNAL_H */
