/*
 * auth.h
 *		Access tokens: Azure AD client credentials per (tenant, client,
 *		audience) cached until 5 minutes before expiry, supplied Azure tokens,
 *		and the Aiven token.  Secrets are read only when a token is needed.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_AUTH_H
#define PEERING_AUTH_H

typedef enum AzureAudience
{
	AZURE_ARM,
	AZURE_GRAPH
} AzureAudience;

/* The kinds of credential; their SQL names in credential_kind_name(). */
typedef enum CredentialKind
{
	CREDENTIAL_AIVEN_TOKEN,
	CREDENTIAL_AZURE_CLIENT_SECRET,
	CREDENTIAL_AZURE_TOKEN,
	CREDENTIAL_AZURE_MANAGED_IDENTITY
} CredentialKind;

#define CREDENTIAL_KINDS	(CREDENTIAL_AZURE_MANAGED_IDENTITY + 1)

/* A row of peering.credentials, copied out of SPI memory. */
typedef struct Credential
{
	char	   *name;
	CredentialKind kind;
	char	   *tenant_id;		/* may be NULL */
	char	   *client_id;		/* may be NULL */
	char	   *secret_file;	/* may be NULL */
	char	   *secret;			/* inline secret, may be NULL */
} Credential;

/*
 * An access token for cred in tenant (NULL: cred->tenant_id) for the given
 * audience.  Raises ERROR (via remote_raise for remote failures) when none can
 * be had.  The returned string is palloc'd in CurrentMemoryContext.
 */
extern char *auth_azure_token(const Credential *cred, const char *tenant,
							  AzureAudience aud);

/* Drops a cached token, e.g. after a 401 or to pick up a fresh grant. */
extern void auth_forget(const Credential *cred, const char *tenant,
						AzureAudience aud);

/* The Aiven API token of an aiven_token credential. */
extern char *auth_aiven_token(const Credential *cred);

/*
 * The secret of cred: the file (refused unless a regular file not readable by
 * group or others) or the inline value.  palloc'd.
 */
extern char *auth_read_secret(const Credential *cred);

/* "aiven_token", "azure_client_secret", "azure_token", "azure_managed_identity" */
extern const char *credential_kind_name(CredentialKind kind);

/* The kind of that SQL name; false for no kind. */
extern bool credential_kind_by_name(const char *name, CredentialKind *kind);

#endif							/* PEERING_AUTH_H */
