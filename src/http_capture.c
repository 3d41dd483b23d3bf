/*
 * http_capture.c
 *		What libcurl hands back for one attempt (the body and the headers we
 *		keep, captured by callbacks that neither ereport nor palloc), made
 *		into an HttpResponse, and the class of a transport failure.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include <ctype.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"
#include "http_internal.h"
#include "peering.h"

/* ---- libcurl callbacks: no ereport, no palloc ---- */

/*
 * CURLOPT_WRITEFUNCTION: appends to x's malloc'd body.  A body over
 * HTTP_MAX_RESPONSE_SIZE, or one malloc cannot hold, is flagged on x and
 * ends the transfer.
 */
size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	HttpTransfer *x = (HttpTransfer *) userdata;
	size_t		len = size * nmemb;
	size_t		need = x->body_len + len;

	if (need > HTTP_MAX_RESPONSE_SIZE)
	{
		x->too_large = true;
		return 0;
	}
	if (need > x->body_cap)
	{
		size_t		cap = Max(x->body_cap * 2, 16384);
		char	   *grown;

		while (cap < need)
			cap *= 2;
		cap = Min(cap, HTTP_MAX_RESPONSE_SIZE);
		grown = realloc(x->body, cap);
		if (grown == NULL)
		{
			x->out_of_memory = true;
			return 0;
		}
		x->body = grown;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, data, len);
	x->body_len = need;
	return len;
}

/* Replaces *dst with a malloc'd copy of value; keeps NULL on OOM. */
static void
http_capture(char **dst, const char *value, size_t len)
{
	char	   *copy = malloc(len + 1);

	free(*dst);
	*dst = copy;
	if (copy == NULL)
		return;
	memcpy(copy, value, len);
	copy[len] = '\0';
}

/* Retry-After: delay in seconds, or an HTTP-date; -1 if unusable. */
static int
http_parse_retry_after(const char *value, size_t len)
{
	char		buf[64];
	long		seconds;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, value, len);
	buf[len] = '\0';

	if (strspn(buf, "0123456789") == len)
		seconds = strtol(buf, NULL, 10);
	else
	{
		time_t		when = curl_getdate(buf, NULL);

		if (when == (time_t) -1)
			return -1;
		seconds = Max((long) (when - time(NULL)), 0);
	}
	return (int) Min(seconds, HTTP_MAX_RETRY_AFTER);
}

/*
 * Forgets the headers captured so far, for a new header block or a new
 * attempt; the body is left alone.
 */
void
http_clear_captured(HttpTransfer *x)
{
	free(x->request_id);
	free(x->location);
	free(x->async_operation);
	free(x->www_authenticate);
	x->request_id = NULL;
	x->request_id_rank = 0;
	x->location = NULL;
	x->async_operation = NULL;
	x->www_authenticate = NULL;
	x->retry_after = -1;
	x->ratelimit_remaining = -1;
}

static bool
http_header_is(const char *name, size_t namelen, const char *wanted)
{
	return namelen == strlen(wanted) && pg_strncasecmp(name, wanted, namelen) == 0;
}

/*
 * CURLOPT_HEADERFUNCTION: keeps the few headers an HttpResponse holds, the
 * best-ranked request id among them, from the last header block only.
 */
size_t
http_header_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	HttpTransfer *x = (HttpTransfer *) userdata;
	size_t		len = size * nitems;
	const char *colon;
	const char *value;
	size_t		namelen;
	size_t		valuelen;
	int			rank = 0;

	/* A status line starts a new header block (1xx, proxy CONNECT). */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
	{
		http_clear_captured(x);
		return len;
	}

	colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	namelen = colon - data;
	value = colon + 1;
	valuelen = len - namelen - 1;
	while (valuelen > 0 && (*value == ' ' || *value == '\t'))
	{
		value++;
		valuelen--;
	}
	while (valuelen > 0 && isspace((unsigned char) value[valuelen - 1]))
		valuelen--;
	if (valuelen == 0 || valuelen > HTTP_MAX_HEADER_VALUE)
		return len;

	if (http_header_is(data, namelen, "x-ms-request-id"))
		rank = 3;
	else if (http_header_is(data, namelen, "request-id"))
		rank = 2;
	else if (http_header_is(data, namelen, "x-request-id"))
		rank = 1;
	else if (http_header_is(data, namelen, "location"))
		http_capture(&x->location, value, valuelen);
	else if (http_header_is(data, namelen, "azure-asyncoperation"))
		http_capture(&x->async_operation, value, valuelen);
	else if (http_header_is(data, namelen, "www-authenticate"))
		http_capture(&x->www_authenticate, value, valuelen);
	else if (http_header_is(data, namelen, "retry-after"))
		x->retry_after = http_parse_retry_after(value, valuelen);
	else if (http_header_is(data, namelen, "x-ms-ratelimit-remaining-subscription-reads") ||
			 http_header_is(data, namelen, "x-ms-ratelimit-remaining-subscription-writes"))
	{
		int			remaining = http_parse_retry_after(value, valuelen);

		if (remaining >= 0 &&
			(x->ratelimit_remaining < 0 || remaining < x->ratelimit_remaining))
			x->ratelimit_remaining = remaining;
	}

	if (rank > x->request_id_rank)
	{
		http_capture(&x->request_id, value, valuelen);
		x->request_id_rank = rank;
	}
	return len;
}

