/*
 * graph.c
 *		The Microsoft Graph v1.0 calls peering needs (docs/remote-apis.md §3).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Requests go to peering.graph_url + "/v1.0" with "Authorization: Bearer
 * <token>".  Alternate keys are addressed as /applications(uniqueName='…')
 * and /servicePrincipals(appId='…'), the value OData-quoted (single quotes
 * doubled) and then percent-encoded.
 */
#include "postgres.h"

#include "peering.h"
#include "http.h"
#include "jsonutil.h"
#include "remote.h"
#include "rest.h"
#include "graph.h"


/* ----------------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------------
 */

/* A path segment by object id: "/{collection}/{id}" */
static char *
graph_by_id(const char *collection, const char *id)
{
	return psprintf("/%s/%s", collection, http_escape(id));
}

/* A path segment by alternate key: "/{collection}({key}='{value}')" */
static char *
graph_by_key(const char *collection, const char *key, const char *value)
{
	return psprintf("/%s(%s='%s')", collection, key,
					http_escape(rest_odata_string(value)));
}

/* Sends method on path; "Prefer: create-if-missing" when upsert. */
static HttpResponse *
graph_send(const char *token, const char *method, const char *path,
		   const char *body, bool upsert, bool no_retry)
{
	char	   *url = psprintf("%s/v1.0%s", rest_base_url(peering_graph_url), path);
	HttpRequest *req = rest_request(SERVICE_GRAPH, method, url, "Bearer",
									token, body);

	if (upsert)
		req->headers = http_add_header(req->headers, "Prefer", "create-if-missing");
	req->no_retry = no_retry;
	return http_perform(req);
}

/* GET path: the 2xx response, NULL on 404 when missing_ok; raises otherwise. */
static HttpResponse *
graph_read(const char *token, const char *path, const char *operation,
		   bool missing_ok)
{
	HttpResponse *resp = graph_send(token, "GET", path, NULL, false, false);

	if (missing_ok && resp->status == 404)
		return NULL;
	if (!rest_ok(resp))
		remote_raise(SERVICE_GRAPH, operation, resp);
	return resp;
}

/*
 * PATCH path with Prefer: create-if-missing.  Returns the response holding
 * the object: the 201 (created) or, after a 204, a GET of the same path.
 * NULL when the key is held by another object (a 400 Request_BadRequest
 * whose message has taken_marker), if the caller names that marker.
 */
static HttpResponse *
graph_upsert(const char *token, const char *path, const char *body,
			 const char *operation, const char *taken_marker, bool *created)
{
	HttpResponse *resp = graph_send(token, "PATCH", path, body, true, false);

	*created = (resp->status == 201);
	if (taken_marker != NULL &&
		remote_error_is(SERVICE_GRAPH, resp, 400, "Request_BadRequest", taken_marker))
		return NULL;
	if (resp->status == 204)
		return graph_read(token, path, operation, false);
	if (!rest_ok(resp))
		remote_raise(SERVICE_GRAPH, operation, resp);
	return resp;
}

/* DELETE path: true on 2xx, false on 404; raises otherwise. */
static bool
graph_delete(const char *token, const char *path, const char *operation)
{
	HttpResponse *resp = graph_send(token, "DELETE", path, NULL, false, false);

	if (resp->status == 404)
		return false;
	if (!rest_ok(resp))
		remote_raise(SERVICE_GRAPH, operation, resp);
	return true;
}

/* An application object; resp and operation are for error messages. */
static GraphApplication *
graph_application_parse(json_t *root, const HttpResponse *resp,
						const char *operation, bool created)
{
	GraphApplication *app = palloc0(sizeof(GraphApplication));
	json_t	   *creds;
	json_t	   *cred;
	size_t		i;

	app->id = json_get_text(root, "id");
	app->app_id = json_get_text(root, "appId");
	app->unique_name = json_get_text(root, "uniqueName");
	app->display_name = json_get_text(root, "displayName");
	app->sign_in_audience = json_get_text(root, "signInAudience");
	app->created = created;
	if (!app->id || !app->app_id)
		rest_unexpected(SERVICE_GRAPH, operation, resp,
						"the application lacks \"id\" or \"appId\"");

	creds = json_object_get(root, "passwordCredentials");
	json_array_foreach(creds, i, cred)
	{
		char	   *key_id = json_get_text(cred, "keyId");

		if (key_id == NULL)
			rest_unexpected(SERVICE_GRAPH, operation, resp,
							"a password credential lacks \"keyId\"");
		app->password_key_ids = lappend(app->password_key_ids, key_id);
	}
	return app;
}

