/* peering--1.0--1.1.sql
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION peering UPDATE TO '1.1'" to load this file. \quit

-- Retries are budgeted by time per class of failure (docs/architecture.md,
-- "Retries"): a connection says why it is retrying and until when.
ALTER TABLE peering.connections
	ADD COLUMN retry_class text
		CHECK (retry_class IN ('transient', 'replication', 'throttling')),
	ADD COLUMN retry_since timestamptz,
	ADD COLUMN retry_until timestamptz;

COMMENT ON COLUMN peering.connections.retry_class IS 'Why the current step is being retried: transient (network, 5xx), replication (Entra ID replication or Azure role propagation after a write) or throttling (429); NULL when not retrying';
COMMENT ON COLUMN peering.connections.retry_since IS 'When the current run of failed attempts began';
COMMENT ON COLUMN peering.connections.retry_until IS 'When the connection gives up retrying and stops as failed (retry_since plus the budget of retry_class)';

-- A NULL argument is an error naming it, not a silent NULL result: the C
-- functions check their arguments themselves.
ALTER FUNCTION peering_credential_drop(text) CALLED ON NULL INPUT;
ALTER FUNCTION peering_status(bigint, boolean) CALLED ON NULL INPUT;
ALTER FUNCTION peering_wait(bigint, text, interval) CALLED ON NULL INPUT;
ALTER FUNCTION peering_retry(bigint) CALLED ON NULL INPUT;
ALTER FUNCTION peering_delete(bigint) CALLED ON NULL INPUT;
ALTER FUNCTION peering_vpcs(text, text) CALLED ON NULL INPUT;

-- Just-in-time application secrets (docs/architecture.md §8): the secret is
-- added right before the Azure peering is created and removed once that
-- peering is provisioned, in the step app_secret_remove.
ALTER TABLE peering.connections DROP CONSTRAINT connections_step_check;
ALTER TABLE peering.connections ADD CONSTRAINT connections_step_check
	CHECK (step IN ('app', 'app_sp', 'app_secret', 'app_role', 'app_role_assignment',
					'provider_sp', 'peer_role', 'peer_role_assignment',
					'aiven_request', 'aiven_pending', 'azure_peering', 'azure_peering_wait',
					'app_secret_remove', 'aiven_active', 'active',
					'delete_azure_peering', 'delete_aiven', 'aiven_deleted',
					'delete_role_assignments', 'delete_app', 'delete_roles', 'deleted'));

-- A secret the extension made never goes into a dump: pg_dump carries the
-- user's credentials (which name files, not secrets, when set as advised),
-- not the short-lived ones of the peering applications.
SELECT pg_catalog.pg_extension_config_dump('peering.credentials', 'WHERE NOT internal');

-- Bring your own application, and the Azure peering's options.
ALTER TABLE peering.connections
	ADD COLUMN app_credential text,
	ADD COLUMN allow_forwarded_traffic boolean NOT NULL DEFAULT false,
	ADD COLUMN allow_gateway_transit boolean NOT NULL DEFAULT false,
	ADD COLUMN use_remote_gateways boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN peering.connections.app_credential IS 'azure_client_secret credential of an existing multi-tenant application to peer with, instead of one the extension creates; NULL: the extension creates (and deletes) its own';
COMMENT ON COLUMN peering.connections.allow_forwarded_traffic IS 'allowForwardedTraffic of the Azure peering';
COMMENT ON COLUMN peering.connections.allow_gateway_transit IS 'allowGatewayTransit of the Azure peering';
COMMENT ON COLUMN peering.connections.use_remote_gateways IS 'useRemoteGateways of the Azure peering';

DROP FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text);
CREATE FUNCTION peering_create(project text, project_vpc_id uuid, subscription_id uuid,
							   resource_group text, vnet_name text,
							   peering_name text DEFAULT NULL,
							   azure_credential text DEFAULT 'azure',
							   aiven_credential text DEFAULT 'aiven',
							   app_role text DEFAULT 'custom',
							   app_credential text DEFAULT NULL,
							   allow_forwarded_traffic boolean DEFAULT false,
							   allow_gateway_transit boolean DEFAULT false,
							   use_remote_gateways boolean DEFAULT false)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_create'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean) IS
'Validates (locally and with read-only remote checks) and records a peering; the background worker creates it after COMMIT';
REVOKE ALL ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean) TO peering_admin;

-- A credential in use cannot vanish under its connections.  Not a foreign
-- key: a deleted connection keeps naming its credentials, which may go.
CREATE FUNCTION peering.refuse_credential_in_use() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
	users text;
BEGIN
	SELECT string_agg(id::text, ', ' ORDER BY id) INTO users
	  FROM peering.connections
	 WHERE step <> 'deleted' AND OLD.name IN (azure_credential, aiven_credential, app_credential);
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'credential "%" is in use', OLD.name
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = format('Peering connections %s use it.', users),
				  HINT = 'Delete those connections with peering_delete() first, or replace the credential with peering_credential_set().';
	END IF;
	RETURN OLD;
END
$$;
REVOKE ALL ON FUNCTION peering.refuse_credential_in_use() FROM PUBLIC;
COMMENT ON FUNCTION peering.refuse_credential_in_use() IS
	'Trigger: refuses to delete or rename a credential that a live peering connection uses';
CREATE TRIGGER refuse_credential_in_use BEFORE DELETE OR UPDATE OF name ON peering.credentials
	FOR EACH ROW EXECUTE FUNCTION peering.refuse_credential_in_use();

-- Connections whose credential was deleted before 1.1 stop with a hint
-- instead of waiting for nothing.
UPDATE peering.connections c
   SET failed = true, next_attempt_at = NULL, last_error_code = '42704',
	   last_error = format('credential "%s" does not exist (hint: create it again with peering_credential_set(), then call peering_retry(%s))',
						   CASE WHEN NOT EXISTS (SELECT FROM peering.credentials k WHERE k.name = c.azure_credential)
								THEN c.azure_credential ELSE c.aiven_credential END, c.id)
 WHERE step <> 'deleted' AND NOT failed
   AND (NOT EXISTS (SELECT FROM peering.credentials k WHERE k.name = c.azure_credential)
		OR NOT EXISTS (SELECT FROM peering.credentials k WHERE k.name = c.aiven_credential));

-- peering_credential_set checks pg_read_server_files for secret_file: as
-- SECURITY INVOKER that is the current user, also inside another role's
-- SECURITY DEFINER code (its table access runs as the owner in C anyway).
ALTER FUNCTION peering_credential_set(text, text, text, uuid, uuid, text) SECURITY INVOKER;

-- The two roles are privileges, never people: an existing role of that name
-- that can log in is refused rather than silently given them.
DO $roles$
DECLARE
	r text;
BEGIN
	FOR r IN SELECT rolname FROM pg_catalog.pg_roles
			  WHERE rolname IN ('peering_admin', 'peering_reader') AND rolcanlogin
	LOOP
		RAISE EXCEPTION 'role "%" exists and can log in', r
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The extension grants its privileges to the roles peering_admin and peering_reader, which must be group roles.',
				  HINT = format('Run ALTER ROLE %I NOLOGIN and grant the role to the users instead, or drop it.', r);
	END LOOP;
END
$roles$;

-- Address-space changes: the Azure peering's peeringSyncLevel, watched on
-- re-check (a stale local side is synced with ?syncRemoteAddressSpace=true by
-- peering.auto_repair; a stale remote side is the provider's to sync).
ALTER TABLE peering.connections ADD COLUMN azure_sync_level text;
COMMENT ON COLUMN peering.connections.azure_sync_level IS 'Azure peeringSyncLevel: FullyInSync; LocalNotInSync when the provider''s VNet changed its address space and the peering must sync; RemoteNotInSync when the VNet''s changed and the provider''s side must sync; LocalAndRemoteNotInSync';

-- Progress at a glance: one row per live connection, in the words
-- peering_wait uses too.
CREATE VIEW peering.progress AS
SELECT c.id,
	   s.number AS step_number,
	   s.total AS steps,
	   c.step,
	   c.state,
	   c.azure_peering_state,
	   c.azure_sync_level,
	   round(extract(epoch FROM now() - c.step_since))::integer AS seconds_in_step,
	   CASE
		   WHEN c.failed THEN 'a fix, then peering_retry(' || c.id || ')'
		   WHEN c.retry_class IS NOT NULL THEN 'a retry after a ' || c.retry_class || ' failure'
		   WHEN c.claimed_by IS NOT NULL AND c.claimed_until > now() THEN 'the remote calls in flight'
		   ELSE s.waits_for
	   END AS waiting_for,
	   CASE WHEN c.failed THEN NULL ELSE c.next_attempt_at END AS next_attempt_at,
	   c.retry_until,
	   c.last_error
  FROM peering.connections c
  JOIN (VALUES
		('app', 1, 14, 'the application to be created'),
		('app_sp', 2, 14, 'its service principal'),
		('app_role', 3, 14, 'the application''s role'),
		('app_role_assignment', 4, 14, 'the application''s role on the VNet'),
		('provider_sp', 5, 14, 'the provider''s service principal'),
		('peer_role', 6, 14, 'the provider''s role'),
		('peer_role_assignment', 7, 14, 'the provider''s role on the VNet'),
		('aiven_request', 8, 14, 'the Aiven connection to be requested'),
		('aiven_pending', 9, 14, 'Aiven to build its side (APPROVED to PENDING_PEER)'),
		('app_secret', 10, 14, 'the application''s secret'),
		('azure_peering', 11, 14, 'the Azure peering to be created'),
		('azure_peering_wait', 12, 14, 'Azure to provision the peering'),
		('app_secret_remove', 13, 14, 'the application''s secret to be removed'),
		('aiven_active', 14, 14, 'Aiven to see the peering (PENDING_PEER to ACTIVE)'),
		('active', 14, 14, 'the next re-check'),
		('delete_azure_peering', 1, 6, 'Azure to delete the peering'),
		('delete_aiven', 2, 6, 'the Aiven connection to be deleted'),
		('aiven_deleted', 3, 6, 'Aiven to delete the connection (DELETING to DELETED)'),
		('delete_role_assignments', 4, 6, 'the role assignments to be deleted'),
		('delete_app', 5, 6, 'the application to be deleted and purged'),
		('delete_roles', 6, 6, 'the custom roles to be deleted if unused'))
	   AS s(step, number, total, waits_for) ON s.step = c.step
 WHERE c.step <> 'deleted';
COMMENT ON VIEW peering.progress IS 'One row per live connection: where it is, what it waits for and until when';
COMMENT ON COLUMN peering.progress.step_number IS 'Position of the step in its lifecycle (creation or deletion)';
COMMENT ON COLUMN peering.progress.steps IS 'Steps of that lifecycle';
COMMENT ON COLUMN peering.progress.seconds_in_step IS 'Seconds since the current step began';
COMMENT ON COLUMN peering.progress.waiting_for IS 'What the connection waits for';
COMMENT ON COLUMN peering.progress.next_attempt_at IS 'When it is looked at again';
COMMENT ON COLUMN peering.progress.retry_until IS 'When a run of failed attempts gives up';
GRANT SELECT ON peering.progress TO peering_reader;

-- Automatic repair (peering.auto_repair) records what it re-created.
ALTER TABLE peering.events DROP CONSTRAINT events_kind_check;
ALTER TABLE peering.events ADD CONSTRAINT events_kind_check
	CHECK (kind IN ('created', 'step', 'state', 'error', 'failed', 'retry', 'delete', 'drift',
					'repair'));

-- A dry run of peering_create: what exists, what would be created, changed
-- or deleted, and what blocks it.  Reads only; writes nothing.
CREATE FUNCTION peering_plan(project text, project_vpc_id uuid, subscription_id uuid,
							 resource_group text, vnet_name text,
							 peering_name text DEFAULT NULL,
							 azure_credential text DEFAULT 'azure',
							 aiven_credential text DEFAULT 'aiven',
							 app_role text DEFAULT 'custom',
							 app_credential text DEFAULT NULL,
							 allow_forwarded_traffic boolean DEFAULT false,
							 allow_gateway_transit boolean DEFAULT false,
							 use_remote_gateways boolean DEFAULT false)
RETURNS TABLE (step text, action text, detail text)
AS 'MODULE_PATHNAME', 'peering_plan'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean) IS
'Dry run of peering_create: the pre-flight, then per step exists, create, update, delete or blocked; no remote write, no row';
REVOKE ALL ON FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean) TO peering_admin;

-- Taking over a peering made by hand.
ALTER TABLE peering.connections ADD COLUMN adopted boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN peering.connections.adopted IS 'Taken over by peering_adopt(): nothing of it is the extension''s but the peering itself, and what is missing is not re-created';
CREATE FUNCTION peering_adopt(project text, project_vpc_id uuid, subscription_id uuid,
							  resource_group text, vnet_name text,
							  azure_credential text DEFAULT 'azure',
							  aiven_credential text DEFAULT 'aiven')
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_adopt'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text) IS
'Records a peering made by hand (its Aiven connection and Azure peering) without creating anything; peering_delete removes only the peering itself';
REVOKE ALL ON FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text) TO peering_admin;
