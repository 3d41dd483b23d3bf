--
-- catalog: the shape of what CREATE EXTENSION peering installs.
--
\set SHOW_CONTEXT never

-- the extension and its members
SELECT extname, extversion, extnamespace::regnamespace AS schema, extrelocatable
  FROM pg_extension WHERE extname = 'peering';
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS member
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'peering'
   AND d.deptype = 'e'
 ORDER BY pg_describe_object(d.classid, d.objid, d.objsubid) COLLATE "C";

-- the schema and its tables: logged (they survive a crash and reach a
-- standby), each with a comment
SELECT nspname, obj_description(oid, 'pg_namespace') AS comment
  FROM pg_namespace WHERE nspname = 'peering';
SELECT c.relname, c.relkind, c.relpersistence, obj_description(c.oid, 'pg_class') AS comment
  FROM pg_class c
 WHERE c.relnamespace = 'peering'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
 ORDER BY c.relname COLLATE "C";

-- columns and types
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, a.attidentity AS identity,
       pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'peering'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname COLLATE "C", a.attnum;

-- every column a user reads has a comment (expect none listed)
SELECT c.relname, a.attname
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.oid IN ('peering.connections'::regclass, 'peering.events'::regclass)
   AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY c.relname COLLATE "C", a.attname COLLATE "C";
-- every function has one (expect none listed)
SELECT p.oid::regprocedure AS function
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'peering'
 WHERE obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT count(*) AS commented_functions
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'peering'
 WHERE obj_description(p.oid, 'pg_proc') IS NOT NULL;

-- signatures and result types of the SQL entry points (docs/architecture.md section 7:
-- the names and argument names are a contract)
\x on
SELECT p.proname AS name, p.prokind AS kind,
       pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result,
       p.provolatile AS volatility, p.proisstrict AS strict
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'peering'
 ORDER BY p.oid::regprocedure::text COLLATE "C";
\x off

-- constraints and indexes
SELECT conrelid::regclass AS "table", conname, contype, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint
 WHERE connamespace = 'peering'::regnamespace
 ORDER BY conrelid::regclass::text COLLATE "C", conname COLLATE "C";
SELECT indrelid::regclass AS "table", indexrelid::regclass AS index,
       pg_get_indexdef(indexrelid) AS definition
  FROM pg_index
 WHERE indrelid IN ('peering.connections'::regclass, 'peering.events'::regclass,
                    'peering.credentials'::regclass)
 ORDER BY indexrelid::regclass::text COLLATE "C";

-- pg_dump keeps the user's data: the tables and their sequences are
-- configuration tables of the extension
SELECT c.config::regclass AS config, c.condition
  FROM pg_extension e,
       unnest(e.extconfig, e.extcondition) AS c(config, condition)
 WHERE e.extname = 'peering'
 ORDER BY c.config::regclass::text COLLATE "C";

-- the settings: names, types, units, contexts and defaults (this suite's
-- configuration sets peering.database and peering.worker_enabled)
SELECT name, setting, unit, vartype, context, min_val, max_val, boot_val
  FROM pg_settings WHERE name LIKE 'peering.%' ORDER BY name COLLATE "C";

--
-- CHECK constraints.  VERBOSITY terse: the DETAIL of a violation holds the
-- whole row, timestamps included.
--
\set VERBOSITY terse
\set vpc 11111111-2222-4333-8444-555555555555
\set sub aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
INSERT INTO peering.credentials (name, kind, secret) VALUES ('regress', 'gcp_token', 'x');
\echo :SQLSTATE
INSERT INTO peering.credentials (name, kind, secret_file, secret)
VALUES ('regress', 'aiven_token', '/tmp/x', 'x');
\echo :SQLSTATE
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential, step)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
        'to-aiven', 'azure', 'aiven', 'bogus');
\echo :SQLSTATE
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential, app_role)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
        'to-aiven', 'azure', 'aiven', 'owner');
\echo :SQLSTATE
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential, desired)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
        'to-aiven', 'azure', 'aiven', 'gone');
\echo :SQLSTATE
-- a valid row, then the events CHECK and foreign key
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
        'to-aiven', 'azure', 'aiven', NULL)
RETURNING id AS conn \gset
SELECT step, desired, app_role, failed, attempts, generation, state IS NULL AS no_state
  FROM peering.connections WHERE id = :conn;
INSERT INTO peering.events (connection_id, kind) VALUES (:conn, 'bogus');
\echo :SQLSTATE
INSERT INTO peering.events (connection_id, kind) VALUES (-1, 'created');
\echo :SQLSTATE
INSERT INTO peering.events (connection_id, kind, message) VALUES (:conn, 'created', 'regress');

--
-- One live connection per VNet and project VPC, whatever the case of the
-- names; deleted ones do not count.
--
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'REGRESS-RG', 'Regress-VNet',
        'to-aiven', 'azure', 'aiven', NULL);
\echo :SQLSTATE
UPDATE peering.connections SET step = 'deleted' WHERE id = :conn;
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'REGRESS-RG', 'Regress-VNet',
        'to-aiven', 'azure', 'aiven', NULL);
\echo :SQLSTATE
-- another VNet of the same project VPC is another connection
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet-2',
        'to-aiven', 'azure', 'aiven', NULL);
SELECT resource_group, vnet_name, step FROM peering.connections ORDER BY id;
-- events go with their connection
DELETE FROM peering.connections WHERE id = :conn;
SELECT count(*) FROM peering.events WHERE connection_id = :conn;
DELETE FROM peering.connections;
\set VERBOSITY default

--
-- The extension lives in one database, the worker's (peering.database).
--
CREATE DATABASE regress_peering_other;
\c regress_peering_other
\set SHOW_CONTEXT never
CREATE EXTENSION peering;
\echo :SQLSTATE
SELECT count(*) FROM pg_namespace WHERE nspname = 'peering';
\c contrib_regression
DROP DATABASE regress_peering_other;

--
-- DROP EXTENSION keeps the cluster-wide roles; CREATE EXTENSION again
-- reuses them.
--
DROP EXTENSION peering;
SELECT rolname FROM pg_roles WHERE rolname IN ('peering_admin', 'peering_reader') ORDER BY rolname COLLATE "C";
SELECT count(*) FROM pg_namespace WHERE nspname = 'peering';
CREATE EXTENSION peering;
SELECT count(*) AS members
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'peering' AND d.deptype = 'e';
SELECT r.rolname AS role, m.rolname AS member_of
  FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.member
  JOIN pg_roles m ON m.oid = a.roleid
 WHERE r.rolname IN ('peering_admin', 'peering_reader')
 ORDER BY r.rolname COLLATE "C", m.rolname COLLATE "C";
SELECT has_table_privilege('peering_reader', 'peering.connections', 'SELECT') AS reader_connections,
       has_table_privilege('peering_admin', 'peering.credentials', 'SELECT') AS admin_credentials,
       has_function_privilege('peering_admin',
           'peering_create(text,uuid,uuid,text,text,text,text,text,text,text,boolean,boolean,boolean,cidr[],boolean)', 'EXECUTE') AS admin_create;
