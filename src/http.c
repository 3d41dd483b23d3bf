/*
 * http.c
 *		The HTTPS client: transfers, batches, retries and interrupts.  With
 *		http_capture.c (what libcurl hands back), the only files of peering
 *		that use libcurl.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Every transfer, even a single one, runs through a curl multi handle driven
 * from here: curl_multi_perform, then curl_multi_poll for at most 100 ms,
 * then a look at pending interrupts.  So statement_timeout,
 * pg_cancel_backend() and SIGTERM raise their own error within ~0.1 s, and
 * curl handles are freed before CHECK_FOR_INTERRUPTS() may throw (and again,
 * for any other ERROR, by PG_FINALLY).  libcurl callbacks never ereport and
 * never palloc: they write into malloc'd buffers that are copied into
 * palloc'd memory once the attempt is over (http_capture.c).
 *
 * Retries happen here for transient failures (http_is_transient(): transport
 * errors, 408, 429, 5xx), at most HTTP_MAX_ATTEMPTS tries per request.  Waits
 * between tries honour Retry-After for 429/503 and otherwise back off
 * exponentially with jitter; they add up to no more than
 * peering.http_timeout per request, after which the last response is
 * returned (its retry_after tells the caller when to come back).  A request
 * waiting for its next try does not hold up the others of a batch.
 *
 * Connection reuse: one CURLSH per process shares the connection cache, DNS
 * cache and TLS sessions.  Easy and multi handles are created per call and
 * freed on every path, so an ERROR never leaves one half-used; only the
 * share, which holds idle connections and no per-request state, outlives a
 * call.  That keeps consecutive calls to one service on a warm TLS
 * connection without any process-lifetime handle that could be caught
 * mid-transfer by a longjmp.
 *
 * Nothing here logs a header or a body: they carry tokens and secrets.
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

/*
 * Requests in flight together.  Only transfers not yet handed back are in
 * xfers, so each turn of the loop looks at what is live, however many
 * requests went through the batch before.
 */
struct HttpBatch
{
	CURLM	   *multi;
	HttpTransfer **xfers;
	int			n;
	int			cap;
	int			max_parallel;
	int			running;		/* transfers in the multi handle */
	HttpAttemptObserver observer;	/* told of every attempt, or NULL */
	void	   *observer_arg;
};

HttpPerformHook http_perform_hook = NULL;

static HttpResponse *http_take_prefetched(const HttpRequest *req);

/* Answers sent ahead by http_prefetch(), each waiting for its request. */
typedef struct HttpPrefetched
{
	const HttpRequest *req;
	HttpResponse *resp;
} HttpPrefetched;

static List *http_prefetched = NIL;

static bool http_initialized = false;
static CURLSH *http_share = NULL;
static int	http_share_pid = 0;

#define HTTP_SETOPT(easy, option, value) \
	http_check_setopt(curl_easy_setopt((easy), (option), (value)), #option)

/*
 * Initializes libcurl once per process.  Every transfer calls it first, so
 * calling it from _PG_init is optional (it would only move the one-time
 * warning to server start).
 */
void
http_init(void)
{
	CURLcode	rc;
	curl_version_info_data *info;

	if (http_initialized)
		return;

	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl: %s",
						curl_easy_strerror(rc))));
	http_initialized = true;

	info = curl_version_info(CURLVERSION_NOW);
	if ((info->features & CURL_VERSION_ASYNCHDNS) == 0)
		ereport(WARNING,
				(errmsg("libcurl %s resolves host names synchronously",
						info->version),
				 errdetail("A slow DNS lookup cannot be interrupted by statement_timeout or pg_cancel_backend()."),
				 errhint("Use a libcurl built with the threaded resolver or c-ares.")));
	elog(DEBUG1, "peering: using libcurl %s with %s", info->version,
		 info->ssl_version ? info->ssl_version : "no TLS library");
}

/*
 * The per-process share (see the file header), or NULL to work without one.
 * A share inherited across fork() belongs to the parent and is not touched.
 */
