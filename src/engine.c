/*
 * engine.c
 *		The reconcile engine (docs/architecture.md §3): every claimed
 *		connection's steps in flight together in one curl-multi batch.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * A cycle claims due connections in a short transaction, then runs their
 * steps with no transaction open while a request is out.  A step calls
 * http_perform() as if it were alone; the engine's hook answers it from the
 * responses this attempt already has, or from a read another connection made
 * since the attempt began.  Otherwise the hook notes the request and throws,
 * and once the answer is in the step runs again from the start ("replay").
 * Steps are deterministic in the connection and the answers, so a replay
 * makes the same requests in the same order: a request is known by a digest
 * of its method, URL, headers and body, and by how often the same request
 * came before in the attempt.  The engine, not the step, decides when a
 * request goes out: reads of the same thing are made once for everyone
 * (one GET per project VPC, one list per VNet, one token per identity), at
 * most peering.max_parallel_requests are in flight, and a subscription that
 * ARM throttles waits alone.
 *
 * A finished step is saved in a short transaction, in a subtransaction of
 * its own so that one row cannot fail the others; the connection keeps its
 * claim and goes on with its next step at once when that is due, and lets
 * the claim go otherwise.  Steps that only looked and found nothing new (a
 * re-check of an ACTIVE peering, a poll) are saved together, one statement
 * for all of them.
 *
 * The claimed connections are worked through in batches, each in a memory
 * context reset after it; the answers that many connections share are
 * kept across batches, each in a context of its own, within a budget.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/cryptohash.h"
#include "common/pg_prng.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "auth.h"
#include "catalog.h"
#include "engine.h"
#include "engine_outcome.h"
#include "http.h"
#include "peering.h"
#include "remote.h"
#include "steps.h"
#include "util.h"

#define KEY_LEN					PG_SHA256_DIGEST_LENGTH
/* steps one connection may take in a cycle: a bound on a loop, not a goal */
#define MAX_STEPS_PER_CYCLE		40
/* below this many remaining ARM requests a subscription is slowed down */
#define ARM_REMAINING_LOW		100
#define ARM_THROTTLE_DEFAULT_MS	5000

/* One connection's work in the cycle. */
typedef struct Run
{
	PeeringConn *saved;			/* the row as claimed or as last saved */
	PeeringConn *conn;			/* the current attempt: a copy of saved */
	TimestampTz started;		/* when the attempt began */
	TimestampTz fresh_since;	/* a read sent since then serves the attempt */
	List	   *answers;		/* of Answer *: what the attempt has */
	List	   *asked;			/* of Asked *: this replay's requests */
	bool		waiting;		/* a request of the attempt is out */
	int			steps;			/* steps completed in this cycle */
	bool		goes_on;		/* saved, its next step starts at once */
	bool		quiet;			/* finished: only looked, found nothing new */
	/* what one replay allocates is freed by the next; saved outlives both */
	MemoryContext attempt_cxt;	/* conn and the step's allocations */
	MemoryContext saved_cxt;	/* saved, once it is a finished attempt's conn */
} Run;

/* A response, and which request of an attempt it answers. */
typedef struct Answer
{
	uint8		key[KEY_LEN];
	int			occurrence;
	HttpResponse *resp;
} Answer;

/* How often a request came in the current replay. */
typedef struct Asked
{
	uint8		key[KEY_LEN];
	int			count;
} Asked;

/* A run waiting for a request, and which occurrence it asked for. */
typedef struct Waiter
{
	Run		   *run;
	int			occurrence;
} Waiter;

/* A request queued or in flight. */
typedef struct Flight
{
	uint8		key[KEY_LEN];
	const HttpRequest *req;
	bool		shared;			/* others may get its answer (shareable) */
	char	   *subscription;	/* ARM subscription of the URL, or NULL */
	TimestampTz sent;			/* 0 while queued */
	List	   *waiters;		/* of Waiter * */
} Flight;

/*
 * The latest answer to a shareable request, for connections that ask after
 * it, in the cycle's batches.
 */
typedef struct SharedAnswer
{
	uint8		key[KEY_LEN];	/* hash key: first */
	Flight	   *flight;			/* in flight now, or NULL */
	HttpResponse *resp;			/* last answer, or NULL */
	MemoryContext cxt;			/* resp and its parse, or NULL */
	TimestampTz sent;			/* when that answer was asked for */
	Run		   *writer;			/* whose write it answered first */
	int			used_in;		/* the last batch that read it */
} SharedAnswer;

