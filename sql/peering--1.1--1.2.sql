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

