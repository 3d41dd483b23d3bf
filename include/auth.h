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
#define CREDENTIAL_KIND_LIST(X) \
	X(AIVEN_TOKEN, aiven_token) \
	X(AZURE_CLIENT_SECRET, azure_client_secret) \
	X(AZURE_TOKEN, azure_token) \
	X(AZURE_MANAGED_IDENTITY, azure_managed_identity)

#define CREDENTIAL_KIND_ENUM(ID, name) CREDENTIAL_##ID,
typedef enum CredentialKind
{
	CREDENTIAL_KIND_LIST(CREDENTIAL_KIND_ENUM)
	CREDENTIAL_KINDS			/* how many there are */
} CredentialKind;
#undef CREDENTIAL_KIND_ENUM

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
