/*
 * catalog_credentials.c
 *		peering.credentials: the user's credentials (which name secret files)
 *		and the secrets of the peering applications the extension makes.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * The table is readable by the extension owner only; secrets themselves
 * (from their files, or inline for the applications' own) are read only
 * when a token is needed (auth.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "catalog_spi.h"
#include "peering.h"
#include "util.h"

/*
 * One credential, in the caller's memory context; NULL when missing_ok and
 * it does not exist, else raises.
 */
Credential *
catalog_get_credential(const char *name, bool missing_ok)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	Credential *cred = NULL;
	char	   *kind;

	spi_arg_text(&args, name);
	catalog_enter(&scope);
	catalog_exec("SELECT name, kind, tenant_id, client_id, secret_file, secret"
				 "  FROM peering.credentials WHERE name = $1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		MemoryContext cxt = scope.caller_cxt;

		cred = MemoryContextAllocZero(cxt, sizeof(Credential));
		spi_result_field(0, "name", COLUMN_TEXT, &cred->name, cxt);
		spi_result_field(0, "kind", COLUMN_TEXT, &kind, cxt);
		if (!credential_kind_by_name(kind, &cred->kind))
			elog(ERROR, "credential \"%s\" has an unknown kind \"%s\"", cred->name, kind);
		spi_result_field(0, "tenant_id", COLUMN_UUID, &cred->tenant_id, cxt);
		spi_result_field(0, "client_id", COLUMN_UUID, &cred->client_id, cxt);
		spi_result_field(0, "secret_file", COLUMN_TEXT, &cred->secret_file, cxt);
		spi_result_field(0, "secret", COLUMN_TEXT, &cred->secret, cxt);
	}
	catalog_leave(&scope);

	if (cred == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("credential \"%s\" does not exist", name),
				 errhint("Create it with peering_credential_set().")));
	return cred;
}

/*
 * A user credential, read once per claim however many connections use it.
 * In a claim a missing one is NULL, for the step to report; else it raises.
 */
static Credential *
shared_credential(const char *name, List **cache)
{
	Credential *cred;
	ListCell   *lc;

	if (cache != NULL)
		foreach(lc, *cache)
		{
			cred = lfirst(lc);
			if (strcmp(cred->name, name) == 0)
				return cred;
		}
	cred = catalog_get_credential(name, cache != NULL);
	if (cred != NULL && cache != NULL)
		*cache = lappend(*cache, cred);
	return cred;
}

/*
 * Fills the credentials the connection's steps need (c->attempt).  cache
 * (may be NULL) shares the user credentials among the connections of a
 * claim; with it a missing user credential is left NULL for the step to
 * report, without it the function raises.
 */
void
catalog_load_credentials(PeeringConn *c, List **cache)
{
	c->attempt.azure_cred = shared_credential(c->azure_credential, cache);
	c->attempt.aiven_cred = shared_credential(c->aiven_credential, cache);
	/* the peering application's own secret, or the user's application's */
	if (c->app_credential != NULL)
		c->attempt.app_cred = shared_credential(c->app_credential, cache);
	else if (c->app_secret_key_id != NULL)
	{
		/* stored and dropped in the same save as app_secret_key_id */
		c->attempt.app_cred = catalog_get_credential(psprintf(APP_CREDENTIAL_FMT, c->id), true);
	}
	else
		c->attempt.app_cred = NULL;
}

/*
 * Locks the connection's credentials until the end of the transaction, so
 * that none is dropped before the new connection that uses it commits.
 */
void
catalog_lock_credentials(const PeeringConn *c)
{
	CatalogScope scope;
	QueryArgs	args = {0};

	spi_arg_text(&args, c->azure_credential);
	spi_arg_text(&args, c->aiven_credential);
	spi_arg_text(&args, c->app_credential);
	catalog_enter(&scope);
	catalog_exec("SELECT FROM peering.credentials WHERE name IN ($1, $2, $3) FOR KEY SHARE",
				 &args, SPI_OK_SELECT);
	catalog_leave(&scope);
}

/* Inserts or replaces a credential; inside catalog scope. */
static void
upsert_credential(const Credential *cred, bool internal)
{
	QueryArgs	args = {0};

	spi_arg_text(&args, cred->name);
	spi_arg_text(&args, credential_kind_name(cred->kind));
	spi_arg_uuid(&args, cred->tenant_id);
	spi_arg_uuid(&args, cred->client_id);
	spi_arg_text(&args, cred->secret_file);
	spi_arg_text(&args, cred->secret);
	spi_arg_bool(&args, internal);
	catalog_exec("INSERT INTO peering.credentials"
				 "   (name, kind, tenant_id, client_id, secret_file, secret, internal)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7)"
				 " ON CONFLICT (name) DO UPDATE"
				 "   SET kind = excluded.kind, tenant_id = excluded.tenant_id,"
				 "       client_id = excluded.client_id, secret_file = excluded.secret_file,"
				 "       secret = excluded.secret, internal = excluded.internal,"
				 "       updated_at = now()",
				 &args, SPI_OK_INSERT);
}

/*
 * Stores the peering application's new secret (c->attempt.new_app_secret)
 * as the connection's internal credential; inside catalog scope.
 */
void
catalog_store_app_secret(const PeeringConn *c)
{
	Credential	cred = {0};

	cred.name = psprintf(APP_CREDENTIAL_FMT, c->id);
	cred.kind = CREDENTIAL_AZURE_CLIENT_SECRET;
	cred.tenant_id = c->tenant_id;
	cred.client_id = c->app_id;
	cred.secret = c->attempt.new_app_secret;
	upsert_credential(&cred, true);
}

/* Inserts or replaces a user credential (peering_credential_set()). */
void
catalog_set_credential(const Credential *cred)
{
	CatalogScope scope;

	catalog_enter(&scope);
	upsert_credential(cred, false);
	catalog_leave(&scope);
}

/*
 * Drops a user credential; false when there was none.  Raises if a
 * connection not yet deleted uses it (as its Azure, Aiven or application
 * credential).
 */
bool
catalog_drop_credential(const char *name)
{
	CatalogScope scope;
	QueryArgs	args = {0};
	bool		dropped;

	spi_arg_text(&args, name);
	catalog_enter(&scope);
	catalog_exec("SELECT id FROM peering.connections"
				 " WHERE step <> 'deleted' AND $1 IN (azure_credential, aiven_credential, app_credential)"
				 " LIMIT 1",
				 &args, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("credential \"%s\" is used by peering connection " INT64_FORMAT,
						name, spi_result_int8(0, "id")),
				 errhint("Delete the connection with peering_delete() first, and wait until its step is \"deleted\".")));
	catalog_exec("DELETE FROM peering.credentials WHERE name = $1 AND NOT internal",
				 &args, SPI_OK_DELETE);
	dropped = SPI_processed > 0;
	catalog_leave(&scope);
	return dropped;
}
