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