/* Frees a response and every string it holds. */
void
http_response_free(HttpResponse *resp)
{
	pfree(resp->body);
	if (resp->request_id)
		pfree(resp->request_id);
	if (resp->location)
		pfree(resp->location);
	if (resp->async_operation)
		pfree(resp->async_operation);
	if (resp->www_authenticate)
		pfree(resp->www_authenticate);
	if (resp->error)
		pfree(resp->error);
	pfree(resp);
}

/*
 * Moves a response (not yet parsed: no memo) into the current memory
 * context, every string it holds included, and frees the original.
 */
HttpResponse *
http_response_move(HttpResponse *resp)
{
	HttpResponse *copy = palloc(sizeof(HttpResponse));

	memcpy(copy, resp, sizeof(HttpResponse));
	copy->body = palloc(resp->body_len + 1);
	memcpy(copy->body, resp->body, resp->body_len + 1);
	copy->request_id = resp->request_id ? pstrdup(resp->request_id) : NULL;
	copy->location = resp->location ? pstrdup(resp->location) : NULL;
	copy->async_operation = resp->async_operation ? pstrdup(resp->async_operation) : NULL;
	copy->www_authenticate = resp->www_authenticate ? pstrdup(resp->www_authenticate) : NULL;
	copy->error = resp->error ? pstrdup(resp->error) : NULL;
	copy->memo = NULL;
	copy->memo_parse = NULL;
	http_response_free(resp);
	return copy;
}

/*
 * A response with no HTTP status, for a failure that kept one from
 * arriving; it takes over error (palloc'd).
 */
HttpResponse *
http_failed_response(HttpFailure failure, char *error, int attempts)
{
	HttpResponse *resp = palloc0(sizeof(HttpResponse));

	resp->body = pstrdup("");
	resp->retry_after = -1;
	resp->ratelimit_remaining = -1;
	resp->attempts = attempts;
	resp->failure = failure;
	resp->error = error;
	return resp;
}

/* Classifies a libcurl failure; TLS and size problems are not transient. */
static HttpResponse *
http_transport_failure(HttpTransfer *x, CURLcode rc)
{
	const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	HttpFailure failure;
	char	   *error;

	switch (rc)
	{
		case CURLE_OPERATION_TIMEDOUT:
			failure = HTTP_FAILURE_TIMEOUT;
			error = psprintf("request timed out: %s", why);
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			failure = HTTP_FAILURE_TLS;
			error = psprintf("TLS certificate verification failed: %s", why);
			break;
		case CURLE_FILESIZE_EXCEEDED:
		case CURLE_WRITE_ERROR:
			if (x->out_of_memory)
			{
				failure = HTTP_FAILURE_NONE;
				error = pstrdup("out of memory while receiving the response");
			}
			else
			{
				failure = HTTP_FAILURE_TOO_LARGE;
				error = psprintf("response larger than %d MB",
								 HTTP_MAX_RESPONSE_SIZE / (1024 * 1024));
			}
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			failure = HTTP_FAILURE_REQUEST;
			error = psprintf("URL not usable (only https is allowed): %s", why);
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			failure = HTTP_FAILURE_CONNECT;
			error = psprintf("connection failed: %s", why);
			break;
		default:
			failure = HTTP_FAILURE_NONE;
			error = pstrdup(why);
			break;
	}
	return http_failed_response(failure, error, x->attempts);
}

/*
 * Copies the finished attempt out of libcurl and malloc'd memory into a
 * palloc'd response, or a failed one when rc says the transfer failed.
 */
HttpResponse *
http_collect(HttpTransfer *x, CURLcode rc)
{
	HttpResponse *resp;
	long		status = 0;

	if (rc != CURLE_OK)
		return http_transport_failure(x, rc);

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	resp = palloc0(sizeof(HttpResponse));
	resp->status = status;
	resp->body = palloc(x->body_len + 1);
	if (x->body_len > 0)
		memcpy(resp->body, x->body, x->body_len);
	resp->body[x->body_len] = '\0';
	resp->body_len = x->body_len;
	resp->request_id = x->request_id ? pstrdup(x->request_id) : NULL;
	resp->location = x->location ? pstrdup(x->location) : NULL;
	resp->async_operation = x->async_operation ? pstrdup(x->async_operation) : NULL;
	resp->www_authenticate = x->www_authenticate ? pstrdup(x->www_authenticate) : NULL;
	resp->retry_after = x->retry_after;
	resp->ratelimit_remaining = x->ratelimit_remaining;
	resp->attempts = x->attempts;
	return resp;
}
