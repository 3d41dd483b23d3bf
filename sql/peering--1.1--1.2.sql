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