/* ARM's budget for one subscription, as its answers tell. */
typedef struct SubscriptionGate
{
	char		subscription[64];	/* hash key: first */
	TimestampTz hold_until;
} SubscriptionGate;

typedef struct Engine
{
	const CycleHooks *hooks;
	MemoryContext cxt;			/* the batch's: reset after each batch */
	MemoryContext answers_cxt;	/* shared answers, each in a context of its own */
	MemoryContext save_cxt;		/* reset after each row's save */
	HttpBatch  *batch;
	List	   *queue;			/* of Flight *: not yet in the batch */
	int			in_batch;
	HTAB	   *answers;		/* SharedAnswer by key */
	HTAB	   *gates;			/* SubscriptionGate by subscription */
	List	   *finished;		/* of Run *: steps done, not saved yet */
	int			loud;			/* how many of them are not quiet */
	TimestampTz claimed_at;		/* when the cycle's connections were claimed */
	int			batch_no;		/* the batch running */
	TimestampTz deadline;		/* no new step starts after this */
	int			due_again;
} Engine;

/* The engine and the run whose step is running, for the hook. */
static Engine *engine = NULL;
static Run *current_run = NULL;

static void run_attempt(Engine *e, Run *run);
static bool run_goes_on(Engine *e, const Run *run);

/* ----------------------------------------------------------------
 * Requests: keys, the hook, the queue
 * ---------------------------------------------------------------- */

static void
key_update(pg_cryptohash_ctx *ctx, const char *s)
{
	if (s != NULL && pg_cryptohash_update(ctx, (const uint8 *) s, strlen(s) + 1) < 0)
		elog(ERROR, "could not compute a request digest");
}

/*
 * The digest of a request.  Headers are part of it: the same URL asked with
 * a fresh token after a 401 is another request.
 */
static void
request_key(const HttpRequest *req, uint8 *key)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	ListCell   *lc;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute a request digest");
	key_update(ctx, req->method ? req->method : "GET");
	key_update(ctx, req->url);
	foreach(lc, req->headers)
		key_update(ctx, lfirst(lc));
	key_update(ctx, req->body ? req->body : "");
	if (pg_cryptohash_final(ctx, key, KEY_LEN) < 0)
		elog(ERROR, "could not compute a request digest");
	pg_cryptohash_free(ctx);
}

/* Does the request change something remotely (token requests do not)? */
static bool
request_is_write(const HttpRequest *req)
{
	return req->method != NULL && strcmp(req->method, "GET") != 0 &&
		req->service != SERVICE_LOGIN;
}

/*
 * Requests whose answer serves whoever asks the same: reads, token
 * requests, and idempotent writes (PUT, DELETE, an upsert), so that two
 * connections sharing an object (the custom roles of a subscription, the
 * provider's role assignment on a VNet) write it once.  A POST never.
 */
static bool
request_is_shareable(const HttpRequest *req)
{
	const char *method = req->method ? req->method : "GET";
	ListCell   *lc;

	if (strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 ||
		strcmp(method, "DELETE") == 0 || req->service == SERVICE_LOGIN)
		return true;
	if (strcmp(method, "PATCH") == 0)
		foreach(lc, req->headers)
			if (pg_strcasecmp(lfirst(lc), "Prefer: create-if-missing") == 0)
				return true;
	return false;
}

/* The ARM subscription a URL is in, or NULL. */
static char *
request_subscription(const HttpRequest *req)
{
	const char *p;
	size_t		len;

	if (req->service != SERVICE_ARM ||
		(p = strstr(req->url, "/subscriptions/")) == NULL)
		return NULL;
	p += strlen("/subscriptions/");
	len = strcspn(p, "/?");
	return len > 0 && len < 64 ? pnstrdup(p, len) : NULL;
}

static Answer *
find_answer(List *answers, const uint8 *key, int occurrence)
{
	ListCell   *lc;

	foreach(lc, answers)
	{
		Answer	   *a = lfirst(lc);

		if (a->occurrence == occurrence && memcmp(a->key, key, KEY_LEN) == 0)
			return a;
	}
	return NULL;
}

static Answer *
new_answer(const uint8 *key, int occurrence, HttpResponse *resp)
{
	Answer	   *a = palloc(sizeof(Answer));

	memcpy(a->key, key, KEY_LEN);
	a->occurrence = occurrence;
	a->resp = resp;
	return a;
}