static GraphApplication *
graph_application_from(const HttpResponse *resp, const char *operation,
					   bool created)
{
	json_t	   *root = rest_json(SERVICE_GRAPH, operation, resp);
	GraphApplication *app = graph_application_parse(root, resp, operation, created);

	json_decref(root);
	return app;
}

static GraphServicePrincipal *
graph_service_principal_from(const HttpResponse *resp, const char *operation,
							 bool created)
{
	json_t	   *root = rest_json(SERVICE_GRAPH, operation, resp);
	GraphServicePrincipal *sp = palloc0(sizeof(GraphServicePrincipal));

	sp->id = json_get_text(root, "id");
	sp->app_id = json_get_text(root, "appId");
	sp->created = created;
	if (!sp->id || !sp->app_id)
		rest_unexpected(SERVICE_GRAPH, operation, resp,
						"the service principal lacks \"id\" or \"appId\"");
	json_decref(root);
	return sp;
}

/* ----------------------------------------------------------------------
 * Applications
 * ----------------------------------------------------------------------
 */

/*
 * PATCH /applications(uniqueName='…') with Prefer: create-if-missing,
 * multi-tenant (AzureADMultipleOrgs).  On 204 the application is read back;
 * ->created tells whether this call made it.  NULL when another object
 * holds the uniqueName: an application deleted less than 30 days ago keeps
 * it in the recycle bin.
 */
GraphApplication *
graph_upsert_application(const char *token, const char *unique_name,
						 const char *display_name)
{
	char	   *operation = psprintf(_("could not create or update application \"%s\""), unique_name);
	char	   *body = rest_body(json_pack("{s:s, s:s}",
										   "displayName", display_name,
										   "signInAudience", "AzureADMultipleOrgs"));
	bool		created;
	HttpResponse *resp = graph_upsert(token,
									  graph_by_key("applications", "uniqueName", unique_name),
									  body, operation,
									  "same value for property uniqueName", &created);

	return resp ? graph_application_from(resp, operation, created) : NULL;
}

/*
 * A soft-deleted application of that uniqueName in the recycle bin, or NULL.
 */
GraphApplication *
graph_find_deleted_application(const char *token, const char *unique_name)
{
	char	   *operation = psprintf(_("could not look up deleted application \"%s\""), unique_name);
	char	   *filter = psprintf("uniqueName eq '%s'", rest_odata_string(unique_name));
	HttpResponse *resp = graph_read(token,
									psprintf("/directory/deletedItems/microsoft.graph.application?$filter=%s",
											 http_escape(filter)),
									operation, false);
	json_t	   *root = rest_json(SERVICE_GRAPH, operation, resp);
	json_t	   *first = json_array_get(json_object_get(root, "value"), 0);
	GraphApplication *app = NULL;

	if (first != NULL)
		app = graph_application_parse(first, resp, operation, false);
	json_decref(root);
	return app;
}

/* Permanently deletes a soft-deleted object; false if it was not there. */
bool
graph_purge_deleted(const char *token, const char *object_id)
{
	return graph_delete(token, graph_by_id("directory/deletedItems", object_id),
						psprintf(_("could not permanently delete directory object \"%s\""), object_id));
}

/* GET /applications/{id}; NULL on 404 */
GraphApplication *
graph_get_application(const char *token, const char *object_id)
{
	char	   *operation = psprintf(_("could not read application \"%s\""), object_id);
	HttpResponse *resp = graph_read(token, graph_by_id("applications", object_id),
									operation, true);

	return resp ? graph_application_from(resp, operation, false) : NULL;
}

/* GET /applications(appId='…'); NULL on 404 */
GraphApplication *
graph_get_application_by_app_id(const char *token, const char *app_id)
{
	char	   *operation = psprintf(_("could not read application %s"), app_id);
	HttpResponse *resp = graph_read(token, graph_by_key("applications", "appId", app_id),
									operation, true);

	return resp ? graph_application_from(resp, operation, false) : NULL;
}

/* GET /applications(uniqueName='…'); NULL on 404 */
GraphApplication *
graph_find_application(const char *token, const char *unique_name)
{
	char	   *operation = psprintf(_("could not read application \"%s\""), unique_name);
	HttpResponse *resp = graph_read(token,
									graph_by_key("applications", "uniqueName", unique_name),
									operation, true);

	return resp ? graph_application_from(resp, operation, false) : NULL;
}

/*
 * POST /applications/{id}/addPassword, valid until end_date_time (ISO
 * 8601).  Sent once, never retried in place.  The secret is in the result
 * only: the response body that carried it is zeroed.
 */
