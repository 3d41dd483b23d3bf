/* peering--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION peering UPDATE TO '1.2'" to load this file. \quit

-- ---------------------------------------------------------------------
-- Nothing a database owner defines runs with the extension's rights:
-- objects qualify their operators and functions.
-- ---------------------------------------------------------------------

-- Listing a project's VPCs calls Aiven with the extension's token: for
-- those who may create peerings, as peering_plan.
REVOKE EXECUTE ON FUNCTION peering_vpcs(text, text) FROM peering_reader;
GRANT EXECUTE ON FUNCTION peering_vpcs(text, text) TO peering_admin;


-- ---------------------------------------------------------------------
-- Taking over a peering made by hand, and bad input.
-- ---------------------------------------------------------------------


-- ---------------------------------------------------------------------
-- Every wait ends; only what is provably ours is written.
-- ---------------------------------------------------------------------