/* How often this request came in the current replay, this one included. */
static int
count_asked(Run *run, const uint8 *key)
{
	Asked	   *a;
	ListCell   *lc;

	foreach(lc, run->asked)
	{
		a = lfirst(lc);
		if (memcmp(a->key, key, KEY_LEN) == 0)
			return ++a->count;
	}
	a = palloc(sizeof(Asked));
	memcpy(a->key, key, KEY_LEN);
	a->count = 1;
	run->asked = lappend(run->asked, a);
	return 1;
}

/*
 * A copy of the request that outlives the step, which may free or zero its
 * own (a token request's body holds a secret: zeroed once answered).
 */
static HttpRequest *
request_copy(const HttpRequest *req)
{
	HttpRequest *copy = palloc0(sizeof(HttpRequest));
	ListCell   *lc;

	copy->service = req->service;
	copy->method = req->method;
	copy->url = pstrdup(req->url);
	foreach(lc, req->headers)
		copy->headers = lappend(copy->headers, pstrdup(lfirst(lc)));
	copy->body = req->body ? pstrdup(req->body) : NULL;
	copy->content_type = req->content_type;
	copy->no_retry = req->no_retry;
	return copy;
}

/* Zeroes what a request may carry of secrets: tokens, a client secret. */
static void
request_forget(const HttpRequest *req)
{
	ListCell   *lc;

	foreach(lc, req->headers)
		explicit_bzero(lfirst(lc), strlen(lfirst(lc)));
	if (req->body != NULL)
		explicit_bzero((char *) req->body, strlen(req->body));
}

/*
 * Queues the request for run, or joins the same one already asked for: a
 * shareable request queued or sent since the attempt began answers it too.
 */
static void
engine_send(Engine *e, Run *run, const HttpRequest *req, const uint8 *key,
			int occurrence)
{
	Waiter	   *w = palloc(sizeof(Waiter));
	SharedAnswer *shared = NULL;
	Flight	   *f;

	w->run = run;
	w->occurrence = occurrence;
	if (occurrence == 1 && request_is_shareable(req))
	{
		bool		found;

		shared = hash_search(e->answers, key, HASH_ENTER, &found);
		if (!found)
		{
			shared->flight = NULL;
			shared->resp = NULL;
			shared->cxt = NULL;
			shared->used_in = 0;
			shared->sent = 0;
			shared->writer = NULL;
		}
		/* a read must be fresh for the attempt; a write is the same write */
		f = shared->flight;
		if (f != NULL &&
			(f->sent == 0 || f->sent >= run->fresh_since || request_is_write(req)))
		{
			f->waiters = lappend(f->waiters, w);
			return;
		}
	}

	f = palloc0(sizeof(Flight));
	memcpy(f->key, key, KEY_LEN);
	f->req = request_copy(req);
	f->shared = (shared != NULL);
	f->subscription = request_subscription(req);
	f->waiters = list_make1(w);
	if (shared != NULL)
		shared->flight = f;
	e->queue = lappend(e->queue, f);
}

/*
 * The hook of http_perform() while a step runs: the answer if the attempt
 * has it (or a read made for another connection since the attempt began),
 * else the request is queued and the step stops here, to run again once the
 * answer is in.
 */
static HttpResponse *
engine_perform(const HttpRequest *req)
{
	Run		   *run = current_run;
	uint8		key[KEY_LEN];
	int			occurrence;
	Answer	   *a;
	MemoryContext step_cxt;

	Assert(engine != NULL && run != NULL);
	request_key(req, key);
	occurrence = count_asked(run, key);
	a = find_answer(run->answers, key, occurrence);
	if (a != NULL)
		return a->resp;
	/* what outlives this replay belongs to the engine */
	step_cxt = MemoryContextSwitchTo(engine->cxt);
	if (occurrence == 1 && request_is_shareable(req))
	{
		SharedAnswer *shared = hash_search(engine->answers, key, HASH_FIND, NULL);

		/*
		 * A write done for another connection is done for this one too; the
		 * connection that made it, asking again in a later attempt, means
		 * to write once more (say, a peering whose operation failed).
		 */
		if (shared != NULL && shared->resp != NULL &&
			(shared->sent >= run->fresh_since ||
			 (request_is_write(req) && shared->writer != run &&
			  shared->resp->status >= 200 && shared->resp->status < 300)))
		{
			shared->used_in = engine->batch_no;
			run->answers = lappend(run->answers, new_answer(key, occurrence, shared->resp));
			MemoryContextSwitchTo(step_cxt);
			return shared->resp;
		}
	}
	engine_send(engine, run, req, key, occurrence);
	run->waiting = true;
	elog(ERROR, "peering: request queued for the engine");
	pg_unreachable();
}

