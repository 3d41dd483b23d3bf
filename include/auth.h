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

extern char *auth_azure_token(const Credential *cred, const char *tenant,
							  AzureAudience aud);

extern void auth_forget(const Credential *cred, const char *tenant,
						AzureAudience aud);

extern char *auth_aiven_token(const Credential *cred);

extern char *auth_read_secret(const Credential *cred);

extern const char *credential_kind_name(CredentialKind kind);

extern bool credential_kind_by_name(const char *name, CredentialKind *kind);

#endif							/* PEERING_AUTH_H */
