/*
 * rest.c
 *		The small REST plumbing shared by aiven.c, graph.c and arm.c:
 *		authenticated requests, 2xx checks, JSON bodies, and the error for a
 *		2xx answer that lacks what was expected.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "http.h"
#include "jsonutil.h"
#include "remote.h"
#include "rest.h"

/* A URL setting without its trailing '/'s, palloc'd; "" for NULL. */
char *
rest_base_url(const char *setting)
{
	size_t		len = setting ? strlen(setting) : 0;

	while (len > 0 && setting[len - 1] == '/')
		len--;
	return pnstrdup(setting ? setting : "", len);
}

/* A request carrying "Authorization: <scheme> <token>"; body may be NULL. */
HttpRequest *
rest_request(RemoteService service, const char *method, const char *url,
			 const char *scheme, const char *token, const char *body)
{
	HttpRequest *req = palloc0(sizeof(HttpRequest));
	char	   *credentials = psprintf("%s %s", scheme, token);

	req->service = service;
	req->method = method;
	req->url = url;
	req->headers = http_add_header(NIL, "Authorization", credentials);
	req->body = body;
	pfree(credentials);
	return req;
}

/* Is the status 2xx? */
bool
rest_ok(const HttpResponse *resp)
{
	return resp->status >= 200 && resp->status < 300;
}

/*
 * Raises ERROR "<operation>: unexpected response from <service>" (SQLSTATE
 * 22P02) for a 2xx answer lacking what was expected: reason is a short
 * constant phrase for the detail, and the body is never quoted.  resp may
 * be NULL.  remote_last_error() reports it as a transient failure.
 */
void
rest_unexpected(RemoteService service, const char *operation,
				const HttpResponse *resp, const char *reason)
{
	remote_note_unexpected(service, resp);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("%s: unexpected response from %s", operation,
					remote_service_label(service)),
			 resp ?
			 errdetail("HTTP status %ld: %s; request id %s.",
					   resp->status, reason,
					   resp->request_id ? resp->request_id : "none") :
			 errdetail("%s.", reason)));
	pg_unreachable();
}

/*
 * The body of a 2xx response as a JSON object (a new reference), or
 * rest_unexpected()'s ERROR when it is none.
 */
struct json_t *
rest_json(RemoteService service, const char *operation, const HttpResponse *resp)
{
	json_t	   *root = json_parse_body(resp);

	if (root == NULL || !json_is_object(root))
	{
		if (root)
			json_decref(root);
		rest_unexpected(service, operation, resp, "the body is not a JSON object");
	}
	return root;
}

/*
 * parse(resp, operation) of an answer that many connections read (a VNet's
 * peerings, a project VPC): made once and kept with the response, in its
 * memory context, for every later reader.  The JSON document is built in a
 * scratch context freed after the parse, so that only the result stays:
 * it must hold no jansson value.  The result is shared: read it, never
 * change it.  Not for answers that carry secrets.  A response already kept
 * parsed by another function is parsed again, unkept.
 */
void *
rest_parse_shared(const HttpResponse *resp, const char *operation, RestParse parse)
{
	/* a memo of the response's own content, not a change of it */
	HttpResponse *memo = unconstify(HttpResponse *, resp);
	MemoryContext old;
	MemoryContext scratch;
	MemoryContext json_cxt;
	void	   *result;

	if (memo->memo != NULL && memo->memo_parse == parse)
		return memo->memo;
	if (memo->memo != NULL)
		return parse(resp, operation);	/* read another way already */
	old = MemoryContextSwitchTo(GetMemoryChunkContext(memo));
	scratch = AllocSetContextCreate(CurrentMemoryContext, "peering JSON document",
									ALLOCSET_DEFAULT_SIZES);
	json_cxt = jsonutil_use_context(scratch);
	PG_TRY();
	{
		result = parse(resp, operation);
	}
	PG_FINALLY();
	{
		jsonutil_use_context(json_cxt);
		MemoryContextDelete(scratch);
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
	memo->memo = result;
	memo->memo_parse = parse;
	return result;
}

/* Serialises a json_pack() result (consumed) or raises if packing failed. */
char *
rest_body(struct json_t *value)
{
	char	   *text;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not build a JSON request body"),
				 errdetail("A value is missing or is not valid UTF-8.")));
	text = json_to_text(value);
	json_decref(value);
	return text;
}

/* An OData string literal's content: single quotes doubled (not escaped). */
char *
rest_odata_string(const char *value)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	for (p = value; *p; p++)
	{
		if (*p == '\'')
			appendStringInfoChar(&buf, '\'');
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

