/* peering--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION peering" to load this file. \quit

-- The background worker connects to one database; refuse any other.
DO $check$
DECLARE
	worker_db text := coalesce(current_setting('peering.database', true), 'postgres');
BEGIN
	IF current_database() <> worker_db THEN
		RAISE EXCEPTION 'can only create extension "peering" in database "%"', worker_db
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('The peering background worker connects to the database named by peering.database, and this is "%s".', current_database()),
				  HINT = format('Create the extension in "%s", or set peering.database = ''%s'' in postgresql.conf and restart the server.', worker_db, current_database());
	END IF;
END
$check$;

-- Roles are cluster-wide: create them once, keep them across DROP EXTENSION.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'peering_reader') THEN
		CREATE ROLE peering_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'peering_admin') THEN
		CREATE ROLE peering_admin NOLOGIN;
	END IF;
	GRANT peering_reader TO peering_admin;
END
$roles$;

CREATE SCHEMA peering;
REVOKE ALL ON SCHEMA peering FROM PUBLIC;
GRANT USAGE ON SCHEMA peering TO peering_reader;
COMMENT ON SCHEMA peering IS 'State of the peering extension: connections, their event history, credentials';

CREATE TABLE peering.credentials (
	name		text PRIMARY KEY,
	kind		text NOT NULL
		CHECK (kind IN ('aiven_token', 'azure_client_secret', 'azure_token', 'azure_managed_identity')),
	tenant_id	uuid,
	client_id	uuid,
	secret_file text,
	secret		text,
	internal	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (secret_file IS NULL OR secret IS NULL)
);
REVOKE ALL ON peering.credentials FROM PUBLIC;
COMMENT ON TABLE peering.credentials IS 'Secrets for Azure and Aiven; readable by the extension owner only';
COMMENT ON COLUMN peering.credentials.name IS 'Name used by peering_create(azure_credential, aiven_credential)';
COMMENT ON COLUMN peering.credentials.kind IS 'aiven_token, azure_client_secret, azure_token or azure_managed_identity';
COMMENT ON COLUMN peering.credentials.tenant_id IS 'Azure AD tenant of the identity';
COMMENT ON COLUMN peering.credentials.client_id IS 'Application (client) id of the identity';
COMMENT ON COLUMN peering.credentials.created_at IS 'When it was first set';
COMMENT ON COLUMN peering.credentials.updated_at IS 'When it was last set';
COMMENT ON COLUMN peering.credentials.secret_file IS 'Server-side file holding the secret, mode 0600, read when a token is needed';
COMMENT ON COLUMN peering.credentials.secret IS 'Inline secret (discouraged: statement logging can capture it)';
COMMENT ON COLUMN peering.credentials.internal IS 'Created by the extension (the peering application''s secret)';

CREATE TABLE peering.connections (
	id					bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- desired peering
	project				text NOT NULL,
	project_vpc_id		uuid NOT NULL,
	subscription_id		uuid NOT NULL,
	resource_group		text NOT NULL,
	vnet_name			text NOT NULL,
	peering_name		text NOT NULL,
	azure_credential	text NOT NULL,
	aiven_credential	text NOT NULL,
	app_role			text NOT NULL DEFAULT 'custom'
		CHECK (app_role IN ('custom', 'network_contributor')),
	desired				text NOT NULL DEFAULT 'present'
		CHECK (desired IN ('present', 'absent')),
	-- learned on the way
	tenant_id			uuid,
	vnet_id				text,
	vnet_address_space	cidr[],
	vpc_network_cidr	cidr,
	app_unique_name		text,
	app_id				uuid,
	app_object_id		uuid,
	app_sp_id			uuid,
	app_secret_key_id	uuid,
	app_role_id			uuid,
	app_role_owned		boolean,
	app_role_assignment_id uuid,
	provider_sp_id		uuid,
	provider_sp_created boolean,
	peer_role_id		uuid,
	peer_role_owned		boolean,
	peer_role_assignment_id uuid,
	to_tenant_id		uuid,
	to_network_id		text,
	azure_peering_id	text,
	azure_operation		text,
	-- observed
	state				text,
	state_message		text,
	azure_peering_state text,
	step				text NOT NULL DEFAULT 'app'
		CHECK (step IN ('app', 'app_sp', 'app_secret', 'app_role', 'app_role_assignment',
						'provider_sp', 'peer_role', 'peer_role_assignment',
						'aiven_request', 'aiven_pending', 'azure_peering', 'azure_peering_wait',
						'aiven_active', 'active',
						'delete_azure_peering', 'delete_aiven', 'aiven_deleted',
						'delete_role_assignments', 'delete_app', 'delete_roles', 'deleted')),
	failed				boolean NOT NULL DEFAULT false,
	last_error			text,
	last_error_code		text,
	attempts			integer NOT NULL DEFAULT 0,
	next_attempt_at		timestamptz DEFAULT now(),
	step_since			timestamptz NOT NULL DEFAULT now(),
	created_at			timestamptz NOT NULL DEFAULT now(),
	updated_at			timestamptz NOT NULL DEFAULT now(),
	active_since		timestamptz,
	checked_at			timestamptz,
	-- bookkeeping: bumped by peering_retry/peering_delete; lease of a driver
	generation			integer NOT NULL DEFAULT 0,
	claimed_by			integer,
	claimed_until		timestamptz
);

CREATE UNIQUE INDEX connections_live_key ON peering.connections
	(project_vpc_id, subscription_id, lower(resource_group), lower(vnet_name))
	WHERE step <> 'deleted';
CREATE INDEX connections_due ON peering.connections (next_attempt_at)
	WHERE NOT failed AND step <> 'deleted';

COMMENT ON TABLE peering.connections IS 'One row per peering between an Azure VNet and an Aiven project VPC: the desired spec, the remote ids learned, the observed status';
COMMENT ON COLUMN peering.connections.id IS 'Connection id, used by every peering_* function';
COMMENT ON COLUMN peering.connections.project IS 'Aiven project';
COMMENT ON COLUMN peering.connections.project_vpc_id IS 'Aiven project VPC';
COMMENT ON COLUMN peering.connections.subscription_id IS 'Azure subscription of the VNet';
COMMENT ON COLUMN peering.connections.resource_group IS 'Azure resource group of the VNet, as given (sent to Aiven in lower case)';
COMMENT ON COLUMN peering.connections.vnet_name IS 'Azure VNet name, as given (sent to Aiven in lower case)';
COMMENT ON COLUMN peering.connections.peering_name IS 'Name of the Azure virtualNetworkPeering created on the VNet';
COMMENT ON COLUMN peering.connections.azure_credential IS 'Credential of the Azure automation identity';
COMMENT ON COLUMN peering.connections.aiven_credential IS 'Credential holding the Aiven token';
COMMENT ON COLUMN peering.connections.app_role IS 'Role given to the peering application on the VNet: custom (only what peering needs) or network_contributor';
COMMENT ON COLUMN peering.connections.desired IS 'present, or absent once peering_delete() was called';
COMMENT ON COLUMN peering.connections.tenant_id IS 'Azure AD tenant of the subscription';
COMMENT ON COLUMN peering.connections.vnet_id IS 'ARM id of the VNet';
COMMENT ON COLUMN peering.connections.vnet_address_space IS 'Address prefixes of the VNet at creation';
COMMENT ON COLUMN peering.connections.vpc_network_cidr IS 'network_cidr of the project VPC';
COMMENT ON COLUMN peering.connections.app_unique_name IS 'uniqueName of the Azure AD application created for this peering';
COMMENT ON COLUMN peering.connections.app_id IS 'Application (client) id of that application';
COMMENT ON COLUMN peering.connections.app_object_id IS 'Object id of that application';
COMMENT ON COLUMN peering.connections.app_sp_id IS 'Object id of its service principal';
COMMENT ON COLUMN peering.connections.app_secret_key_id IS 'keyId of its secret (the secret itself is in peering.credentials)';
COMMENT ON COLUMN peering.connections.app_role_id IS 'Role definition assigned to the application on the VNet';
COMMENT ON COLUMN peering.connections.app_role_owned IS 'That role definition was created by this extension';
COMMENT ON COLUMN peering.connections.app_role_assignment_id IS 'Role assignment of the application on the VNet';
COMMENT ON COLUMN peering.connections.provider_sp_id IS 'Object id of the provider application''s service principal in the customer tenant';
COMMENT ON COLUMN peering.connections.provider_sp_created IS 'That service principal was created by this extension (it is never deleted)';
COMMENT ON COLUMN peering.connections.peer_role_id IS 'Custom role holding only Microsoft.Network/virtualNetworks/peer/action';
COMMENT ON COLUMN peering.connections.peer_role_owned IS 'That role definition was created by this extension';
COMMENT ON COLUMN peering.connections.peer_role_assignment_id IS 'Assignment of that role to the provider on the VNet';
COMMENT ON COLUMN peering.connections.to_tenant_id IS 'Provider tenant (Aiven state_info to-tenant-id)';
COMMENT ON COLUMN peering.connections.to_network_id IS 'Provider VNet (Aiven state_info to-network-id)';
COMMENT ON COLUMN peering.connections.azure_peering_id IS 'ARM id of the Azure peering';
COMMENT ON COLUMN peering.connections.azure_operation IS 'Azure-AsyncOperation URL of the last peering PUT';
COMMENT ON COLUMN peering.connections.state IS 'Aiven state, verbatim (APPROVED, PENDING_PEER, ACTIVE, INVALID_SPECIFICATION, REJECTED_BY_PEER, DELETING, DELETED, DELETED_BY_PEER, ...); NULL before the Aiven request';
COMMENT ON COLUMN peering.connections.state_message IS 'Aiven state_info message';
COMMENT ON COLUMN peering.connections.azure_peering_state IS 'Azure peeringState: Initiated, Connected or Disconnected';
COMMENT ON COLUMN peering.connections.step IS 'Where the work is: the next step to perform';
COMMENT ON COLUMN peering.connections.failed IS 'Stopped on an error that needs a fix; peering_retry() re-arms it';
COMMENT ON COLUMN peering.connections.last_error IS 'Last error, with its hint';
COMMENT ON COLUMN peering.connections.last_error_code IS 'SQLSTATE and remote error code of the last error';
COMMENT ON COLUMN peering.connections.attempts IS 'Failed attempts at the current step';
COMMENT ON COLUMN peering.connections.next_attempt_at IS 'When the connection is next due; NULL when nothing is scheduled';
COMMENT ON COLUMN peering.connections.step_since IS 'When the current step began';
COMMENT ON COLUMN peering.connections.created_at IS 'When peering_create() recorded it';
COMMENT ON COLUMN peering.connections.updated_at IS 'When the row last changed';
COMMENT ON COLUMN peering.connections.active_since IS 'When the peering last became ACTIVE';
COMMENT ON COLUMN peering.connections.checked_at IS 'When the remote state was last read';
COMMENT ON COLUMN peering.connections.generation IS 'Bumped by peering_retry() and peering_delete(); results of older work are not applied to the step';
COMMENT ON COLUMN peering.connections.claimed_by IS 'Process id of the driver working on the connection';
COMMENT ON COLUMN peering.connections.claimed_until IS 'End of that driver''s lease';

CREATE TABLE peering.events (
	id					bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at					timestamptz NOT NULL DEFAULT clock_timestamp(),
	connection_id		bigint NOT NULL REFERENCES peering.connections (id) ON DELETE CASCADE,
	kind				text NOT NULL
		CHECK (kind IN ('created', 'step', 'state', 'error', 'failed', 'retry', 'delete', 'drift')),
	step				text,
	state				text,
	azure_peering_state text,
	message				text,
	error_code			text,
	request_id			text
);
CREATE INDEX events_connection_at ON peering.events (connection_id, at);

COMMENT ON TABLE peering.events IS 'Append-only history: one row per step, state change or remote error';
COMMENT ON COLUMN peering.events.id IS 'Event id, increasing in the order events were recorded';
COMMENT ON COLUMN peering.events.at IS 'When it happened';
COMMENT ON COLUMN peering.events.connection_id IS 'The connection';
COMMENT ON COLUMN peering.events.kind IS 'created, step (a step completed), state (Aiven or Azure state changed), error (retried), failed (stopped), retry, delete, drift';
COMMENT ON COLUMN peering.events.step IS 'Step at the time';
COMMENT ON COLUMN peering.events.state IS 'Aiven state at the time';
COMMENT ON COLUMN peering.events.azure_peering_state IS 'Azure peeringState at the time';
COMMENT ON COLUMN peering.events.message IS 'What happened';
COMMENT ON COLUMN peering.events.error_code IS 'SQLSTATE and remote error code, for errors';
COMMENT ON COLUMN peering.events.request_id IS 'Remote request id, for errors';

GRANT SELECT ON peering.connections, peering.events TO peering_reader;

-- pg_dump keeps the user's data
SELECT pg_catalog.pg_extension_config_dump('peering.credentials', '');
SELECT pg_catalog.pg_extension_config_dump('peering.connections', '');
SELECT pg_catalog.pg_extension_config_dump('peering.connections_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('peering.events', '');
SELECT pg_catalog.pg_extension_config_dump('peering.events_id_seq', '');

-- SQL entry points.  Those that read credentials run as the extension owner
-- with a fixed search_path; EXECUTE goes to the roles, never to PUBLIC.

CREATE FUNCTION peering_credential_set(name text, kind text,
									   secret_file text DEFAULT NULL,
									   tenant_id uuid DEFAULT NULL,
									   client_id uuid DEFAULT NULL,
									   secret text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'peering_credential_set'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_credential_set(text, text, text, uuid, uuid, text) IS
'Stores a credential: aiven_token, azure_client_secret, azure_token or azure_managed_identity; secret_file (mode 0600, read when needed) is preferred over an inline secret';

CREATE FUNCTION peering_credential_drop(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'peering_credential_drop'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_credential_drop(text) IS
'Removes a credential that no live connection uses';

CREATE FUNCTION peering_credentials(OUT name text, OUT kind text, OUT tenant_id uuid,
									OUT client_id uuid, OUT secret_file text,
									OUT has_inline_secret boolean, OUT updated_at timestamptz)
RETURNS SETOF record
AS $$
	SELECT c.name, c.kind, c.tenant_id, c.client_id, c.secret_file,
		   c.secret IS NOT NULL, c.updated_at
	FROM peering.credentials c
	WHERE NOT c.internal
	ORDER BY c.name
$$ LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_credentials() IS
'Lists the credentials without their secrets';

CREATE FUNCTION peering_create(project text, project_vpc_id uuid, subscription_id uuid,
							   resource_group text, vnet_name text,
							   peering_name text DEFAULT NULL,
							   azure_credential text DEFAULT 'azure',
							   aiven_credential text DEFAULT 'aiven',
							   app_role text DEFAULT 'custom')
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_create'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text) IS
'Validates (locally and with read-only remote checks) and records a peering; the background worker creates it after COMMIT';

CREATE FUNCTION peering_status(id bigint, refresh boolean DEFAULT true)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_status'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_status(bigint, boolean) IS
'Returns a connection, first refreshing its Aiven and Azure state unless refresh is false';

CREATE FUNCTION peering_status()
RETURNS SETOF peering.connections
AS $$ SELECT * FROM peering.connections ORDER BY id $$
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_status() IS
'Returns every connection as recorded, without remote calls';

CREATE FUNCTION peering_wait(id bigint, target text DEFAULT 'ACTIVE',
							 timeout interval DEFAULT '15 min')
RETURNS text
AS 'MODULE_PATHNAME', 'peering_wait'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_wait(bigint, text, interval) IS
'Waits until the connection reaches target (an Aiven state) or fails, printing each transition; returns the state';

CREATE FUNCTION peering_retry(id bigint)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_retry'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_retry(bigint) IS
'Re-arms a failed connection after its cause was fixed';

CREATE FUNCTION peering_delete(id bigint)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_delete'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_delete(bigint) IS
'Tears the peering down after COMMIT: Azure peering, Aiven connection, role assignments, then what this extension created and nothing else uses';

CREATE FUNCTION peering_vpcs(project text, aiven_credential text DEFAULT 'aiven',
							 OUT project_vpc_id uuid, OUT cloud_name text,
							 OUT network_cidr cidr, OUT state text,
							 OUT create_time timestamptz, OUT update_time timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'peering_vpcs'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_vpcs(text, text) IS
'Lists the project''s VPCs (avn vpc list)';

-- Not SECURITY DEFINER: such procedures may not COMMIT.  The C code reads the
-- catalog as the extension owner with a fixed search_path instead.
CREATE PROCEDURE peering_run()
AS 'MODULE_PATHNAME', 'peering_run'
LANGUAGE C;
COMMENT ON PROCEDURE peering_run() IS
'Drives every due connection now, committing after each step (without the worker, or from pg_cron)';

REVOKE ALL ON FUNCTION peering_credential_set(text, text, text, uuid, uuid, text),
	peering_credential_drop(text), peering_credentials(),
	peering_create(text, uuid, uuid, text, text, text, text, text, text),
	peering_status(bigint, boolean), peering_status(), peering_wait(bigint, text, interval),
	peering_retry(bigint), peering_delete(bigint), peering_vpcs(text, text)
	FROM PUBLIC;
REVOKE ALL ON PROCEDURE peering_run() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION peering_status(bigint, boolean), peering_status(),
	peering_wait(bigint, text, interval), peering_vpcs(text, text), peering_credentials()
	TO peering_reader;
GRANT EXECUTE ON FUNCTION peering_credential_set(text, text, text, uuid, uuid, text),
	peering_credential_drop(text),
	peering_create(text, uuid, uuid, text, text, text, text, text, text),
	peering_retry(bigint), peering_delete(bigint)
	TO peering_admin;
GRANT EXECUTE ON PROCEDURE peering_run() TO peering_admin;
