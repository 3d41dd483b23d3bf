/*
 * graph.h
 *		The Microsoft Graph v1.0 calls peering needs (docs/remote-apis.md §3).
 *		Every function raises ERROR through remote_raise() on failure unless it
 *		says otherwise.  Results are palloc'd.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_GRAPH_H
#define PEERING_GRAPH_H

#include "nodes/pg_list.h"

typedef struct GraphApplication
{
	char	   *id;				/* object id */
	char	   *app_id;			/* client id */
	char	   *unique_name;
	char	   *display_name;
	char	   *sign_in_audience;
	List	   *password_key_ids;	/* of char * */
	bool		created;		/* by this call */
} GraphApplication;

typedef struct GraphPassword
{
	char	   *key_id;
	char	   *secret_text;	/* returned once; never log it */
	char	   *end_date_time;
} GraphPassword;

typedef struct GraphServicePrincipal
{
	char	   *id;				/* object id: ARM principalId */
	char	   *app_id;
	bool		created;		/* by this call */
} GraphServicePrincipal;

/*
 * PATCH /applications(uniqueName='…') with Prefer: create-if-missing,
 * multi-tenant (AzureADMultipleOrgs).  On 204 the application is read back.
 * NULL when another object holds the uniqueName (a deleted application keeps
 * it in the recycle bin for 30 days).
 */
extern GraphApplication *graph_upsert_application(const char *token,
												  const char *unique_name,
												  const char *display_name);

/* GET /applications/{id}; NULL on 404 */
extern GraphApplication *graph_get_application(const char *token,
											   const char *object_id);

/* GET /applications(appId='…'); NULL on 404 */
extern GraphApplication *graph_get_application_by_app_id(const char *token,
														 const char *app_id);

/* GET /applications(uniqueName='…'); NULL on 404 */
extern GraphApplication *graph_find_application(const char *token,
												const char *unique_name);

/* POST /applications/{id}/addPassword, valid until end_date_time (ISO 8601) */
extern GraphPassword *graph_add_password(const char *token, const char *app_object_id,
										 const char *display_name,
										 const char *end_date_time);

/* POST /applications/{id}/removePassword; a key already gone is fine */
extern void graph_remove_password(const char *token, const char *app_object_id,
								  const char *key_id);

/* DELETE /applications/{id}; false when it was already gone */
extern bool graph_delete_application(const char *token, const char *object_id);

/* A soft-deleted application of that uniqueName in the recycle bin, or NULL. */
extern GraphApplication *graph_find_deleted_application(const char *token,
														const char *unique_name);

/* Permanently deletes a soft-deleted object; false if it was not there. */
extern bool graph_purge_deleted(const char *token, const char *object_id);

/* PATCH /servicePrincipals(appId='…') with Prefer: create-if-missing */
extern GraphServicePrincipal *graph_upsert_service_principal(const char *token,
															 const char *app_id);

/* GET /servicePrincipals(appId='…'); NULL on 404 */
extern GraphServicePrincipal *graph_get_service_principal(const char *token,
														  const char *app_id);

/* DELETE /servicePrincipals/{id}; false when it was already gone */
extern bool graph_delete_service_principal(const char *token, const char *sp_id);

#endif							/* PEERING_GRAPH_H */
