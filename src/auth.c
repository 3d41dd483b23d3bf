/*
 * auth.c
 *		Access tokens and secrets.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * Azure tokens come from the v2 token endpoint (client credentials), from
 * the instance metadata service (managed identity) or are supplied as is.
 * The first two are cached per process, keyed by (tenant, client id,
 * audience), and reused while more than TOKEN_MIN_REMAINING seconds remain,
 * as az CLI does.  Cached tokens live only in this process's memory: never
 * written anywhere, never logged.
 *
 * Secrets are read when a token must be fetched, preferably from a file
 * that, like ssl_key_file, must be a regular file owned by the server's
 * user with no group or world access.  No message here ever includes a
 * secret or a token; buffers that held one are zeroed before release where
 * we control them.
 *
 * This file includes jansson (via jsonutil.h) and must not include
 * utils/builtins.h.
 */
#include "postgres.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "auth.h"
#include "http.h"
#include "jsonutil.h"
#include "peering.h"
#include "remote.h"
#include "util.h"
#include "rest.h"

#define SECRET_FILE_MAX			(64 * 1024)
#define TOKEN_MIN_REMAINING		300
#define TOKEN_KEY_LEN			256
#define IMDS_TOKEN_URL \
	"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"

#define HINT_SECRET_FILE \
	"Run chmod 600 on it; it must belong to the database server's operating-system user."

typedef struct TokenEntry
{
	char		key[TOKEN_KEY_LEN];	/* "tenant client audience", lower case */
	char	   *token;			/* in token_context */
	time_t		expires;
} TokenEntry;

typedef enum SecretFileProblem
{
	SECRET_FILE_OK,
	SECRET_FILE_IO,				/* errno is set */
	SECRET_FILE_NOT_REGULAR,
	SECRET_FILE_NOT_OWNER,
	SECRET_FILE_ACCESSIBLE,
	SECRET_FILE_TOO_LARGE
} SecretFileProblem;

static HTAB *token_cache = NULL;
static MemoryContext token_context = NULL;

#define CREDENTIAL_KIND_NAME(ID, name) [CREDENTIAL_##ID] = #name,
static const char *const credential_kind_names[CREDENTIAL_KINDS] = {
	CREDENTIAL_KIND_LIST(CREDENTIAL_KIND_NAME)
};
#undef CREDENTIAL_KIND_NAME

/* The SQL name of a credential kind, as in peering.credentials.kind. */
const char *
credential_kind_name(CredentialKind kind)
{
	Assert(kind >= 0 && kind < CREDENTIAL_KINDS);
	return credential_kind_names[kind];
}

/* The kind of that SQL name; false for no kind. */
bool
credential_kind_by_name(const char *name, CredentialKind *kind)
{
	int			i = peering_name_index(credential_kind_names, CREDENTIAL_KINDS, name);

	if (i >= 0)
		*kind = (CredentialKind) i;
	return i >= 0;
}

/* ---- secrets ---- */

/* Checks the open file and reads at most SECRET_FILE_MAX + 1 bytes of it. */
static SecretFileProblem
secret_file_load(int fd, char *buf, size_t *len)
{
	struct stat st;

	*len = 0;
	if (fstat(fd, &st) < 0)
		return SECRET_FILE_IO;
	if (!S_ISREG(st.st_mode))
		return SECRET_FILE_NOT_REGULAR;
	if (st.st_uid != geteuid())
		return SECRET_FILE_NOT_OWNER;
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return SECRET_FILE_ACCESSIBLE;

	while (*len < SECRET_FILE_MAX + 1)
	{
		ssize_t		n = read(fd, buf + *len, SECRET_FILE_MAX + 1 - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SECRET_FILE_IO;
		if (n == 0)
			break;
		*len += n;
	}
	return (*len > SECRET_FILE_MAX) ? SECRET_FILE_TOO_LARGE : SECRET_FILE_OK;
}

static void
secret_file_report(const Credential *cred, SecretFileProblem problem)
{
	const char *path = cred->secret_file;

	switch (problem)
	{
		case SECRET_FILE_OK:
			return;
		case SECRET_FILE_IO:
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read secret file \"%s\" of credential \"%s\": %m",
							path, cred->name)));
			break;
		case SECRET_FILE_NOT_REGULAR:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("secret file \"%s\" of credential \"%s\" is not a regular file",
							path, cred->name)));
			break;
		case SECRET_FILE_NOT_OWNER:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("secret file \"%s\" of credential \"%s\" is not owned by the database server's user",
							path, cred->name),
					 errhint(HINT_SECRET_FILE)));
			break;
		case SECRET_FILE_ACCESSIBLE:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("secret file \"%s\" of credential \"%s\" has group or world access",
							path, cred->name),
					 errdetail("File must have permissions u=rw (0600) or less."),
					 errhint(HINT_SECRET_FILE)));
			break;
		case SECRET_FILE_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("secret file \"%s\" of credential \"%s\" is larger than %d kB",
							path, cred->name, SECRET_FILE_MAX / 1024)));
			break;
	}
}

