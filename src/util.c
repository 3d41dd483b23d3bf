/*
 * util.c
 *		Small helpers: UUIDs, caught errors, strings, enum names and
 *		Azure's name rules.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"


#include "common/cryptohash.h"
#include "common/sha1.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/inet.h"

#include "util.h"

/* Namespace of every UUIDv5 this extension derives (a fixed random UUID). */
static const uint8 peering_namespace[16] = {
	0x6f, 0x3b, 0x1c, 0x52, 0x8d, 0x0e, 0x4a, 0x7b,
	0x9e, 0x21, 0x5c, 0x44, 0x0b, 0xd3, 0x71, 0x96
};

/* Is s a UUID in text form, 8-4-4-4-12 hex digits? */
bool
peering_is_uuid(const char *s)
{
	int			i;

	for (i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return s[36] == '\0';
}

/*
 * UUIDv5 (RFC 4122, SHA-1 via PostgreSQL's cryptohash) of name in the
 * peering namespace; palloc'd, lower case.
 */
char *
peering_uuid_v5(const char *name)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA1);
	uint8		hash[SHA1_DIGEST_LENGTH];

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, peering_namespace, sizeof(peering_namespace)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) name, strlen(name)) < 0 ||
		pg_cryptohash_final(ctx, hash, sizeof(hash)) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute SHA-1 for a UUIDv5");
	}
	pg_cryptohash_free(ctx);

	hash[6] = (hash[6] & 0x0f) | 0x50;	/* version 5 */
	hash[8] = (hash[8] & 0x3f) | 0x80;	/* RFC 4122 variant */

	return psprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
					hash[0], hash[1], hash[2], hash[3], hash[4], hash[5],
					hash[6], hash[7], hash[8], hash[9], hash[10], hash[11],
					hash[12], hash[13], hash[14], hash[15]);
}

/*
 * Inside PG_CATCH: the error as data, in cxt, and cleared; cxt is left
 * current.  Query cancels and shutdowns are thrown on: they belong to the
 * caller.
 */
ErrorData *
peering_catch_error(MemoryContext cxt)
{
	ErrorData  *ed;

	MemoryContextSwitchTo(cxt);
	ed = CopyErrorData();
	if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		ed->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
		PG_RE_THROW();
	FlushErrorState();
	return ed;
}

/* Equal strings; false when either is NULL. */
bool
peering_str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Equal strings, or both NULL. */
bool
peering_str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || peering_str_eq(a, b);
}

/* Does a list of strings hold s?  (list_member() compares Nodes.) */
bool
peering_string_list_member(const List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (strcmp(lfirst(lc), s) == 0)
			return true;
	}
	return false;
}

/* A list of strings for messages: "a, b", or "none" when empty. */
char *
peering_string_list_text(const List *list)
{
	StringInfoData buf;
	ListCell   *lc;

	if (list == NIL)
		return pstrdup("none");
	initStringInfo(&buf);
	foreach(lc, list)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", (char *) lfirst(lc));
	return buf.data;
}

/* Do two lists of strings hold the same strings, in any order? */
bool
peering_string_lists_same(const List *a, const List *b)
{
	ListCell   *lc;

	if (list_length(a) != list_length(b))
		return false;
	foreach(lc, a)
	{
		if (!peering_string_list_member(b, lfirst(lc)))
			return false;
	}
	return true;
}

/* A relation of inet (network_overlap, network_subeq, ...) of two networks in text form. */
static bool
network_relation(PGFunction relation, const char *a, const char *b)
{
	Datum		x = DirectFunctionCall1(inet_in, CStringGetDatum(a));
	Datum		y = DirectFunctionCall1(inet_in, CStringGetDatum(b));

	return DatumGetBool(DirectFunctionCall2(relation, x, y));
}

/* Do two networks (addresses or CIDRs, in text form) share an address? */
bool
peering_networks_overlap(const char *a, const char *b)
{
	return network_relation(network_overlap, a, b);
}

/* Is network inner inside (or equal to) outer?  Another family never is. */
bool
peering_network_within(const char *inner, const char *outer)
{
	return network_relation(network_subeq, inner, outer);
}

/* The index of name in a name table of an enum, or -1 (name may be NULL). */
int
peering_name_index(const char *const *names, int count, const char *name)
{
	int			i;

	for (i = 0; i < count; i++)
		if (name != NULL && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* Lower-cased copy (ASCII), palloc'd. */
char *
peering_lower(const char *s)
{
	char	   *r = pstrdup(s);
	char	   *p;

	for (p = r; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	return r;
}

/*
 * Azure's rules speak of ASCII letters and digits: isalnum() would follow
 * the server's locale and let other letters through.
 */
static bool
is_ascii_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * VNet and peering names: minlen to maxlen of letters, digits, '_', '.',
 * '-'; starting with a letter or digit; ending with a letter, digit or '_'.
 */
static const char *
azure_network_name_problem(const char *name, int minlen, int maxlen)
{
	int			len = strlen(name);
	const char *p;

	if (len < minlen || len > maxlen)
		return psprintf("It must be %d to %d characters long.", minlen, maxlen);
	for (p = name; *p; p++)
		if (!is_ascii_alnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return "Only letters, digits, underscores, periods and hyphens are allowed.";
	if (!is_ascii_alnum(name[0]))
		return "It must start with a letter or digit.";
	if (!is_ascii_alnum(name[len - 1]) && name[len - 1] != '_')
		return "It must end with a letter, digit or underscore.";
	return NULL;
}

/*
 * Azure's rule for a virtual network's name (docs/remote-apis.md §5), 2 to
 * 64 characters: NULL when name is valid, else a sentence saying what is
 * wrong.
 */
const char *
azure_vnet_name_problem(const char *name)
{
	return azure_network_name_problem(name, 2, 64);
}

/* The same for a virtual network peering's name, 1 to 80 characters. */
const char *
azure_peering_name_problem(const char *name)
{
	return azure_network_name_problem(name, 1, 80);
}

/*
 * The same for a resource group's name: 1 to 90 of letters, digits, '_',
 * '(', ')', '-', '.' (Unicode letters are allowed by Azure: accept any
 * non-ASCII byte), not ending with a period.
 */
const char *
azure_resource_group_problem(const char *name)
{
	int			len = strlen(name);
	const char *p;

	if (len < 1 || len > 90)
		return "It must be 1 to 90 characters long.";
	for (p = name; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (!IS_HIGHBIT_SET(c) && !is_ascii_alnum(c) && strchr("_()-.", c) == NULL)
			return "Only letters, digits, underscores, parentheses, hyphens and periods are allowed.";
	}
	if (name[len - 1] == '.')
		return "It must not end with a period.";
	return NULL;
}