static CURLSH *
http_get_share(void)
{
	CURLSH	   *share;

	if (http_share != NULL && http_share_pid == MyProcPid)
		return http_share;
	http_share = NULL;

	share = curl_share_init();
	if (share == NULL)
		return NULL;
	if (curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
		curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
		curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
	{
		curl_share_cleanup(share);
		return NULL;
	}
	http_share = share;
	http_share_pid = MyProcPid;
	return share;
}

static long
http_timeout_ms(void)
{
	return peering_http_timeout > 0 ? peering_http_timeout : HTTP_DEFAULT_TIMEOUT_MS;
}

static void
http_check_setopt(CURLcode rc, const char *option)
{
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set libcurl option %s: %s",
						option, curl_easy_strerror(rc))));
}

/*
 * Is url plain http to the Azure instance metadata service?  Only that
 * link-local address may be reached without TLS.  The URL is parsed by
 * libcurl itself, so userinfo tricks ("http://169.254.169.254@host/") see
 * the same host curl would connect to.
 */
static bool
http_url_is_imds(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		result = false;

	if (u == NULL)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		result = (strcmp(scheme, "http") == 0 && strcmp(host, HTTP_IMDS_HOST) == 0);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return result;
}

/* ---- transfers ---- */

/*
 * Frees everything the current attempt of x holds.  Safe to call at any
 * point and more than once.
 */
static void
xfer_release(HttpBatch *b, HttpTransfer *x)
{
	struct curl_slist *h;

	if (x->easy != NULL)
	{
		if (x->in_multi)
		{
			curl_multi_remove_handle(b->multi, x->easy);
			b->running--;
		}
		curl_easy_cleanup(x->easy);
	}
	x->easy = NULL;
	x->in_multi = false;

	/* request headers and response bodies may hold tokens or secrets */
	for (h = x->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(x->headers);
	x->headers = NULL;

	if (x->body != NULL)
		explicit_bzero(x->body, x->body_len);
	free(x->body);
	x->body = NULL;
	x->body_len = 0;
	x->body_cap = 0;
	x->too_large = false;
	x->out_of_memory = false;

	http_clear_captured(x);
}

/* Frees every handle of the batch: on all exits, including ERROR. */
static void
http_batch_release(HttpBatch *b)
{
	int			i;

	for (i = 0; i < b->n; i++)
		xfer_release(b, b->xfers[i]);
	if (b->multi != NULL)
		curl_multi_cleanup(b->multi);
	b->multi = NULL;
}

static CURLM *
http_multi_create(void)
{
	CURLM	   *multi = curl_multi_init();

	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	/* idle connections kept in the share's cache */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) HTTP_MAX_CONNECTS);
	return multi;
}