static char *
secret_file_read(const Credential *cred)
{
	char	   *buf = palloc(SECRET_FILE_MAX + 1);
	char	   *secret;
	size_t		len;
	size_t		read_len;
	int			fd;
	int			save_errno;
	SecretFileProblem problem;

	/* O_NONBLOCK: a FIFO must not hang us before fstat() refuses it */
	fd = open(cred->secret_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | PG_BINARY, 0);
	if (fd < 0)
	{
		bool		denied = (errno == EACCES);

		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open secret file \"%s\" of credential \"%s\": %m",
						cred->secret_file, cred->name),
				 denied ? errhint(HINT_SECRET_FILE) : 0));
	}

	/* nothing may throw while fd is open */
	problem = secret_file_load(fd, buf, &len);
	save_errno = errno;
	close(fd);
	errno = save_errno;

	if (problem != SECRET_FILE_OK)
	{
		explicit_bzero(buf, len);
		secret_file_report(cred, problem);
	}
	read_len = len;

	while (len > 0 && isspace((unsigned char) buf[len - 1]))
		len--;
	if (len > 0 && memchr(buf, '\0', len) != NULL)
		len = 0;				/* reported as empty: a binary file is no secret */

	secret = (len > 0) ? pnstrdup(buf, len) : NULL;
	/* only what was read holds the secret: the worker reads it per replay */
	explicit_bzero(buf, read_len);
	pfree(buf);

	if (secret == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("secret file \"%s\" of credential \"%s\" is empty",
						cred->secret_file, cred->name)));
	return secret;
}

/*
 * The secret of cred, palloc'd: the file (refused unless a regular file of
 * the server's user not accessible to group or others) or else the inline
 * value.  Raises when the credential has neither.
 */
char *
auth_read_secret(const Credential *cred)
{
	if (cred->secret_file != NULL && cred->secret_file[0] != '\0')
		return secret_file_read(cred);
	if (cred->secret != NULL && cred->secret[0] != '\0')
		return pstrdup(cred->secret);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("credential \"%s\" has no secret", cred->name),
			 errhint("Set secret_file with peering_credential_set().")));
	pg_unreachable();
}

/*
 * The Aiven API token of an aiven_token credential; raises for another
 * kind.
 */
char *
auth_aiven_token(const Credential *cred)
{
	if (cred->kind != CREDENTIAL_AIVEN_TOKEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("credential \"%s\" is of kind \"%s\", not aiven_token",
						cred->name, credential_kind_name(cred->kind))));
	return auth_read_secret(cred);
}

/* ---- token cache ---- */

