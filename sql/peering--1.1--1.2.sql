/* peering--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION peering UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------
-- Nothing a database owner defines runs with the extension's rights:
-- objects qualify their operators and functions.
-- ---------------------------------------------------------------------

-- The one step table of the library (include/steps.h), for SQL: the
-- progress view reads it, and so can anyone who wants the lifecycles in
-- order.
CREATE FUNCTION peering.steps(OUT number integer, OUT step text, OUT phase text,
							  OUT waits_for text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'peering_steps'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering.steps() IS
'The steps of a peering, in the order of their lifecycles: number (position in its lifecycle), step, phase (create, watch, delete, done) and what a connection at it waits for';
REVOKE ALL ON FUNCTION peering.steps() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering.steps() TO peering_reader;

-- peering.progress is re-created at the end of this script, with every
-- operator and function named from pg_catalog.

-- The trigger's search_path had pg_catalog only, so a type name such as
-- text was first looked up in the caller's temporary schema (searched
-- first for types unless named last): a peering_admin could have a domain
-- of its own checked as the extension owner.
ALTER FUNCTION peering.refuse_credential_in_use() SET search_path = pg_catalog, pg_temp;

-- Listing a project's VPCs calls Aiven with the extension's token: for
-- those who may create peerings, as peering_plan.
REVOKE EXECUTE ON FUNCTION peering_vpcs(text, text) FROM peering_reader;
GRANT EXECUTE ON FUNCTION peering_vpcs(text, text) TO peering_admin;


-- ---------------------------------------------------------------------
-- Taking over a peering made by hand, and bad input.
-- ---------------------------------------------------------------------

-- peering_adopt never guesses which peering of the VNet is the provider's:
-- when Aiven does not name the provider's VNet, the caller names the peering.
DROP FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text);
CREATE FUNCTION peering_adopt(project text, project_vpc_id uuid, subscription_id uuid,
							  resource_group text, vnet_name text,
							  azure_credential text DEFAULT 'azure',
							  aiven_credential text DEFAULT 'aiven',
							  peering_name text DEFAULT NULL)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_adopt'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text, text) IS
'Records a peering made by hand (its Aiven connection and Azure peering) without creating anything; peering_delete removes only the peering itself.  peering_name names the Azure peering when Aiven does not name the provider''s VNet';
REVOKE ALL ON FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_adopt(text, uuid, uuid, text, text, text, text, text) TO peering_admin;

COMMENT ON FUNCTION peering_credential_drop(text) IS
'Removes a credential that no live connection uses; an unknown name is an error (42704)';


-- ---------------------------------------------------------------------
-- Every wait ends; only what is provably ours is written.
-- ---------------------------------------------------------------------

-- A step that waits for the remote side does so within peering.wait_budget
-- (retry class 'waiting', from the start of the step).
ALTER TABLE peering.connections DROP CONSTRAINT connections_retry_class_check;
ALTER TABLE peering.connections ADD CONSTRAINT connections_retry_class_check
	CHECK (retry_class IN ('transient', 'replication', 'throttling', 'waiting'));
COMMENT ON COLUMN peering.connections.retry_class IS 'Why the current step is being retried: transient (network, 5xx), replication (Entra ID replication or Azure role propagation after a write) or throttling (429); waiting while the remote side is busy (peering.wait_budget); NULL otherwise';
COMMENT ON COLUMN peering.connections.retry_since IS 'When the current run of failed attempts, or the current wait, began';
COMMENT ON COLUMN peering.connections.retry_until IS 'When the connection gives up and stops as failed (retry_since plus the budget of retry_class)';




-- ---------------------------------------------------------------------
-- Both sides in sync, changed in place, and ACTIVE that means reachable.
-- ---------------------------------------------------------------------

-- Networks routed through the customer's VNet (Aiven's
-- user_peer_network_cidrs), the IP filters the extension may open, and
-- the services of the project VPC that the VNet cannot reach.
ALTER TABLE peering.connections
	ADD COLUMN user_peer_network_cidrs cidr[] NOT NULL DEFAULT '{}',
	ADD COLUMN open_ip_filter boolean NOT NULL DEFAULT false,
	ADD COLUMN unreachable_services text[];
COMMENT ON COLUMN peering.connections.user_peer_network_cidrs IS 'Networks behind the VNet that Aiven routes through the peering (Aiven''s user_peer_network_cidrs)';
COMMENT ON COLUMN peering.connections.open_ip_filter IS 'Whether the extension adds the VNet''s prefixes (and user_peer_network_cidrs) to the IP filters of the project''s services in that VPC that do not admit them; the teardown removes exactly what it added';
COMMENT ON COLUMN peering.connections.unreachable_services IS 'Services of the project in that VPC whose IP filter admits none of the VNet''s address prefixes, as of the last check; NULL before the first';

-- An alter applied in place, and a change of what the VNet can reach.
ALTER TABLE peering.events DROP CONSTRAINT events_kind_check;
ALTER TABLE peering.events ADD CONSTRAINT events_kind_check
	CHECK (kind IN ('created', 'step', 'state', 'error', 'failed', 'retry', 'delete', 'drift',
					'repair', 'altered', 'reachability'));
COMMENT ON COLUMN peering.events.kind IS 'created, step (a step completed), state (Aiven or Azure state changed), error (retried), failed (stopped), retry, delete, drift, repair (re-created by peering.auto_repair), altered (peering_alter applied), reachability (unreachable_services changed)';

DROP FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean);
CREATE FUNCTION peering_create(project text, project_vpc_id uuid, subscription_id uuid,
							   resource_group text, vnet_name text,
							   peering_name text DEFAULT NULL,
							   azure_credential text DEFAULT 'azure',
							   aiven_credential text DEFAULT 'aiven',
							   app_role text DEFAULT 'custom',
							   app_credential text DEFAULT NULL,
							   allow_forwarded_traffic boolean DEFAULT false,
							   allow_gateway_transit boolean DEFAULT false,
							   use_remote_gateways boolean DEFAULT false,
							   user_peer_network_cidrs cidr[] DEFAULT '{}',
							   open_ip_filter boolean DEFAULT false)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_create'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean, cidr[], boolean) IS
'Validates (locally and with read-only remote checks) and records a peering; the background worker creates it after COMMIT';
REVOKE ALL ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean, cidr[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_create(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean, cidr[], boolean) TO peering_admin;

DROP FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean);
CREATE FUNCTION peering_plan(project text, project_vpc_id uuid, subscription_id uuid,
							 resource_group text, vnet_name text,
							 peering_name text DEFAULT NULL,
							 azure_credential text DEFAULT 'azure',
							 aiven_credential text DEFAULT 'aiven',
							 app_role text DEFAULT 'custom',
							 app_credential text DEFAULT NULL,
							 allow_forwarded_traffic boolean DEFAULT false,
							 allow_gateway_transit boolean DEFAULT false,
							 use_remote_gateways boolean DEFAULT false,
							 user_peer_network_cidrs cidr[] DEFAULT '{}',
							 open_ip_filter boolean DEFAULT false)
RETURNS TABLE (step text, action text, detail text)
AS 'MODULE_PATHNAME', 'peering_plan'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean, cidr[], boolean) IS
'Dry run of peering_create: the pre-flight, then per step exists, create, update, delete or blocked; no remote write, no row';
REVOKE ALL ON FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean, cidr[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_plan(text, uuid, uuid, text, text, text, text, text, text, text, boolean, boolean, boolean, cidr[], boolean) TO peering_admin;

-- peering_alter changes an ACTIVE peering in place: the worker applies the
-- new values at the step alter (the same Azure peering, the same Aiven
-- connection).  The teardown removes the IP filter entries a connection
-- added (open_ip_filter) before its Aiven connection goes.
ALTER TABLE peering.connections DROP CONSTRAINT connections_step_check;
ALTER TABLE peering.connections ADD CONSTRAINT connections_step_check
	CHECK (step IN ('app', 'app_sp', 'app_secret', 'app_role', 'app_role_assignment',
					'provider_sp', 'peer_role', 'peer_role_assignment',
					'aiven_request', 'aiven_pending', 'azure_peering', 'azure_peering_wait',
					'app_secret_remove', 'aiven_active', 'active', 'alter',
					'delete_azure_peering', 'ip_filter_close', 'delete_aiven', 'aiven_deleted',
					'delete_role_assignments', 'delete_app', 'delete_roles', 'deleted'));

CREATE FUNCTION peering_alter(id bigint,
							  allow_forwarded_traffic boolean DEFAULT NULL,
							  allow_gateway_transit boolean DEFAULT NULL,
							  use_remote_gateways boolean DEFAULT NULL,
							  user_peer_network_cidrs cidr[] DEFAULT NULL,
							  open_ip_filter boolean DEFAULT NULL)
RETURNS peering.connections
AS 'MODULE_PATHNAME', 'peering_alter'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION peering_alter(bigint, boolean, boolean, boolean, cidr[], boolean) IS
'Changes an ACTIVE peering in place (the flags of the same Azure peering, the networks Aiven routes through the same connection, open_ip_filter); NULL leaves a property as it is; the worker applies it after COMMIT with an altered event';
REVOKE ALL ON FUNCTION peering_alter(bigint, boolean, boolean, boolean, cidr[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peering_alter(bigint, boolean, boolean, boolean, cidr[], boolean) TO peering_admin;

-- A view binds its operators when it is created, and CREATE EXTENSION
-- searches the target schema (public), where the database owner may have
-- put an operator that fits better than pg_catalog's: 1.1 bound
-- 'peering_retry(' || c.id to a public.||(text, bigint) if there was one.
-- Every operator and function here is pg_catalog's by name.  A row waiting
-- on the remote side within its budget (retry class 'waiting') waits for
-- what its step waits for; retry_until says until when.
-- The column hint says which services drop the VNet's traffic and what
-- fixes it.
CREATE OR REPLACE VIEW peering.progress AS
SELECT c.id,
	   s.number AS step_number,
	   s.total AS steps,
	   c.step,
	   c.state,
	   c.azure_peering_state,
	   c.azure_sync_level,
	   pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now() OPERATOR(pg_catalog.-) c.step_since))::integer
		   AS seconds_in_step,
	   CASE
		   WHEN c.failed
		   THEN pg_catalog.format('a fix, then peering_retry(%s)', c.id)
		   WHEN c.retry_class IS NOT NULL AND c.retry_class OPERATOR(pg_catalog.<>) 'waiting'
		   THEN pg_catalog.format('a retry after a %s failure', c.retry_class)
		   WHEN c.claimed_by IS NOT NULL AND c.claimed_until OPERATOR(pg_catalog.>) pg_catalog.now()
		   THEN 'the remote calls in flight'
		   ELSE s.waits_for
	   END AS waiting_for,
	   CASE WHEN c.failed THEN NULL ELSE c.next_attempt_at END AS next_attempt_at,
	   c.retry_until,
	   c.last_error,
	   CASE
		   WHEN pg_catalog.cardinality(c.unreachable_services) OPERATOR(pg_catalog.>) 0
		   THEN pg_catalog.format('the IP filter of service(s) %s admits none of the address prefixes of VNet %s, so their traffic from it is dropped: call peering_alter(%s, open_ip_filter => true), or add the prefixes to those services'' IP filters',
								  pg_catalog.array_to_string(c.unreachable_services, ', '), c.vnet_name, c.id)
	   END AS hint
  FROM peering.connections c
  JOIN (SELECT t.step, t.number, t.waits_for,
			   pg_catalog.max(t.number) OVER (PARTITION BY t.phase) AS total
		  FROM peering.steps() t) s ON s.step OPERATOR(pg_catalog.=) c.step
 WHERE c.step OPERATOR(pg_catalog.<>) 'deleted';
COMMENT ON COLUMN peering.progress.waiting_for IS 'What the connection waits for: a fix, a retry, the remote calls in flight, or what its step waits for (also while waiting on the remote side within retry_until)';
COMMENT ON COLUMN peering.progress.hint IS 'What to do about services of the project VPC that drop the VNet''s traffic (unreachable_services), or NULL';
