/*
 * engine_outcome.c
 *		What becomes of a step's outcome: when the connection is due again
 *		(polls, re-checks, backoff), the time budgets of retries and waits,
 *		and the classification of a caught error.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "auth.h"
#include "catalog.h"
#include "engine_outcome.h"
#include "peering.h"
#include "remote.h"
#include "steps.h"
#include "util.h"

/* the shortest wait between two polls of a connection */
#define MIN_POLL_DELAY_MS		250

/*
 * When to look again.  Polls are fast right after a step began, then back
 * off up to poll_interval.  Re-checks of ACTIVE connections fall on a grid
 * of recheck_interval shared by all, so that one cycle re-checks them
 * together, reading each project VPC and each VNet's peerings once.
 */
static TimestampTz
next_poll(const PeeringConn *c, TimestampTz now)
{
	long		elapsed_ms;
	long		delay_ms;

	if (step_is(c, STEP_ACTIVE))
	{
		int64		interval = (int64) peering_recheck_interval * USECS_PER_SEC;

		return (now / interval + 1) * interval;
	}
	elapsed_ms = (long) ((now - c->step_since) / 1000);
	delay_ms = Max(elapsed_ms / 4, MIN_POLL_DELAY_MS);
	delay_ms = Min(delay_ms, (long) peering_poll_interval * 1000);
	return TimestampTzPlusMilliseconds(now, delay_ms);
}

/* Exponential backoff with ±25% jitter, capped at poll_interval. */
static TimestampTz
next_retry(const PeeringConn *c, const StepResult *r, TimestampTz now)
{
	double		delay_ms = 500.0 * ((int64) 1 << Min(c->attempts, 16));

	delay_ms = Min(delay_ms, peering_poll_interval * 1000.0);
	delay_ms *= 0.75 + 0.5 * pg_prng_double(&pg_global_prng_state);
	if (r->retry_after > 0)
		delay_ms = Max(delay_ms, r->retry_after * 1000.0);
	return TimestampTzPlusMilliseconds(now, (int64) delay_ms);
}

/* The time budget of a retry class, in seconds (peering.*_retry_budget). */
static int
retry_budget(RemoteRetry retry)
{
	switch (retry)
	{
		case REMOTE_RETRY_PROPAGATION:
			return peering_replication_retry_budget;
		case REMOTE_RETRY_THROTTLING:
			return peering_throttling_retry_budget;
		case REMOTE_RETRY_WAITING:
			return peering_wait_budget;
		case REMOTE_RETRY_TRANSIENT:
		case REMOTE_RETRY_NEVER:
			break;
	}
	return peering_transient_retry_budget;
}

/* Is the connection waiting for the remote side (within peering.wait_budget)? */
static bool
is_waiting(const PeeringConn *c)
{
	return c->retry_class != NULL &&
		strcmp(c->retry_class, remote_retry_name(REMOTE_RETRY_WAITING)) == 0;
}

/*
 * Counts a failed attempt against the budget of its class, measured from
 * the first failure of the run; false once the budget is spent.
 */
static bool
within_retry_budget(PeeringConn *c, RemoteRetry retry, TimestampTz now)
{
	/* a failure while waiting starts a run of its own */
	if (c->retry_since == 0 || is_waiting(c))
		c->retry_since = now;
	c->retry_class = pstrdup(remote_retry_name(retry));
	c->retry_until = TimestampTzPlusMilliseconds(c->retry_since,
												 (int64) retry_budget(retry) * 1000);
	return now < c->retry_until;
}

/*
 * A wait on the remote side is budgeted from the start of its step (which
 * peering_retry() resets), so that failures in between do not prolong it;
 * false once peering.wait_budget is spent.  Re-checks of an ACTIVE
 * connection wait for nobody and have no budget.
 */
static bool
within_wait_budget(PeeringConn *c, TimestampTz now)
{
	/* attempts stay: they count what failed in this step (one re-PUT) */
	c->last_error = NULL;
	c->last_error_code = NULL;
	if (step_is(c, STEP_ACTIVE))
	{
		c->attempts = 0;
		c->retry_class = NULL;
		c->retry_since = 0;
		c->retry_until = 0;
		return true;
	}
	c->retry_since = c->step_since;
	c->retry_class = pstrdup(remote_retry_name(REMOTE_RETRY_WAITING));
	c->retry_until = TimestampTzPlusMilliseconds(c->retry_since,
												 (int64) peering_wait_budget * 1000);
	return now < c->retry_until;
}

/* The step went through: no error run, no wait. */
static void
clear_retry(PeeringConn *c)
{
	c->attempts = 0;
	c->last_error = NULL;
	c->last_error_code = NULL;
	c->retry_class = NULL;
	c->retry_since = 0;
	c->retry_until = 0;
}

/* The message and hint, as last_error holds them. */
static char *
error_text(const StepResult *r)
{
	if (r->hint)
		return psprintf("%s (hint: %s)", r->message, r->hint);
	return pstrdup(r->message);
}

/*
 * The wait ran out: the connection stops, saying what it waited for (the
 * step's own words, naming the remote state) and quoting the remote side.
 */