/* ----------------------------------------------------------------
 * ARM throttling, per subscription
 * ---------------------------------------------------------------- */

static SubscriptionGate *
gate_of(Engine *e, const char *subscription)
{
	char		key[64] = {0};
	bool		found;
	SubscriptionGate *g;

	strlcpy(key, subscription, sizeof(key));
	g = hash_search(e->gates, key, HASH_ENTER, &found);
	if (!found)
		g->hold_until = 0;
	return g;
}

/*
 * Slows a subscription down before ARM's budget runs out, and stops it for
 * the Retry-After of a 429: other subscriptions go on.
 */
static void
gate_observe(void *tag, const HttpResponse *resp, void *arg)
{
	Engine	   *e = arg;
	const Flight *f = tag;
	TimestampTz now = GetCurrentTimestamp();
	SubscriptionGate *g;
	long		hold_ms = 0;

	if (f->subscription == NULL || resp == NULL)
		return;
	g = gate_of(e, f->subscription);
	if (resp->status == 429)
		hold_ms = resp->retry_after > 0 ? resp->retry_after * 1000L : ARM_THROTTLE_DEFAULT_MS;
	else if (resp->ratelimit_remaining >= 0 &&
			 resp->ratelimit_remaining < ARM_REMAINING_LOW)
		hold_ms = (ARM_REMAINING_LOW - resp->ratelimit_remaining) * 50L;
	if (hold_ms > 0)
		g->hold_until = Max(g->hold_until, TimestampTzPlusMilliseconds(now, hold_ms));
}

/* Milliseconds until the first held subscription opens, -1 if none. */
static long
gate_wait_ms(Engine *e, const Flight *f, TimestampTz now)
{
	SubscriptionGate *g;

	if (f->subscription == NULL)
		return 0;
	g = hash_search(e->gates, f->subscription, HASH_FIND, NULL);
	if (g == NULL || g->hold_until <= now)
		return 0;
	return TimestampDifferenceMilliseconds(now, g->hold_until);
}

/*
 * Moves queued requests into the batch while it has room, skipping those of
 * held subscriptions.  Returns how long the first held one still waits (-1:
 * none is held).
 */
static long
engine_submit(Engine *e)
{
	TimestampTz now = GetCurrentTimestamp();
	long		wait = -1;
	ListCell   *lc;

	foreach(lc, e->queue)
	{
		Flight	   *f = lfirst(lc);
		long		held;

		if (e->in_batch >= peering_max_parallel_requests)
			break;
		held = gate_wait_ms(e, f, now);
		if (held > 0)
		{
			wait = wait < 0 ? held : Min(wait, held);
			continue;
		}
		f->sent = now;
		http_batch_add(e->batch, f->req, f);
		e->in_batch++;
		e->queue = foreach_delete_current(e->queue, lc);
	}
	return wait;
}

/*
 * Keeps resp as the shared answer, moved into a context of its own that
 * engine_evict_answers() can free; the answer it replaces goes with the
 * batch, whose runs may still read it.
 */
