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

extern GraphApplication *graph_upsert_application(const char *token,
												  const char *unique_name,
												  const char *display_name);

extern GraphApplication *graph_get_application(const char *token,
											   const char *object_id);

extern GraphApplication *graph_get_application_by_app_id(const char *token,
														 const char *app_id);

extern GraphApplication *graph_find_application(const char *token,
												const char *unique_name);

extern GraphPassword *graph_add_password(const char *token, const char *app_object_id,
										 const char *display_name,
										 const char *end_date_time);

extern void graph_remove_password(const char *token, const char *app_object_id,
								  const char *key_id);

extern bool graph_delete_application(const char *token, const char *object_id);

extern GraphApplication *graph_find_deleted_application(const char *token,
														const char *unique_name);

extern bool graph_purge_deleted(const char *token, const char *object_id);

extern GraphServicePrincipal *graph_upsert_service_principal(const char *token,
															 const char *app_id);

extern GraphServicePrincipal *graph_get_service_principal(const char *token,
														  const char *app_id);

extern bool graph_delete_service_principal(const char *token, const char *sp_id);

#endif							/* PEERING_GRAPH_H */