static void
token_cache_init(void)
{
	HASHCTL		ctl;

	if (token_cache != NULL)
		return;

	token_context = AllocSetContextCreate(TopMemoryContext, "peering tokens",
										  ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TOKEN_KEY_LEN;
	ctl.entrysize = sizeof(TokenEntry);
	ctl.hcxt = token_context;
	token_cache = hash_create("peering tokens", 16, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* Builds the cache key; false when it does not fit (then nothing is cached). */
static bool
token_key(char *key, const Credential *cred, const char *tenant, AzureAudience aud)
{
	int			len;
	int			i;

	memset(key, 0, TOKEN_KEY_LEN);
	len = snprintf(key, TOKEN_KEY_LEN, "%s %s %d", tenant,
				   cred->client_id ? cred->client_id : "", (int) aud);
	if (len < 0 || len >= TOKEN_KEY_LEN)
		return false;
	for (i = 0; i < len; i++)
		key[i] = pg_ascii_tolower((unsigned char) key[i]);
	return true;
}

static void
token_entry_clear(TokenEntry *entry)
{
	if (entry->token == NULL)
		return;
	explicit_bzero(entry->token, strlen(entry->token));
	pfree(entry->token);
	entry->token = NULL;
}

static char *
token_cache_get(const char *key)
{
	TokenEntry *entry;

	if (token_cache == NULL)
		return NULL;
	entry = hash_search(token_cache, key, HASH_FIND, NULL);
	if (entry == NULL || entry->token == NULL ||
		entry->expires - time(NULL) <= TOKEN_MIN_REMAINING)
		return NULL;
	return pstrdup(entry->token);
}

static void
token_cache_put(const char *key, const char *token, time_t expires)
{
	TokenEntry *entry;
	char	   *copy;
	bool		found;

	/* one that would never be reused is not worth keeping */
	if (expires - time(NULL) <= TOKEN_MIN_REMAINING)
		return;

	token_cache_init();
	copy = MemoryContextStrdup(token_context, token);
	entry = hash_search(token_cache, key, HASH_ENTER, &found);
	if (found)
		token_entry_clear(entry);
	entry->token = copy;
	entry->expires = expires;
}

/* Drops a cached token, e.g. after a 401 or to pick up a fresh grant. */
void
auth_forget(const Credential *cred, const char *tenant, AzureAudience aud)
{
	char		key[TOKEN_KEY_LEN];
	TokenEntry *entry;

	if (tenant == NULL || tenant[0] == '\0')
		tenant = cred->tenant_id;
	if (token_cache == NULL || tenant == NULL || !token_key(key, cred, tenant, aud))
		return;

	entry = hash_search(token_cache, key, HASH_FIND, NULL);
	if (entry == NULL)
		return;
	token_entry_clear(entry);
	hash_search(token_cache, key, HASH_REMOVE, NULL);
}

/* ---- fetching tokens ---- */

static const char *
audience_scope(AzureAudience aud)
{
	return aud == AZURE_GRAPH ? AZURE_SCOPE_GRAPH : AZURE_SCOPE_ARM;
}

/*
 * The access token of a token endpoint or IMDS answer, with its expiry.
 * expires_in is an integer from the v2 endpoint and a string from IMDS.
 */
static char *
token_from_response(HttpResponse *resp, const char *operation, time_t started,
					time_t *expires)
{
	json_t	   *root;
	json_t	   *expires_in;
	char	   *token;
	long		lifetime = 0;

	if (resp->status != 200)
		remote_raise(SERVICE_LOGIN, operation, resp);

	root = json_parse_body(resp);
	token = json_get_text(root, "access_token");
	expires_in = root ? json_object_get(root, "expires_in") : NULL;
	if (json_is_integer(expires_in))
		lifetime = (long) json_integer_value(expires_in);
	else if (json_is_string(expires_in))
		lifetime = strtol(json_string_value(expires_in), NULL, 10);
	if (root != NULL)
		json_decref(root);

	if (token == NULL || token[0] == '\0')
		remote_raise(SERVICE_LOGIN, operation, resp);

	/* the body held the token; it is of no further use */
	explicit_bzero(resp->body, resp->body_len);
	*expires = started + Max(lifetime, 0);
	return token;
}

/* Client credentials grant against {peering.login_url}/{tenant}/oauth2/v2.0/token. */
static char *
token_fetch_client_secret(const Credential *cred, const char *tenant,
						  AzureAudience aud, time_t *expires)
{
	HttpRequest req = {0};
	HttpResponse *resp;
	char	   *secret;
	char	   *escaped;
	char	   *body;
	char	   *operation;
	time_t		started;

	if (cred->client_id == NULL || cred->client_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("credential \"%s\" has no client id", cred->name),
				 errhint("Set client_id with peering_credential_set().")));

	secret = auth_read_secret(cred);
	escaped = http_escape(secret);
	explicit_bzero(secret, strlen(secret));
	pfree(secret);
	body = psprintf("client_id=%s&scope=%s&client_secret=%s&grant_type=client_credentials",
					http_escape(cred->client_id), http_escape(audience_scope(aud)),
					escaped);
	explicit_bzero(escaped, strlen(escaped));
	pfree(escaped);

	req.service = SERVICE_LOGIN;
	req.method = "POST";
	req.url = psprintf("%s/%s/oauth2/v2.0/token",
					   rest_base_url(peering_login_url), http_escape(tenant));
	req.body = body;
	req.content_type = "application/x-www-form-urlencoded";

	started = time(NULL);
	PG_TRY();
	{
		resp = http_perform(&req);
	}
	PG_FINALLY();
	{
		explicit_bzero(body, strlen(body));
	}
	PG_END_TRY();
	pfree(body);

	operation = psprintf(_("could not get a token for client %s in tenant %s"),
						 cred->client_id, tenant);
	return token_from_response(resp, operation, started, expires);
}

/* Managed identity: GET from the instance metadata service. */
static char *
token_fetch_managed_identity(const Credential *cred, const char *tenant,
							 AzureAudience aud, time_t *expires)
{
	HttpRequest req = {0};
	HttpResponse *resp;
	const char *scope = audience_scope(aud);
	bool		user_assigned = (cred->client_id != NULL && cred->client_id[0] != '\0');
	char	   *resource;
	char	   *operation;
	time_t		started;

	/* IMDS wants the v1 resource URI: the scope without ".default" */
	resource = pnstrdup(scope, strlen(scope) - strlen(".default"));

	req.service = SERVICE_LOGIN;
	req.method = "GET";
	req.url = psprintf(IMDS_TOKEN_URL "&resource=%s%s%s",
					   http_escape(resource),
					   user_assigned ? "&client_id=" : "",
					   user_assigned ? http_escape(cred->client_id) : "");
	req.headers = http_add_header(NIL, "Metadata", "true");

	started = time(NULL);
	resp = http_perform(&req);

	operation = user_assigned ?
		psprintf(_("could not get a token for client %s in tenant %s"), cred->client_id, tenant) :
		psprintf(_("could not get a token for the managed identity in tenant %s"), tenant);
	return token_from_response(resp, operation, started, expires);
}

/*
 * Refuses a tenant other than the credential's own for kinds that cannot
 * change tenant (a supplied token, a managed identity).
 */
static void
check_home_tenant(const Credential *cred, const char *tenant)
{
	if (cred->tenant_id == NULL || tenant == NULL ||
		pg_strcasecmp(cred->tenant_id, tenant) == 0)
		return;

	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("credential \"%s\" of kind \"%s\" cannot get a token for tenant %s",
					cred->name, credential_kind_name(cred->kind), tenant),
			 errdetail("It only works in its own tenant %s.", cred->tenant_id),
			 errhint("Cross-tenant steps need an azure_client_secret credential of a multi-tenant application.")));
}