static void
xfer_append_header(HttpTransfer *x, const char *header)
{
	struct curl_slist *list = curl_slist_append(x->headers, header);

	if (list == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	x->headers = list;
}

/* Sets method, body and headers of the attempt. */
static void
xfer_set_request(HttpTransfer *x)
{
	const HttpRequest *req = x->req;
	const char *method = req->method ? req->method : "GET";
	bool		sends_body = (req->body != NULL || strcmp(method, "POST") == 0);
	ListCell   *lc;

	if (sends_body)
	{
		const char *body = req->body ? req->body : "";
		char	   *content_type;

		HTTP_SETOPT(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
		HTTP_SETOPT(x->easy, CURLOPT_POSTFIELDS, body);

		content_type = psprintf("Content-Type: %s",
								req->content_type ? req->content_type : "application/json");
		xfer_append_header(x, content_type);
		pfree(content_type);
	}
	else
		HTTP_SETOPT(x->easy, CURLOPT_HTTPGET, 1L);

	/* PUT, PATCH, DELETE: curl's POST or GET with another verb */
	if (strcmp(method, sends_body ? "POST" : "GET") != 0)
		HTTP_SETOPT(x->easy, CURLOPT_CUSTOMREQUEST, method);

	foreach(lc, req->headers)
		xfer_append_header(x, (const char *) lfirst(lc));
	/* no "Expect: 100-continue" round trip before bodies */
	xfer_append_header(x, "Expect:");
	HTTP_SETOPT(x->easy, CURLOPT_HTTPHEADER, x->headers);
}

/* Starts the next attempt of x in the batch's multi handle. */
static void
xfer_start(HttpBatch *b, HttpTransfer *x)
{
	const HttpRequest *req = x->req;
	long		timeout = http_timeout_ms();
	CURLSH	   *share = http_get_share();
	bool		imds;
	CURLMcode	mc;

	if (req->url == NULL)
		elog(ERROR, "peering: %s request without a URL", http_service_name(req->service));
	imds = http_url_is_imds(req->url);

	x->easy = curl_easy_init();
	if (x->easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	x->retry_after = -1;
	x->errbuf[0] = '\0';

	HTTP_SETOPT(x->easy, CURLOPT_PRIVATE, x);
	HTTP_SETOPT(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	HTTP_SETOPT(x->easy, CURLOPT_URL, req->url);
	if (share != NULL)
		HTTP_SETOPT(x->easy, CURLOPT_SHARE, share);
	/* PostgreSQL owns SIGALRM; libcurl must not use signals */
	HTTP_SETOPT(x->easy, CURLOPT_NOSIGNAL, 1L);
	HTTP_SETOPT(x->easy, CURLOPT_PROTOCOLS_STR, imds ? "http" : "https");
	HTTP_SETOPT(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	HTTP_SETOPT(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	HTTP_SETOPT(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	HTTP_SETOPT(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (peering_ca_file != NULL && peering_ca_file[0] != '\0')
		HTTP_SETOPT(x->easy, CURLOPT_CAINFO, peering_ca_file);
	if (imds)
		HTTP_SETOPT(x->easy, CURLOPT_NOPROXY, HTTP_IMDS_HOST);
	/* HTTP/1.1 on reused connections: no HTTP/2 framing surprises */
	HTTP_SETOPT(x->easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
	HTTP_SETOPT(x->easy, CURLOPT_CONNECTTIMEOUT_MS, Min(timeout, HTTP_MAX_CONNECT_MS));
	HTTP_SETOPT(x->easy, CURLOPT_TIMEOUT_MS, timeout);
	HTTP_SETOPT(x->easy, CURLOPT_USERAGENT, HTTP_USER_AGENT);
	HTTP_SETOPT(x->easy, CURLOPT_ACCEPT_ENCODING, "");
	HTTP_SETOPT(x->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) HTTP_MAX_RESPONSE_SIZE);
	HTTP_SETOPT(x->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SETOPT(x->easy, CURLOPT_WRITEDATA, x);
	HTTP_SETOPT(x->easy, CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SETOPT(x->easy, CURLOPT_HEADERDATA, x);
	xfer_set_request(x);

	mc = curl_multi_add_handle(b->multi, x->easy);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an HTTP request: %s",
						curl_multi_strerror(mc))));
	x->in_multi = true;
	b->running++;
	x->attempts++;
	x->started = GetCurrentTimestamp();
	x->state = XFER_RUNNING;
}

/* 0.5 s, 1 s, 2 s … after the first, second, third try, ±25 %. */
static long
http_backoff_ms(int attempts)
{
	double		base = HTTP_BACKOFF_BASE_MS * (double) (1 << Min(attempts - 1, 10));

	return (long) (base * (0.75 + 0.5 * pg_prng_double(&pg_global_prng_state)));
}

/* Decides whether x is done or when its next attempt starts. */
static void
xfer_plan_next(HttpTransfer *x, TimestampTz now)
{
	const HttpResponse *resp = x->resp;
	long		wait_ms;

	x->state = XFER_DONE;
	if (x->req->no_retry || x->attempts >= HTTP_MAX_ATTEMPTS || !http_is_transient(resp))
		return;

	if ((resp->status == 429 || resp->status == 503) && resp->retry_after >= 0)
		wait_ms = resp->retry_after * 1000L;
	else
		wait_ms = http_backoff_ms(x->attempts);

	/* Waiting in place is bounded; past that the caller comes back later. */
	if (x->waited_ms + wait_ms > http_timeout_ms())
		return;

	x->waited_ms += wait_ms;
	x->not_before = TimestampTzPlusMilliseconds(now, wait_ms);
	x->state = XFER_WAITING;
	elog(DEBUG1, "peering: %s %s retried in %ld ms (attempt %d of %d)",
		 http_service_name(x->req->service), x->req->method ? x->req->method : "GET",
		 wait_ms, x->attempts + 1, HTTP_MAX_ATTEMPTS);
}

/*
 * url as it may appear in the log: without userinfo, query string or
 * fragment, any of which could carry something worth keeping out of logs.
 */
static char *
http_loggable_url(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	size_t		authority = strcspn(host, "/?#");
	const char *at = memchr(host, '@', authority);
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, url, host - url);
	if (at != NULL)
		host = at + 1;
	appendBinaryStringInfo(&buf, host, strcspn(host, "?#"));
	return buf.data;
}

static void
xfer_log(const HttpTransfer *x, const HttpResponse *resp, TimestampTz now)
{
	char	   *path;

	if (!message_level_is_interesting(DEBUG1))
		return;

	path = http_loggable_url(x->req->url);
	elog(DEBUG1, "peering: %s %s %s -> %ld in %ld ms (request id %s)",
		 http_service_name(x->req->service), x->req->method ? x->req->method : "GET", path,
		 resp->status, TimestampDifferenceMilliseconds(x->started, now),
		 resp->request_id ? resp->request_id : "none");
	if (resp->status == 0)
		elog(DEBUG1, "peering: %s %s %s failed: %s",
			 http_service_name(x->req->service), x->req->method ? x->req->method : "GET", path,
			 resp->error);
	pfree(path);
}

/* An attempt of x ended with rc: record it, free it, plan the next. */
static void
xfer_finish(HttpBatch *b, HttpTransfer *x, CURLcode rc)
{
	TimestampTz now = GetCurrentTimestamp();
	HttpResponse *resp = http_collect(x, rc);

	xfer_release(b, x);
	xfer_log(x, resp, now);
	if (b->observer != NULL)
		b->observer(x->tag, resp, b->observer_arg);
	if (x->resp != NULL)
		http_response_free(x->resp);
	x->resp = resp;
	xfer_plan_next(x, now);
}

/* ---- the batch loop ---- */

static void
http_start_due(HttpBatch *b)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	for (i = 0; i < b->n && b->running < b->max_parallel; i++)
	{
		HttpTransfer *x = b->xfers[i];

		if (x->state == XFER_WAITING && x->not_before <= now)
			xfer_start(b, x);
	}
}

/*
 * Milliseconds until a waiting transfer can start, -1 when none is waiting.
 * One that is due but has no free slot waits for a running one to finish,
 * which the poll notices, so it sets no timer.
 */
static long
http_next_due_ms(HttpBatch *b)
{
	TimestampTz now = GetCurrentTimestamp();
	long		next = -1;
	int			i;

	for (i = 0; i < b->n; i++)
	{
		HttpTransfer *x = b->xfers[i];
		long		ms;

		if (x->state != XFER_WAITING)
			continue;
		if (x->not_before <= now && b->running >= b->max_parallel)
			ms = HTTP_POLL_MS;
		else
			ms = TimestampDifferenceMilliseconds(now, x->not_before);
		if (next < 0 || ms < next)
			next = ms;
	}
	return next;
}

/* Lets libcurl work, then records every attempt that ended. */
static void
http_pump(HttpBatch *b)
{
	int			still_running;
	int			queued;
	CURLMcode	mc;
	CURLMsg    *msg;

	mc = curl_multi_perform(b->multi, &still_running);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("libcurl failed: %s", curl_multi_strerror(mc))));

	while ((msg = curl_multi_info_read(b->multi, &queued)) != NULL)
	{
		CURL	   *easy = msg->easy_handle;
		CURLcode	rc = msg->data.result;
		char	   *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with the handle: copy what we need first */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		xfer_finish(b, (HttpTransfer *) priv, rc);
	}
}

/* Waits for socket activity, at most timeout_ms. */
static void
http_poll(HttpBatch *b, long timeout_ms)
{
	CURLMcode	mc;

	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	mc = curl_multi_poll(b->multi, NULL, 0, (int) timeout_ms, NULL);
	pgstat_report_wait_end();
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("libcurl failed: %s", curl_multi_strerror(mc))));
}

/* Waits for a retry with nothing in flight. */
static void
http_sleep(long timeout_ms)
{
	int			rc;

	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
				   timeout_ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
}

/*
 * Serves pending interrupts between turns of the loop.
 *
 * When the interrupt will end the query or the process (cancel, statement
 * timeout, termination, lost client), all curl state is freed first, so
 * CHECK_FOR_INTERRUPTS() raises its genuine error with nothing of libcurl
 * left behind even on the FATAL path, which does not unwind through
 * PG_FINALLY.  Anything else (a ProcSignalBarrier, a memory context dump)
 * is served in place without dropping transfers, which would resend
 * requests the server may already have acted on; should it throw,
 * PG_FINALLY frees everything.  With interrupts held off by our caller we
 * just keep going.
 */
static void
http_serve_interrupts(HttpBatch *b)
{
	bool		ending;
	int			i;

	if (!PostmasterIsAlive())
	{
		http_batch_release(b);
		proc_exit(1);
	}

	if (!INTERRUPTS_PENDING_CONDITION() || !INTERRUPTS_CAN_BE_PROCESSED())
		return;

	ending = (QueryCancelPending || ProcDiePending || ClientConnectionLost);
	if (ending)
		http_batch_release(b);

	CHECK_FOR_INTERRUPTS();

	if (!ending)
		return;

	/* The interrupt did not throw after all: the dropped attempts failed. */
	for (i = 0; i < b->n; i++)
	{
		HttpTransfer *x = b->xfers[i];

		if (x->state != XFER_RUNNING)
			continue;
		if (x->resp != NULL)
			http_response_free(x->resp);
		x->resp = http_failed_response(HTTP_FAILURE_INTERRUPTED,
									   pstrdup("request abandoned to serve an interrupt"),
									   x->attempts);
		x->state = XFER_DONE;
	}
	b->multi = http_multi_create();
}

/* The index of a finished transfer, or -1. */
static int
http_finished(HttpBatch *b)
{
	int			i;

	for (i = 0; i < b->n; i++)
		if (b->xfers[i]->state == XFER_DONE)
			return i;
	return -1;
}

/*
 * A batch of requests in flight together (curl multi), at most max_parallel
 * at once, each retried as http_perform() does.  http_batch_end() must run
 * on every exit, errors included (PG_FINALLY).
 */
HttpBatch *
http_batch_begin(int max_parallel)
{
	HttpBatch  *b;

	http_init();
	b = palloc0(sizeof(HttpBatch));
	b->max_parallel = Max(max_parallel, 1);
	b->cap = 16;
	b->xfers = palloc(sizeof(HttpTransfer *) * b->cap);
	b->multi = http_multi_create();
	return b;
}

/*
 * Adds a request to the batch, at any time; http_batch_next() hands its
 * final response back with tag.  req must live until then.
 */
void
http_batch_add(HttpBatch *b, const HttpRequest *req, void *tag)
{
	HttpTransfer *x = palloc0(sizeof(HttpTransfer));

	x->req = req;
	x->tag = tag;
	x->state = XFER_WAITING;
	x->retry_after = -1;
	x->ratelimit_remaining = -1;
	if (b->n == b->cap)
	{
		b->cap *= 2;
		b->xfers = repalloc(b->xfers, sizeof(HttpTransfer *) * b->cap);
	}
	b->xfers[b->n++] = x;
}

/*
 * Tells observer of every attempt's response as it ends, retried ones
 * included (a 429 that the batch waits out in place), with the request's
 * tag: what a throttled service says matters before the final answer.
 */
void
http_batch_observe(HttpBatch *b, HttpAttemptObserver observer, void *arg)
{
	b->observer = observer;
	b->observer_arg = arg;
}

/* How many requests of the batch are not handed back yet. */
int
http_batch_size(const HttpBatch *b)
{
	return b->n;
}

/*
 * Waits (interruptibly) until a request has its final response and hands it
 * back with the caller's tag; false when none is left or timeout_ms passed
 * (0: only what has finished; -1: no limit).
 */
bool
http_batch_next(HttpBatch *b, HttpResponse **resp, void **tag, long timeout_ms)
{
	TimestampTz give_up = timeout_ms < 0 ? 0 :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	for (;;)
	{
		long		next_ms;
		long		left_ms = -1;
		int			done = http_finished(b);

		if (done >= 0)
		{
			HttpTransfer *x = b->xfers[done];

			*resp = x->resp;
			*tag = x->tag;
			b->xfers[done] = b->xfers[--b->n];
			pfree(x);
			return true;
		}
		if (b->n == 0)
			return false;

		http_serve_interrupts(b);
		http_start_due(b);
		if (b->running > 0)
			http_pump(b);
		if (http_finished(b) >= 0)
			continue;

		if (give_up != 0)
		{
			left_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), give_up);
			if (left_ms <= 0)
				return false;
		}
		next_ms = http_next_due_ms(b);
		if (next_ms < 0 || (left_ms >= 0 && left_ms < next_ms))
			next_ms = left_ms;
		if (b->running > 0)
			http_poll(b, next_ms < 0 ? HTTP_POLL_MS : Min(next_ms, HTTP_POLL_MS));
		else if (next_ms >= 0)
			http_sleep(next_ms);
	}
}

