/*
 * guc.c
 *		The peering.* settings (docs/architecture.md §7).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Endpoints, the CA file, the provider application and the HTTP timeout are
 * PGC_SUSET and hidden from ordinary roles: a role able to point
 * peering.arm_url at its own server would harvest tokens.  What only the
 * worker reads is PGC_SIGHUP; the worker's database is fixed at start.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "peering.h"
#include "util.h"

char	   *peering_database = NULL;
char	   *peering_aiven_url = NULL;
char	   *peering_login_url = NULL;
char	   *peering_graph_url = NULL;
char	   *peering_arm_url = NULL;
char	   *peering_ca_file = NULL;
char	   *peering_provider_app_id = NULL;
int			peering_poll_interval = 10;
int			peering_recheck_interval = 600;
int			peering_http_timeout = 30000;
int			peering_max_parallel_requests = 8;
bool		peering_worker_enabled = true;
bool		peering_auto_repair = false;
int			peering_transient_retry_budget = 1800;
int			peering_replication_retry_budget = 1800;
int			peering_throttling_retry_budget = 3600;
int			peering_wait_budget = 7200;
int			peering_app_secret_lifetime = 3600;

/* An endpoint is an https URL with a host and without query or fragment. */
static bool
check_endpoint(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;

	if (url == NULL || strncmp(url, "https://", 8) != 0 || url[8] == '\0' ||
		url[8] == '/' || strpbrk(url, "?# \t\r\n") != NULL)
	{
		GUC_check_errdetail("The value must be an https URL without query or fragment, such as \"https://management.azure.com\".");
		return false;
	}
	return true;
}

static bool
check_ca_file(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0' && (*newval)[0] != '/')
	{
		GUC_check_errdetail("The CA file must be given as an absolute path.");
		return false;
	}
	return true;
}

static bool
check_uuid(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || !peering_is_uuid(*newval))
	{
		GUC_check_errdetail("The value must be a UUID such as \"55f300d4-fc50-4c5e-9222-e90a6e2187fb\".");
		return false;
	}
	return true;
}

static bool
check_database(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("A database name is required.");
		return false;
	}
	return true;
}

static void
define_endpoint(const char *name, const char *desc, char **var, const char *def)
{
	DefineCustomStringVariable(name, desc, NULL, var, def,
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_endpoint, NULL, NULL);
}

/* A time budget of one retry class; the worker reads it, so SIGHUP. */
static void
define_retry_budget(const char *name, const char *desc, int *var, int def)
{
	DefineCustomIntVariable(name, desc,
							"Each failed attempt waits longer (exponential backoff with jitter, capped at peering.poll_interval, or the service's Retry-After).",
							var, def, 1, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

/* Defines the peering.* settings; from _PG_init(). */
void
peering_define_gucs(void)
{
	DefineCustomStringVariable("peering.database",
							   "Database the peering background worker connects to.",
							   NULL, &peering_database, "postgres",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
							   check_database, NULL, NULL);
	define_endpoint("peering.aiven_url", "Base URL of the Aiven API.",
					&peering_aiven_url, "https://api.aiven.io");
	define_endpoint("peering.login_url", "Base URL of the Azure AD token endpoint.",
					&peering_login_url, "https://login.microsoftonline.com");
	define_endpoint("peering.graph_url", "Base URL of Microsoft Graph.",
					&peering_graph_url, "https://graph.microsoft.com");
	define_endpoint("peering.arm_url", "Base URL of Azure Resource Manager.",
					&peering_arm_url, "https://management.azure.com");
	DefineCustomStringVariable("peering.ca_file",
							   "File of CA certificates that remote servers must be signed by; empty means the system store.",
							   NULL, &peering_ca_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_ca_file, NULL, NULL);
	DefineCustomStringVariable("peering.provider_app_id",
							   "Application id of the provider's (Aiven's) multi-tenant Azure AD application.",
							   NULL, &peering_provider_app_id,
							   "55f300d4-fc50-4c5e-9222-e90a6e2187fb",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   check_uuid, NULL, NULL);
	DefineCustomIntVariable("peering.poll_interval",
							"Longest wait between two polls of a connection that is changing.",
							"Polling is fast right after each step and backs off up to this interval.",
							&peering_poll_interval, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("peering.recheck_interval",
							"Interval between drift checks of ACTIVE connections.",
							NULL, &peering_recheck_interval, 600, 1, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("peering.http_timeout",
							"Timeout of one HTTP request attempt; in-place retries wait at most this long in all.",
							NULL, &peering_http_timeout, 30000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS | GUC_SUPERUSER_ONLY,
							NULL, NULL, NULL);
	DefineCustomIntVariable("peering.max_parallel_requests",
							"Most HTTP requests the worker has in flight at once.",
							NULL, &peering_max_parallel_requests, 8, 1, 256,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("peering.worker_enabled",
							 "Lets the background worker drive connections; when off, use CALL peering_run().",
							 NULL, &peering_worker_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("peering.auto_repair",
							 "Re-creates what a re-check finds missing or disconnected, without peering_retry().",
							 "At most three repairs of a connection within peering.transient_retry_budget; then it stops with a hint.",
							 &peering_auto_repair, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	define_retry_budget("peering.transient_retry_budget",
						"How long a step is retried after network errors, timeouts and 5xx answers before the connection stops as failed.",
						&peering_transient_retry_budget, 1800);
	define_retry_budget("peering.replication_retry_budget",
						"How long a step is retried while Entra ID replicates a new object or Azure propagates a new role or grant.",
						&peering_replication_retry_budget, 1800);
	define_retry_budget("peering.throttling_retry_budget",
						"How long a step is retried while a service answers 429 Too Many Requests.",
						&peering_throttling_retry_budget, 3600);
	DefineCustomIntVariable("peering.wait_budget",
							"How long a step may wait for the remote side before the connection stops as failed.",
							"Aiven building its side, PENDING_PEER to ACTIVE, Azure provisioning the peering, DELETING to DELETED, a project VPC still being built; peering_retry() waits again.",
							&peering_wait_budget, 7200, 1, 30 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("peering.app_secret_lifetime",
							"Lifetime of each application secret the extension adds (its endDateTime).",
							"A secret exists only while the Azure peering is being created or repaired; it is removed once that peering is provisioned.",
							&peering_app_secret_lifetime, 3600, 300, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	MarkGUCPrefixReserved("peering");
}