GraphPassword *
graph_add_password(const char *token, const char *app_object_id,
				   const char *display_name, const char *end_date_time)
{
	char	   *operation = psprintf(_("could not add a password to application \"%s\""), app_object_id);
	char	   *body = rest_body(json_pack("{s:{s:s, s:s}}", "passwordCredential",
										   "displayName", display_name,
										   "endDateTime", end_date_time));

	/*
	 * Not idempotent: a blind retry after a lost answer would leave a second,
	 * unknown secret behind.  Send once; the caller retries knowingly.
	 */
	HttpResponse *resp = graph_send(token, "POST",
									psprintf("%s/addPassword",
											 graph_by_id("applications", app_object_id)),
									body, false, true);
	json_t	   *root;
	GraphPassword *pw;

	if (!rest_ok(resp))
		remote_raise(SERVICE_GRAPH, operation, resp);
	root = rest_json(SERVICE_GRAPH, operation, resp);
	pw = palloc0(sizeof(GraphPassword));
	pw->key_id = json_get_text(root, "keyId");
	pw->secret_text = json_get_text(root, "secretText");
	pw->end_date_time = json_get_text(root, "endDateTime");
	/* the answer held the secret: only pw keeps it, until it is stored */
	explicit_bzero(resp->body, resp->body_len);
	if (!pw->key_id || !pw->secret_text)
		rest_unexpected(SERVICE_GRAPH, operation, resp,
						"the password credential lacks \"keyId\" or \"secretText\"");
	json_decref(root);
	return pw;
}

/*
 * Is this failed removePassword answer "the key (or its application) is
 * already gone"?  Graph answers an unknown keyId with a 400 whose code is
 * generic, so its message ("No password credential found with keyId …") is
 * what tells it apart from a malformed request.
 */
static bool
graph_password_gone(const HttpResponse *resp)
{
	return resp->status == 404 ||
		remote_error_is(SERVICE_GRAPH, resp, 400, "Request_ResourceNotFound", NULL) ||
		remote_error_is(SERVICE_GRAPH, resp, 400, NULL, "No password credential found");
}

/* POST /applications/{id}/removePassword; a key already gone is fine */
void
graph_remove_password(const char *token, const char *app_object_id,
					  const char *key_id)
{
	char	   *operation = psprintf(_("could not remove password \"%s\" from application \"%s\""),
									 key_id, app_object_id);
	char	   *body = rest_body(json_pack("{s:s}", "keyId", key_id));
	HttpResponse *resp = graph_send(token, "POST",
									psprintf("%s/removePassword",
											 graph_by_id("applications", app_object_id)),
									body, false, false);

	if (!rest_ok(resp) && !graph_password_gone(resp))
		remote_raise(SERVICE_GRAPH, operation, resp);
}

/* DELETE /applications/{id}; false when it was already gone */
bool
graph_delete_application(const char *token, const char *object_id)
{
	return graph_delete(token, graph_by_id("applications", object_id),
						psprintf(_("could not delete application \"%s\""), object_id));
}

/* ----------------------------------------------------------------------
 * Service principals
 * ----------------------------------------------------------------------
 */

/*
 * PATCH /servicePrincipals(appId='…') with Prefer: create-if-missing;
 * ->created tells whether this call made it.
 */
GraphServicePrincipal *
graph_upsert_service_principal(const char *token, const char *app_id)
{
	char	   *operation = psprintf(_("could not create or update the service principal of application \"%s\""),
									 app_id);
	bool		created;
	HttpResponse *resp = graph_upsert(token,
									  graph_by_key("servicePrincipals", "appId", app_id),
									  "{}", operation, NULL, &created);

	return graph_service_principal_from(resp, operation, created);
}

/* GET /servicePrincipals(appId='…'); NULL on 404 */
GraphServicePrincipal *
graph_get_service_principal(const char *token, const char *app_id)
{
	char	   *operation = psprintf(_("could not read the service principal of application \"%s\""),
									 app_id);
	HttpResponse *resp = graph_read(token,
									graph_by_key("servicePrincipals", "appId", app_id),
									operation, true);

	return resp ? graph_service_principal_from(resp, operation, false) : NULL;
}

/* DELETE /servicePrincipals/{id}; false when it was already gone */
bool
graph_delete_service_principal(const char *token, const char *sp_id)
{
	return graph_delete(token, graph_by_id("servicePrincipals", sp_id),
						psprintf(_("could not delete service principal \"%s\""), sp_id));
}
