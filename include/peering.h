/*
 * peering.h
 *		Constants and settings shared by every part of the peering extension.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_H
#define PEERING_H

#define PEERING_SCHEMA			"peering"

/*
 * The version of the SQL objects this library reads and writes.  A database
 * still at an older version (the package was upgraded, ALTER EXTENSION was
 * not run yet) is left alone until it is updated.
 */
#define PEERING_CATALOG_VERSION	"1.2"
#define PEERING_NOTIFY_CHANNEL	"peering"

/* ARM api-versions (docs/remote-apis.md §4) */
#define ARM_API_NETWORK			"2024-05-01"
#define ARM_API_AUTHORIZATION	"2022-04-01"
#define ARM_API_SUBSCRIPTIONS	"2022-12-01"

/* Well-known ids */
#define AZURE_NETWORK_CONTRIBUTOR_ROLE "4d97b98b-1d4f-4787-a291-c67834d212e7"
#define AZURE_SCOPE_ARM			"https://management.azure.com/.default"
#define AZURE_SCOPE_GRAPH		"https://graph.microsoft.com/.default"

/* Settings (guc.c); see docs/architecture.md §7 */
extern char *peering_database;
extern char *peering_aiven_url;
extern char *peering_login_url;
extern char *peering_graph_url;
extern char *peering_arm_url;
extern char *peering_ca_file;
extern char *peering_provider_app_id;
extern int	peering_poll_interval;		/* seconds */
extern int	peering_recheck_interval;	/* seconds */
extern int	peering_http_timeout;		/* milliseconds */
extern int	peering_max_parallel_requests;
extern bool peering_worker_enabled;
extern bool peering_auto_repair;
extern int	peering_transient_retry_budget;	/* seconds */
extern int	peering_replication_retry_budget;	/* seconds */
extern int	peering_throttling_retry_budget;	/* seconds */
extern int	peering_wait_budget;	/* seconds */
extern int	peering_app_secret_lifetime;	/* seconds */

extern void peering_define_gucs(void);

#endif							/* PEERING_H */