static void
give_up_waiting(PeeringConn *c, StepResult *r)
{
	r->outcome = STEP_FAILED;
	r->error_code = "55000";
	r->message = psprintf("gave up waiting after %d s since %s (peering.wait_budget): %s",
						  peering_wait_budget, timestamptz_to_str(c->retry_since),
						  r->message ? r->message : "the remote side did not finish");
	r->hint = psprintf("%s%sCall peering_retry(" INT64_FORMAT ") to wait again once the cause is fixed, or peering_delete(" INT64_FORMAT ") to remove the peering.",
					   r->hint ? r->hint : "", r->hint ? "  " : "", c->id, c->id);
}

/*
 * Records how the step went on the connection, and when it is due again:
 * a retry or wait whose time budget is spent becomes a failure first (r is
 * changed to say so).  Queues the step, error or failure event.
 */
void
engine_apply_outcome(PeeringConn *c, StepResult *r)
{
	TimestampTz now = GetCurrentTimestamp();

	if (r->outcome == STEP_RETRY && !within_retry_budget(c, r->retry, now))
	{
		r->outcome = STEP_FAILED;
		r->message = psprintf("%s; gave up after %d attempts since %s (peering.%s_retry_budget)",
							  r->message, c->attempts + 1,
							  timestamptz_to_str(c->retry_since), c->retry_class);
	}
	if (r->outcome == STEP_WAITING && !within_wait_budget(c, now))
		give_up_waiting(c, r);

	switch (r->outcome)
	{
		case STEP_ADVANCED:
			conn_event(c, EVENT_STEP, r->message, NULL, NULL);
			c->step = r->next;
			clear_retry(c);
			c->step_since = now;
			c->next_attempt_at = r->next == STEP_DELETED ? 0 : now;
			break;
		case STEP_WAITING:
			c->next_attempt_at = next_poll(c, now);
			break;
		case STEP_RETRY:
			c->attempts++;
			c->last_error = error_text(r);
			c->last_error_code = r->error_code;
			c->next_attempt_at = next_retry(c, r, now);
			conn_event(c, EVENT_ERROR,
					   psprintf("%s; retrying (%s) until %s", c->last_error,
								c->retry_class, timestamptz_to_str(c->retry_until)),
					   r->error_code, r->request_id);
			break;
		case STEP_FAILED:
			if (r->retry == REMOTE_RETRY_NEVER && !is_waiting(c))
			{
				c->retry_class = NULL;
				c->retry_until = 0;
			}
			c->attempts++;
			c->failed = true;
			c->last_error = error_text(r);
			c->last_error_code = r->error_code;
			c->next_attempt_at = 0;
			conn_event(c, step_is(c, STEP_ACTIVE) ? EVENT_DRIFT : EVENT_FAILED,
					   c->last_error, r->error_code, r->request_id);
			break;
	}
}

/* Errors not from a remote service that a later attempt may not see. */
static bool
local_error_is_transient(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_PROTOCOL_VIOLATION ||
		sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION ||
		sqlerrcode == ERRCODE_CONNECTION_FAILURE ||
		sqlerrcode == ERRCODE_CONNECTION_EXCEPTION ||
		sqlerrcode == ERRCODE_INTERNAL_ERROR;
}

/*
 * After a 401 or 403 the next attempt gets new tokens: the cached one may
 * have been revoked, or may predate a grant made since.
 */
static void
forget_tokens(PeeringConn *c)
{
	auth_forget(c->attempt.azure_cred, c->tenant_id, AZURE_ARM);
	auth_forget(c->attempt.azure_cred, c->tenant_id, AZURE_GRAPH);
	if (c->attempt.app_cred != NULL)
	{
		auth_forget(c->attempt.app_cred, c->tenant_id, AZURE_ARM);
		if (c->to_tenant_id != NULL)
			auth_forget(c->attempt.app_cred, c->to_tenant_id, AZURE_ARM);
	}
}

/*
 * Turns a caught ERROR into the step's outcome (retry or failure), with the
 * remote error's class, code and request id when remote_raise() raised it.
 * After a 401 or 403 the connection's cached tokens are dropped.
 */
void
engine_classify_error(PeeringConn *c, ErrorData *ed, StepResult *r)
{
	const RemoteError *remote = remote_last_error();

	r->message = ed->message;
	r->hint = ed->hint;
	r->error_code = pstrdup(unpack_sql_state(ed->sqlerrcode));
	if (remote)
	{
		r->retry = remote->retry;
		r->retry_after = remote->retry_after;
		if (remote->code[0])
			r->error_code = psprintf("%s %s", r->error_code, remote->code);
		if (remote->request_id[0])
			r->request_id = pstrdup(remote->request_id);
		if (remote->http_status == 401 || remote->http_status == 403)
			forget_tokens(c);
	}
	else
		r->retry = local_error_is_transient(ed->sqlerrcode) ?
			REMOTE_RETRY_TRANSIENT : REMOTE_RETRY_NEVER;
	r->outcome = r->retry == REMOTE_RETRY_NEVER ? STEP_FAILED : STEP_RETRY;
}