/* Frees every handle of the batch; on every exit, errors included. */
void
http_batch_end(HttpBatch *b)
{
	http_batch_release(b);
}

/* Adds the n requests to b and waits for all; resps[i] answers reqs[i]. */
static void
http_run_all(HttpBatch *b, const HttpRequest *const *reqs, HttpResponse **resps,
			 int n)
{
	HttpResponse *resp;
	void	   *tag;
	int			i;

	for (i = 0; i < n; i++)
		http_batch_add(b, reqs[i], &resps[i]);
	while (http_batch_next(b, &resp, &tag, -1))
		*(HttpResponse **) tag = resp;
}

/* Runs n requests, at most max_parallel at a time; fills resps. */
static void
http_execute(const HttpRequest *const *reqs, HttpResponse **resps,
			 int n, int max_parallel)
{
	HttpBatch  *b;

	if (n <= 0)
		return;

	b = http_batch_begin(Min(max_parallel, n));
	PG_TRY();
	{
		http_run_all(b, reqs, resps, n);
	}
	PG_FINALLY();
	{
		http_batch_end(b);
	}
	PG_END_TRY();
}

/* A service's short name, for logs: "login", "graph", "arm", "aiven". */
const char *
http_service_name(RemoteService service)
{
#define SERVICE_NAME(ID, name, label) [SERVICE_##ID] = name,
	static const char *const names[REMOTE_SERVICES] = {REMOTE_SERVICE_LIST(SERVICE_NAME)};
#undef SERVICE_NAME

	Assert(service >= 0 && service < REMOTE_SERVICES);
	return names[service];
}