/*
 * An access token for cred in tenant (NULL: cred->tenant_id) for the given
 * audience, from the cache when it lasts long enough.  Raises ERROR (via
 * remote_raise() for remote failures) when none can be had, and for a
 * supplied token or a managed identity asked for another tenant.  The
 * returned string is palloc'd in CurrentMemoryContext.
 */
char *
auth_azure_token(const Credential *cred, const char *tenant, AzureAudience aud)
{
	bool		managed_identity = (cred->kind == CREDENTIAL_AZURE_MANAGED_IDENTITY);
	char		key[TOKEN_KEY_LEN];
	bool		cacheable;
	char	   *token;
	time_t		expires = 0;

	if (tenant == NULL || tenant[0] == '\0')
		tenant = cred->tenant_id;

	/* the secret is the token itself: nothing to fetch or cache */
	if (cred->kind == CREDENTIAL_AZURE_TOKEN)
	{
		check_home_tenant(cred, tenant);
		return auth_read_secret(cred);
	}

	if (!managed_identity && cred->kind != CREDENTIAL_AZURE_CLIENT_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("credential \"%s\" of kind \"%s\" cannot provide an Azure token",
						cred->name, credential_kind_name(cred->kind)),
				 errhint("Use a credential of kind azure_client_secret, azure_token or azure_managed_identity.")));

	if (tenant == NULL || tenant[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("credential \"%s\" has no tenant", cred->name),
				 errhint("Set tenant_id with peering_credential_set().")));
	if (managed_identity)
		check_home_tenant(cred, tenant);

	cacheable = token_key(key, cred, tenant, aud);
	if (cacheable && (token = token_cache_get(key)) != NULL)
		return token;

	if (managed_identity)
		token = token_fetch_managed_identity(cred, tenant, aud, &expires);
	else
		token = token_fetch_client_secret(cred, tenant, aud, &expires);

	if (cacheable)
		token_cache_put(key, token, expires);
	return token;
}
