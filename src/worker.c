/*
 * worker.c
 *		The two drivers of the engine's cycle: the peering background worker,
 *		which wakes at the COMMIT of peering_create, peering_retry and
 *		peering_delete (latch), when the next connection is due, and on a
 *		bounded safety-net timeout, and does nothing on a standby; and CALL
 *		peering_run(), which commits through SPI.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "api.h"
#include "catalog.h"
#include "engine.h"
#include "peering.h"
#include "worker.h"

/* Longest sleep: wake-ups can be lost (direct inserts, PREPARE TRANSACTION). */
#define SAFETY_NET_MS		60000L
/* how often a worker looks for CREATE or ALTER EXTENSION, which wake nobody */
#define EXTENSION_POLL_MS	2000L

typedef struct PeeringShared
{
	slock_t		mutex;
	Latch	   *worker_latch;	/* NULL when no worker runs */
} PeeringShared;

static PeeringShared *peering_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Resource owner of the network phase, between transactions: PostgreSQL's
 * SHA-1 (UUIDv5 names) registers its OpenSSL context with one.
 */
static ResourceOwner worker_owner = NULL;

static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static void
peering_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PeeringShared)));
}

static void
peering_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	peering_shared = ShmemInitStruct("peering", sizeof(PeeringShared), &found);
	if (!found)
	{
		SpinLockInit(&peering_shared->mutex);
		peering_shared->worker_latch = NULL;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Requests and sets up the shared state (the worker's latch) through the
 * shmem hooks; from _PG_init() of a library in shared_preload_libraries.
 */
void
peering_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = peering_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = peering_shmem_startup;
}

/*
 * Registers the background worker, restarted a second after it exits; from
 * _PG_init() of a library in shared_preload_libraries.
 */
void
peering_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* not on a hot standby; starts at promotion */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "peering");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "peering_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "peering worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "peering worker");
	RegisterBackgroundWorker(&worker);
}

static void
wake_worker(void)
{
	Latch	   *latch;

	if (peering_shared == NULL)
		return;
	SpinLockAcquire(&peering_shared->mutex);
	latch = peering_shared->worker_latch;
	SpinLockRelease(&peering_shared->mutex);
	if (latch)
		SetLatch(latch);
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	if (!wake_at_commit)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			wake_worker();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction is picked up by the safety net */
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Wakes the worker when the current transaction commits (nothing happens
 * if it aborts).
 */
void
peering_wake_worker_at_commit(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/* ----------------------------------------------------------------
 * Transactions of the worker's cycle
 * ---------------------------------------------------------------- */

static void
worker_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "peering: reading or writing connections");
}

static void
worker_commit(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	CurrentResourceOwner = worker_owner;
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

static const CycleHooks worker_hooks = {worker_begin, worker_commit};

/* CALL peering_run(): SPI_commit ends a transaction and starts the next. */
static void
procedure_begin(void)
{
}

static void
procedure_commit(void)
{
	SPI_commit();
}

static const CycleHooks procedure_hooks = {procedure_begin, procedure_commit};

PG_FUNCTION_INFO_V1(peering_run);

/*
 * CALL peering_run(): the worker's cycle, committing after each step, until
 * nothing is due now.  Not SECURITY DEFINER (it commits); catalog.c reads
 * the tables as the extension owner with search_path pinned around each
 * statement, so the caller's search_path neither reaches them nor changes.
 */
Datum
peering_run(PG_FUNCTION_ARGS)
{
	MemoryContext cycle_cxt;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("peering_run() must be called with CALL outside a transaction block"),
				 errdetail("It commits after each step.")));
	refuse_on_standby("peering_run");

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "peering_run cycle",
									  ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		for (;;)
		{
			MemoryContextReset(cycle_cxt);
			if (engine_cycle(&procedure_hooks, cycle_cxt, ENGINE_CLAIM_LIMIT) == 0)
				break;
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(cycle_cxt);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_VOID();
}


/* ----------------------------------------------------------------
 * The worker
 * ---------------------------------------------------------------- */

static void
worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&peering_shared->mutex);
	if (peering_shared->worker_latch == MyLatch)
		peering_shared->worker_latch = NULL;
	SpinLockRelease(&peering_shared->mutex);
}

/*
 * Is there work to look at: the switch on, and the extension installed at
 * the version of this library (said once in the log while it is not).
 */
static bool
worker_should_run(void)
{
	static bool reported_version = false;
	char	   *version;
	bool		current;

	if (!peering_worker_enabled || RecoveryInProgress())
		return false;
	worker_begin();
	version = catalog_installed_version();
	worker_commit();
	current = version != NULL && strcmp(version, PEERING_CATALOG_VERSION) == 0;
	if (version != NULL && !current && !reported_version)
		ereport(LOG,
				(errmsg("peering worker waits: extension \"peering\" is at version %s, but its library needs version %s",
						version, PEERING_CATALOG_VERSION),
				 errhint("Run ALTER EXTENSION peering UPDATE in database \"%s\".",
						 peering_database)));
	reported_version = version != NULL && !current;
	return current;
}

/* Milliseconds until the next connection is due, within the safety net. */
static long
worker_sleep_ms(void)
{
	TimestampTz due;
	long		ms;

	worker_begin();
	due = catalog_next_due();
	worker_commit();
	if (due == 0)
		return SAFETY_NET_MS;
	ms = (long) ((due - GetCurrentTimestamp()) / 1000);
	/* a connection claimed by another driver must not spin us */
	return Max(100L, Min(ms, SAFETY_NET_MS));
}

/*
 * The background worker: connects to peering.database and runs cycles
 * while there is due work, sleeping on its latch until woken at a COMMIT,
 * the next connection is due or the safety net fires.  Exits on SIGTERM.
 */
void
peering_worker_main(Datum main_arg)
{
	MemoryContext cycle_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(peering_database, NULL, 0);

	/*
	 * The connection applied the database's settings, which its owner may
	 * have chosen: ALTER DATABASE ... SET search_path would put the owner's
	 * operators before pg_catalog's in our statements, run as superuser.
	 * Pinned before the first query, as the logical replication worker does.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("peering worker");
	worker_owner = ResourceOwnerCreate(NULL, "peering worker");
	CurrentResourceOwner = worker_owner;

	SpinLockAcquire(&peering_shared->mutex);
	peering_shared->worker_latch = MyLatch;
	SpinLockRelease(&peering_shared->mutex);
	before_shmem_exit(worker_detach, (Datum) 0);

	ereport(LOG,
			(errmsg("peering worker started in database \"%s\"", peering_database)));

	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "peering cycle",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		sleep_ms = SAFETY_NET_MS;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (worker_should_run())
		{
			int			advanced;

			MemoryContextReset(cycle_cxt);
			advanced = engine_cycle(&worker_hooks, cycle_cxt, ENGINE_CLAIM_LIMIT);
			MemoryContextSwitchTo(TopMemoryContext);
			sleep_ms = advanced > 0 ? 0 : worker_sleep_ms();
		}
		else if (peering_worker_enabled && !RecoveryInProgress())
			sleep_ms = EXTENSION_POLL_MS;

		if (sleep_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
