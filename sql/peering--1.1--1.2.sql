/* peering--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION peering UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------
-- Nothing a database owner defines runs with the extension's rights:
-- objects qualify their operators and functions.
-- ---------------------------------------------------------------------


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