/*
 * Sends one request, or asks http_perform_hook when it is set.  Transient
 * failures (http_is_transient()) are retried a bounded number of times,
 * unless req->no_retry: Retry-After is honoured for 429/503, otherwise
 * exponential backoff with jitter.  The final response is returned
 * whatever its status; only interrupts and local failures raise.
 */
HttpResponse *
http_perform(const HttpRequest *req)
{
	HttpResponse *resp = NULL;

	if (http_perform_hook != NULL)
		return http_perform_hook(req);
	resp = http_take_prefetched(req);
	if (resp == NULL)
		http_execute(&req, &resp, 1, 1);
	return resp;
}

/*
 * Sends the requests (a List of HttpRequest *) together and keeps their
 * answers for the http_perform() of the same method and URL that follows:
 * a caller that knows which reads it will make waits for one round trip
 * instead of one per read, and reads each answer in its usual place.  The
 * requests must live until http_prefetch_discard().
 */
void
http_prefetch(List *reqs)
{
	int			n = list_length(reqs);
	const HttpRequest **req_array = palloc(sizeof(HttpRequest *) * Max(n, 1));
	HttpResponse **resps = palloc0(sizeof(HttpResponse *) * Max(n, 1));
	ListCell   *lc;
	int			i;

	foreach(lc, reqs)
		req_array[foreach_current_index(lc)] = lfirst(lc);
	http_execute(req_array, resps, n, n);
	for (i = 0; i < n; i++)
	{
		HttpPrefetched *p = palloc(sizeof(HttpPrefetched));

		p->req = req_array[i];
		p->resp = resps[i];
		http_prefetched = lappend(http_prefetched, p);
	}
}

