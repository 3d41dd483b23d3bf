/*
 * jsonutil.c
 *		jansson helpers: allocation through palloc, body parsing and dotted
 *		path look-ups.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * jansson allocates through palloc in CurrentMemoryContext, so a json_t
 * lives and dies with the memory context it was built in: an ERROR thrown
 * while a document is open leaks nothing, and json_dumps() output is
 * palloc'd.  The allocator asks for MCXT_ALLOC_NO_OOM so that running out
 * of memory comes back to jansson as NULL (which it handles) instead of a
 * longjmp through its frames.
 *
 * This file includes jansson.h and must therefore never include
 * utils/builtins.h (both declare json_object; see docs/architecture.md §10).
 */
#include "postgres.h"

#include <stdlib.h>

#include "jsonutil.h"

static bool jsonutil_initialized = false;

/* where jansson allocates instead of CurrentMemoryContext, or NULL */
static MemoryContext jsonutil_cxt = NULL;

static void *
jsonutil_malloc(size_t size)
{
	if (jsonutil_cxt != NULL)
		return MemoryContextAllocExtended(jsonutil_cxt, size, MCXT_ALLOC_NO_OOM);
	return palloc_extended(size, MCXT_ALLOC_NO_OOM);
}

/*
 * Makes jansson allocate its documents in cxt (NULL: CurrentMemoryContext
 * again) and returns the previous choice, so that a parse can build its
 * result where it must live and its JSON tree in a scratch context
 * (rest_parse_shared()).
 */
MemoryContext
jsonutil_use_context(MemoryContext cxt)
{
	MemoryContext previous = jsonutil_cxt;

	jsonutil_cxt = cxt;
	return previous;
}

static void
jsonutil_free(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/*
 * Installs the palloc allocator.  Must run before jansson allocates anything
 * (so from _PG_init); calling it again is harmless.
 */
void
jsonutil_init(void)
{
	if (jsonutil_initialized)
		return;
	json_set_alloc_funcs(jsonutil_malloc, jsonutil_free);
	jsonutil_initialized = true;
}

/*
 * Parses a response body (a new reference); NULL when resp is NULL, the
 * body empty or not JSON.
 */
json_t *
json_parse_body(const HttpResponse *resp)
{
	json_error_t error;

	jsonutil_init();

	if (resp == NULL || resp->body == NULL || resp->body_len == 0)
		return NULL;

	return json_loadb(resp->body, resp->body_len, 0, &error);
}

/*
 * Follows one step of a dotted path: an object member, or an array element
 * when the current node is an array and the segment is a decimal index
 * ("errors.0.error_code").
 */
static json_t *
json_step(json_t *node, const char *segment)
{
	if (json_is_object(node))
		return json_object_get(node, segment);

	if (json_is_array(node) && segment[0] != '\0' &&
		strspn(segment, "0123456789") == strlen(segment))
		return json_array_get(node, (size_t) strtoul(segment, NULL, 10));

	return NULL;
}

/*
 * A string member, or one at a dotted path ("error.code", "errors.0.code"),
 * palloc'd; NULL if absent or not a string.  A member whose own name has
 * dots is found first.
 */
char *
json_get_text(json_t *root, const char *path)
{
	json_t	   *node;

	if (root == NULL || path == NULL)
		return NULL;

	/* a member whose name has dots of its own ("@odata.nextLink") */
	node = json_object_get(root, path);
	if (node == NULL)
	{
		char	   *copy = pstrdup(path);
		char	   *segment;
		char	   *next;

		node = root;
		for (segment = copy; node != NULL && segment != NULL; segment = next)
		{
			next = strchr(segment, '.');
			if (next != NULL)
				*next++ = '\0';
			node = json_step(node, segment);
		}
		pfree(copy);
	}

	if (!json_is_string(node))
		return NULL;

	return pnstrdup(json_string_value(node), json_string_length(node));
}

/*
 * The strings of a JSON array, palloc'd, appended to *list; false (and
 * *list as far as it got) when value is not an array of strings.
 */
bool
json_get_string_list(json_t *value, List **list)
{
	json_t	   *item;
	size_t		i;

	if (!json_is_array(value))
		return false;
	json_array_foreach(value, i, item)
	{
		if (!json_is_string(item))
			return false;
		*list = lappend(*list, pnstrdup(json_string_value(item), json_string_length(item)));
	}
	return true;
}

/*
 * Compact JSON text, palloc'd in CurrentMemoryContext (not in a scratch
 * context jansson may be told to use: the text outlives the tree).
 */
char *
json_to_text(json_t *value)
{
	char	   *text;
	char	   *copy;

	if (value == NULL)
		return NULL;

	/* Allocated by jsonutil_malloc, hence palloc'd. */
	text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (jsonutil_cxt == NULL)
		return text;
	copy = pstrdup(text);
	pfree(text);
	return copy;
}