static HttpResponse *
keep_shared_answer(Engine *e, SharedAnswer *shared, HttpResponse *resp)
{
	MemoryContext cxt = AllocSetContextCreate(e->answers_cxt, "peering answer",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	if (shared->cxt != NULL)
		MemoryContextSetParent(shared->cxt, e->cxt);
	shared->resp = http_response_move(resp);
	shared->cxt = cxt;
	MemoryContextSwitchTo(old);
	return shared->resp;
}

/* Hands an answer to everyone waiting for it, and runs their steps again. */
static void
engine_deliver(Engine *e, Flight *f, HttpResponse *resp)
{
	ListCell   *lc;

	e->in_batch--;
	request_forget(f->req);
	if (f->shared)
	{
		SharedAnswer *shared = hash_search(e->answers, f->key, HASH_FIND, NULL);

		if (shared->flight == f)
			shared->flight = NULL;
		if (shared->resp == NULL || f->sent >= shared->sent)
		{
			resp = keep_shared_answer(e, shared, resp);
			shared->sent = f->sent;
			shared->writer = ((Waiter *) linitial(f->waiters))->run;
		}
		shared->used_in = e->batch_no;
	}
	foreach(lc, f->waiters)
	{
		Waiter	   *w = lfirst(lc);

		w->run->answers = lappend(w->run->answers,
								  new_answer(f->key, w->occurrence, resp));
		run_attempt(e, w->run);
	}
}

/* ----------------------------------------------------------------
 * Runs
 * ---------------------------------------------------------------- */

/* A connection whose credential is gone cannot take a step. */
static bool
fail_without_credentials(PeeringConn *c, StepResult *r)
{
	if (c->attempt.azure_cred != NULL && c->attempt.aiven_cred != NULL)
		return false;
	r->outcome = STEP_FAILED;
	r->message = psprintf("credential \"%s\" does not exist",
						  c->attempt.azure_cred == NULL ? c->azure_credential : c->aiven_credential);
	r->hint = pstrdup("Create it again with peering_credential_set(), then call peering_retry().");
	return true;
}

/*
 * Runs the attempt's step from the start on a fresh copy of the saved row,
 * with the answers collected so far.  It ends with an outcome (the run is
 * finished, to be saved) or with a request queued.
 */
static void
run_attempt(Engine *e, Run *run)
{
	StepResult *r;

	if (run->attempt_cxt == NULL)
		run->attempt_cxt = AllocSetContextCreate(e->cxt, "peering attempt",
												 ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(run->attempt_cxt);
	MemoryContextSwitchTo(run->attempt_cxt);
	r = palloc0(sizeof(StepResult));
	run->conn = conn_copy(run->saved);
	run->conn->attempt.started = run->started;
	run->asked = NIL;
	run->waiting = false;
	r->retry_after = -1;
	remote_clear_error();

	if (!fail_without_credentials(run->conn, r))
	{
		current_run = run;
		http_perform_hook = engine_perform;
		PG_TRY();
		{
			step_run(run->conn, r);
		}
		PG_CATCH();
		{
			ErrorData  *ed;

			http_perform_hook = NULL;
			current_run = NULL;
			ed = peering_catch_error(run->attempt_cxt);
			if (run->waiting)
			{
				/* the next replay starts afresh: nothing to keep meanwhile */
				MemoryContextSwitchTo(e->cxt);
				MemoryContextDelete(run->attempt_cxt);
				run->attempt_cxt = NULL;
				run->conn = NULL;
				return;
			}
			engine_classify_error(run->conn, ed, r);
		}
		PG_END_TRY();
		http_perform_hook = NULL;
		current_run = NULL;
	}
	engine_apply_outcome(run->conn, r);
	MemoryContextSwitchTo(e->cxt);
	run->steps++;
	/* one that found nothing new can wait to be saved with the others */
	run->quiet = !run_goes_on(e, run) && catalog_only_rechecked(run->saved, run->conn);
	if (!run->quiet)
		e->loud++;
	e->finished = lappend(e->finished, run);
}

/*
 * Starts an attempt at the connection's current step, which a read sent
 * since fresh_since serves (0: since the attempt began).
 */
static void
run_start(Engine *e, Run *run, TimestampTz fresh_since)
{
	run->started = GetCurrentTimestamp();
	run->fresh_since = fresh_since != 0 ? fresh_since : run->started;
	run->answers = NIL;
	run_attempt(e, run);
}

/* Does the connection go on with its next step in this cycle? */
static bool
run_goes_on(Engine *e, const Run *run)
{
	const PeeringConn *c = run->conn;

	return !c->failed && c->next_attempt_at != 0 &&
		c->next_attempt_at <= GetCurrentTimestamp() &&
		GetCurrentTimestamp() < e->deadline &&
		run->steps < MAX_STEPS_PER_CYCLE;
}

/* ----------------------------------------------------------------
 * Saving
 * ---------------------------------------------------------------- */

/* A save, for save_in_subtransaction(). */
typedef struct SaveWork
{
	Run		   *run;			/* one run, saved by catalog_save() */
	bool		keep_claim;
	bool		current;		/* out: its progress was written */
	PeeringConn **rechecked;	/* or these, by catalog_save_rechecks() */
	int			n;
} SaveWork;

/*
 * Runs the save in a subtransaction of its own; NULL when it went through,
 * else the error (a cancel or shutdown is thrown on).
 */
static ErrorData *
save_in_subtransaction(SaveWork *work)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (work->run != NULL)
			work->current = catalog_save(work->run->saved, work->run->conn, true,
										 work->keep_claim);
		else
			catalog_save_rechecks(work->rechecked, work->n);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			ed->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(ed);
		failure = ed;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return failure;
}

/*
 * Saves one run in a subtransaction; false if that failed.  A row locked by
 * someone else is left for a later cycle; any other failure is recorded on
 * the row itself, so that a row that cannot be saved stops instead of
 * failing every cycle.
 */
static bool
save_run(Run *run, bool keep_claim, bool *current)
{
	SaveWork	work = {.run = run,.keep_claim = keep_claim};
	ErrorData  *ed = save_in_subtransaction(&work);

	*current = work.current;
	if (ed == NULL)
		return true;
	ereport(LOG,
			(errmsg("peering: could not save connection " INT64_FORMAT ": %s",
					run->conn->id, ed->message)));
	if (ed->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		catalog_record_save_failure(run->conn->id, ed->message);
	return false;
}

/*
 * Saves the runs whose step only looked and found nothing new in one
 * statement; if that fails, each on its own, so that the failure is
 * recorded on the row that causes it.
 */
static void
save_rechecks(Engine *e, Run **runs, int n)
{
	SaveWork	work = {.rechecked = palloc(sizeof(PeeringConn *) * n),.n = n};
	ErrorData  *ed;

	for (int i = 0; i < n; i++)
		work.rechecked[i] = runs[i]->conn;
	ed = save_in_subtransaction(&work);
	if (ed == NULL)
		return;
	ereport(LOG,
			(errmsg("peering: could not save %d re-checked connections together, saving each: %s",
					n, ed->message)));
	for (int i = 0; i < n; i++)
	{
		bool		current;

		(void) save_run(runs[i], false, &current);
		MemoryContextReset(e->save_cxt);
	}
}

/*
 * Frees what a run that is done for this cycle allocated, without waiting
 * for the end of its batch.
 */
static void
run_release(Run *run)
{
	if (run->goes_on)
	{
		run->goes_on = false;
		return;
	}
	if (run->attempt_cxt != NULL)
		MemoryContextDelete(run->attempt_cxt);
	if (run->saved_cxt != NULL)
		MemoryContextDelete(run->saved_cxt);
	run->attempt_cxt = run->saved_cxt = NULL;
	run->conn = NULL;
	run->saved = NULL;
	run->answers = NIL;
}

/* Counts a saved run that is due again at once, for the next cycle. */
static void
count_due_again(Engine *e, const Run *run)
{
	if (!run->conn->failed && run->conn->next_attempt_at != 0 &&
		run->conn->next_attempt_at <= GetCurrentTimestamp())
		e->due_again++;
}

/*
 * Saves every finished run in one short transaction (those that only
 * looked and found nothing new in one statement), then starts the next
 * step of those that go on: only after COMMIT, so that each step is
 * committed before the next one calls out.
 */
static void
engine_save(Engine *e)
{
	List	   *going_on = NIL;
	List	   *credentials = NIL;
	Run		  **rechecked;
	int			n_rechecked = 0;
	ListCell   *lc;

	if (e->finished == NIL)
		return;
	rechecked = palloc(sizeof(Run *) * list_length(e->finished));
	e->hooks->begin();
	MemoryContextSwitchTo(e->cxt);
	foreach(lc, e->finished)
	{
		Run		   *run = lfirst(lc);
		bool		goes_on = run_goes_on(e, run);
		bool		current = false;
		bool		saved;

		/* nothing new: saved together below */
		if (run->quiet)
		{
			rechecked[n_rechecked++] = run;
			continue;
		}
		MemoryContextSwitchTo(e->save_cxt);
		saved = save_run(run, goes_on, &current);
		MemoryContextSwitchTo(e->cxt);
		MemoryContextReset(e->save_cxt);
		if (!saved)
			continue;
		run->goes_on = goes_on && current;
		if (run->goes_on)
			going_on = lappend(going_on, run);
		else
			count_due_again(e, run);
	}
	if (n_rechecked > 0)
	{
		MemoryContextSwitchTo(e->save_cxt);
		save_rechecks(e, rechecked, n_rechecked);
		MemoryContextSwitchTo(e->cxt);
		MemoryContextReset(e->save_cxt);
		for (int i = 0; i < n_rechecked; i++)
			count_due_again(e, rechecked[i]);
	}
	pfree(rechecked);
	/* what the next steps need, as of everything just saved */
	foreach(lc, going_on)
		step_prepare(((Run *) lfirst(lc))->conn, &credentials);
	e->hooks->commit();
	MemoryContextSwitchTo(e->cxt);
	foreach(lc, e->finished)
		run_release(lfirst(lc));
	list_free(e->finished);
	e->finished = NIL;
	e->loud = 0;

	foreach(lc, going_on)
	{
		Run		   *run = lfirst(lc);
		MemoryContext spare = run->saved_cxt;

		/* the finished attempt becomes the saved row; the old one is reused */
		run->saved = run->conn;
		run->saved_cxt = run->attempt_cxt;
		run->attempt_cxt = spare;
		run->saved->attempt.events = NIL;
		run_start(e, run, 0);
	}
	list_free(going_on);
}

/* ----------------------------------------------------------------
 * The cycle
 * ---------------------------------------------------------------- */

/* Waits for something to happen: an answer, a gate opening. */
static void
engine_wait(Engine *e, long gate_ms)
{
	HttpResponse *resp;
	void	   *tag;

	if (http_batch_size(e->batch) == 0)
	{
		/* only held subscriptions are left */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(gate_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		return;
	}
	if (!http_batch_next(e->batch, &resp, &tag, gate_ms))
		return;
	engine_deliver(e, tag, resp);
	/* what else has finished meanwhile, before saving once for all */
	while (http_batch_next(e->batch, &resp, &tag, 0))
		engine_deliver(e, tag, resp);
}

/*
 * Starts the steps of a batch of claimed connections, then sends, waits and
 * saves until no request is queued or in flight and nothing is left to
 * save.  A step that changed something is saved as soon as it is done, so
 * that its next step can start; those that only looked and found nothing
 * new are saved together once the batch has nothing else to do, or with
 * the next save.  A read made for an earlier batch of the cycle serves them
 * too.
 */
static void
engine_loop(Engine *e, List *conns)
{
	ListCell   *lc;

	foreach(lc, conns)
	{
		Run		   *run = palloc0(sizeof(Run));

		run->saved = lfirst(lc);
		run_start(e, run, e->claimed_at);
	}
	for (;;)
	{
		long		gate_ms;
		bool		idle;

		/* a step that changed something is saved at once, the others later */
		if (e->loud > 0)
			engine_save(e);
		gate_ms = engine_submit(e);
		idle = http_batch_size(e->batch) == 0 && e->queue == NIL;
		if (idle && e->finished == NIL)
			break;
		if (idle || e->loud > 0)
			engine_save(e);
		else
			engine_wait(e, gate_ms);
	}
}

/*
 * Loads the next batch of claimed connections (a short transaction) with
 * what their steps need, in the batch's context.
 */
static List *
engine_load_batch(Engine *e, const int64 *ids, int n)
{
	List	   *conns;
	List	   *credentials = NIL;
	ListCell   *lc;

	e->hooks->begin();
	MemoryContextSwitchTo(e->cxt);
	conns = catalog_load_claimed(ids, n);
	foreach(lc, conns)
		step_prepare(lfirst(lc), &credentials);
	e->hooks->commit();
	MemoryContextSwitchTo(e->cxt);
	return conns;
}

/* A shared answer that may be dropped, and what it holds. */
typedef struct KeptAnswer
{
	SharedAnswer *shared;
	Size		size;
} KeptAnswer;

/*
 * Those used longest ago first; among those last used in the same batch,
 * the largest: a VNet's list of peerings serves the rows of that VNet,
 * which the claim puts together, while a project VPC's small answer serves
 * rows all through the cycle.
 */
static int
answer_by_use(const void *a, const void *b)
{
	const KeptAnswer *x = a;
	const KeptAnswer *y = b;

	if (x->shared->used_in != y->shared->used_in)
		return (x->shared->used_in > y->shared->used_in) - (x->shared->used_in < y->shared->used_in);
	return (x->size < y->size) - (x->size > y->size);
}

/*
 * Keeps the shared answers within ENGINE_ANSWERS_BUDGET bytes: past it,
 * those answer_by_use() puts first are dropped (a later batch that asks
 * again reads afresh).  Between batches only, when no run holds an answer.
 */
static void
engine_evict_answers(Engine *e)
{
	HASH_SEQ_STATUS status;
	SharedAnswer *shared;
	KeptAnswer *kept;
	int			n = 0;
	Size		total = 0;

	if (MemoryContextMemAllocated(e->answers_cxt, true) <= ENGINE_ANSWERS_BUDGET)
		return;
	kept = palloc(sizeof(KeptAnswer) * hash_get_num_entries(e->answers));
	hash_seq_init(&status, e->answers);
	while ((shared = hash_seq_search(&status)) != NULL)
	{
		if (shared->cxt == NULL)
			continue;
		kept[n].shared = shared;
		kept[n].size = MemoryContextMemAllocated(shared->cxt, true);
		total += kept[n++].size;
	}
	qsort(kept, n, sizeof(KeptAnswer), answer_by_use);
	for (int i = 0; i < n && total > ENGINE_ANSWERS_BUDGET; i++)
	{
		total -= kept[i].size;
		MemoryContextDelete(kept[i].shared->cxt);
		kept[i].shared->cxt = NULL;
		kept[i].shared->resp = NULL;
	}
	pfree(kept);
}

/*
 * Ends a batch: what its runs allocated is freed, and answers past the
 * budget; the others stay for the next batch, but none remembers a run as
 * its writer any more.
 */
static void
engine_end_batch(Engine *e)
{
	HASH_SEQ_STATUS status;
	SharedAnswer *shared;

	hash_seq_init(&status, e->answers);
	while ((shared = hash_seq_search(&status)) != NULL)
		shared->writer = NULL;
	MemoryContextSwitchTo(e->answers_cxt);
	MemoryContextReset(e->cxt);
	engine_evict_answers(e);
	MemoryContextSwitchTo(e->cxt);
	e->batch_no++;
}

static HTAB *
engine_hash(const char *name, Size keysize, Size entrysize, MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = cxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * One cycle: claims at most limit due connections (a short transaction) and
 * works through them in batches of ENGINE_BATCH_SIZE: each batch is loaded
 * in a short transaction, its steps run with no transaction open while a
 * request is out, and each finished step is saved in a short transaction
 * (engine_save).  A connection whose next step is due at once goes on
 * within its batch.  What a batch allocates is freed after it, so the
 * memory of a cycle does not grow with the number of connections; the
 * answers are kept for the later batches, up to ENGINE_ANSWERS_BUDGET
 * (engine_evict_answers).  Connections not started before the deadline
 * stay claimed for the next cycle.  Called with no transaction open: hooks
 * begin and commit each short transaction.  Allocates in cycle_cxt, which
 * it leaves current.
 * Returns how many connections are due again at once, those not started
 * included.
 */
int
engine_cycle(const CycleHooks *hooks, MemoryContext cycle_cxt, int limit)
{
	Engine	   *e;
	int64	   *ids;
	int			n;
	volatile int done = 0;

	/* phase 1: claim due work in a short transaction */
	hooks->begin();
	MemoryContextSwitchTo(cycle_cxt);
	ids = catalog_claim_due(limit, &n);
	hooks->commit();
	MemoryContextSwitchTo(cycle_cxt);
	if (n == 0)
		return 0;

	e = palloc0(sizeof(Engine));
	e->hooks = hooks;
	e->claimed_at = GetCurrentTimestamp();
	e->cxt = AllocSetContextCreate(cycle_cxt, "peering batch", ALLOCSET_DEFAULT_SIZES);
	e->answers_cxt = AllocSetContextCreate(cycle_cxt, "peering answers", ALLOCSET_DEFAULT_SIZES);
	e->save_cxt = AllocSetContextCreate(cycle_cxt, "peering save", ALLOCSET_DEFAULT_SIZES);
	e->answers = engine_hash("peering shared answers", KEY_LEN, sizeof(SharedAnswer), cycle_cxt);
	e->gates = engine_hash("peering subscription gates", 64, sizeof(SubscriptionGate),
						   cycle_cxt);
	/* stop starting steps well before the claims run out */
	e->deadline = TimestampTzPlusMilliseconds(e->claimed_at,
											  (int64) catalog_claim_lease_ms() / 2);

	/* phase 2 and 3, a batch at a time: the network, saves in short transactions */
	e->batch = http_batch_begin(peering_max_parallel_requests);
	http_batch_observe(e->batch, gate_observe, e);
	engine = e;
	PG_TRY();
	{
		while (done < n && GetCurrentTimestamp() < e->deadline)
		{
			int			size = Min(n - done, ENGINE_BATCH_SIZE);

			engine_loop(e, engine_load_batch(e, ids + done, size));
			engine_end_batch(e);
			done += size;
		}
	}
	PG_FINALLY();
	{
		engine = NULL;
		current_run = NULL;
		http_perform_hook = NULL;
		http_batch_end(e->batch);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cycle_cxt);
	return e->due_again + (n - done);
}