/* The answer sent ahead for a request like req, handed out once; or NULL. */
static HttpResponse *
http_take_prefetched(const HttpRequest *req)
{
	ListCell   *lc;

	foreach(lc, http_prefetched)
	{
		HttpPrefetched *p = lfirst(lc);
		HttpResponse *resp = p->resp;

		if (p->req->service == req->service &&
			strcmp(p->req->method, req->method) == 0 &&
			strcmp(p->req->url, req->url) == 0)
		{
			http_prefetched = foreach_delete_current(http_prefetched, lc);
			pfree(p);
			return resp;
		}
	}
	return NULL;
}

/*
 * Forgets the answers sent ahead that nobody asked for; on every exit of
 * the caller of http_prefetch(), errors included (PG_FINALLY).
 */
void
http_prefetch_discard(void)
{
	http_prefetched = NIL;
}

/*
 * Is this failure worth another try (transport error other than TLS, size or
 * a bad URL; 408, 429, 5xx)?  The one notion used both for retries in place
 * and by remote.c's classes.
 */
bool
http_is_transient(const HttpResponse *resp)
{
	if (resp->status == 0)
		return (resp->failure != HTTP_FAILURE_TLS &&
				resp->failure != HTTP_FAILURE_TOO_LARGE &&
				resp->failure != HTTP_FAILURE_REQUEST);
	return (resp->status == 408 || resp->status == 429 ||
			(resp->status >= 500 && resp->status <= 599));
}

/*
 * Percent-encodes a path segment or form value (palloc'd); libcurl's copy,
 * which may hold a client secret, is zeroed.
 */
char *
http_escape(const char *s)
{
	char	   *escaped;
	char	   *result;

	if (s == NULL)
		elog(ERROR, "peering: cannot escape a null string");
	escaped = curl_easy_escape(NULL, s, (int) strlen(s));
	if (escaped == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(escaped);
	/* form values include client secrets */
	explicit_bzero(escaped, strlen(escaped));
	curl_free(escaped);
	return result;
}

/*
 * Appends "name: value" to a header list (palloc'd); raises for a name or
 * value that would break the header line.
 */
List *
http_add_header(List *headers, const char *name, const char *value)
{
	/* a line break would smuggle in another header */
	if (value == NULL || strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for HTTP header \"%s\"", name)));
	return lappend(headers, psprintf("%s: %s", name, value));
}
