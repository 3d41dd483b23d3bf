--
-- privileges: what a plain role, a peering_reader and a peering_admin may do.
--
-- The endpoints point at a port where nothing listens: nothing here may
-- reach the network.  \echo :SQLSTATE follows each statement that must fail.
--
\set SHOW_CONTEXT never
SET peering.aiven_url = 'https://127.0.0.1:9/aiven';
SET peering.login_url = 'https://127.0.0.1:9/login';
SET peering.graph_url = 'https://127.0.0.1:9/graph';
SET peering.arm_url = 'https://127.0.0.1:9/arm';
SET peering.http_timeout = '1s';
\set vpc 11111111-2222-4333-8444-555555555555
\set sub aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee

CREATE ROLE regress_peering_plain;
CREATE ROLE regress_peering_reader IN ROLE peering_reader;
CREATE ROLE regress_peering_admin IN ROLE peering_admin;
-- may read every setting, superuser-only ones included, but set none
CREATE ROLE regress_peering_settings IN ROLE pg_read_all_settings;

-- the extension's roles: no login, admin includes reader
SELECT rolname, rolcanlogin, rolsuper, rolinherit
  FROM pg_roles WHERE rolname IN ('peering_admin', 'peering_reader') ORDER BY rolname COLLATE "C";
SELECT r.rolname AS role, m.rolname AS member_of
  FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.member
  JOIN pg_roles m ON m.oid = a.roleid
 WHERE r.rolname LIKE 'peering\_%' OR r.rolname LIKE 'regress\_peering\_%'
 ORDER BY r.rolname COLLATE "C", m.rolname COLLATE "C";

-- a connection and credentials to look at (written as the owner)
SELECT peering_credential_set('aiven', 'aiven_token', secret => 'regress-aiven-token');
SELECT peering_credential_set('azure', 'azure_token', secret => 'regress-azure-token');
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       failed, next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
        'to-aiven', 'azure', 'aiven', true, NULL)
RETURNING id AS conn \gset
INSERT INTO peering.events (connection_id, kind, step, message)
VALUES (:conn, 'created', 'app', 'regress');
-- (a role without USAGE on schema peering cannot even look its tables up)
SELECT 'peering.credentials'::regclass::oid AS credentials_oid,
       'peering.connections'::regclass::oid AS connections_oid,
       'peering.events'::regclass::oid AS events_oid \gset

--
-- PUBLIC has nothing: no schema usage, no table privilege, no EXECUTE on
-- any function of the extension.  Privileges are listed with the owner
-- shown as "owner" (its name is the OS user that runs the suite).
--
CREATE FUNCTION pg_temp.acl(acl aclitem[], objtype "char", owner oid)
RETURNS TABLE (grantee text, privileges text)
LANGUAGE sql AS $$
  SELECT CASE e.grantee WHEN 0 THEN 'PUBLIC' WHEN owner THEN 'owner'
         ELSE pg_get_userbyid(e.grantee)::text END,
         string_agg(e.privilege_type, ', ' ORDER BY e.privilege_type)
    FROM aclexplode(coalesce(acl, acldefault(objtype, owner))) e
   GROUP BY 1
$$;
SELECT n.nspname, a.grantee, a.privileges
  FROM pg_namespace n, pg_temp.acl(n.nspacl, 'n', n.nspowner) a
 WHERE n.nspname = 'peering';
SELECT c.relname, c.relkind, a.grantee, a.privileges
  FROM pg_class c,
       pg_temp.acl(c.relacl, (CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner) a
 WHERE c.relnamespace = 'peering'::regnamespace AND c.relkind IN ('r', 'S', 'v', 'm')
 ORDER BY c.relname COLLATE "C", a.grantee COLLATE "C";
SELECT p.oid::regprocedure AS function, a.grantee, a.privileges
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'peering',
       pg_temp.acl(p.proacl, 'f', p.proowner) a
 ORDER BY p.oid::regprocedure::text COLLATE "C", a.grantee COLLATE "C";
-- the same, asked the other way
SELECT p.oid::regprocedure AS function
  FROM pg_proc p
 WHERE p.proname LIKE 'peering\_%' AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) AS peering_functions FROM pg_proc WHERE proname LIKE 'peering\_%';

--
-- Functions that read credentials run as the owner with a fixed
-- search_path.  peering_run() is the exception: a SECURITY DEFINER
-- procedure may not COMMIT, so it reads the catalog as the owner in C.
--
SELECT p.oid::regprocedure AS function, p.prosecdef, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'peering'
 ORDER BY p.oid::regprocedure::text COLLATE "C";

--
-- A plain role
--
SET ROLE regress_peering_plain;
-- no table
SELECT * FROM peering.credentials;
\echo :SQLSTATE
SELECT * FROM peering.connections;
\echo :SQLSTATE
SELECT * FROM peering.events;
\echo :SQLSTATE
SELECT has_table_privilege(:credentials_oid::oid, 'SELECT') AS credentials,
       has_table_privilege(:connections_oid::oid, 'SELECT') AS connections,
       has_table_privilege(:events_oid::oid, 'SELECT') AS events;
-- no function
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet2');
\echo :SQLSTATE
SELECT * FROM peering_status();
\echo :SQLSTATE
SELECT * FROM peering_status(:conn, false);
\echo :SQLSTATE
SELECT peering_wait(:conn);
\echo :SQLSTATE
SELECT * FROM peering_vpcs('regress-project');
\echo :SQLSTATE
SELECT * FROM peering_credentials();
\echo :SQLSTATE
SELECT peering_credential_set('mine', 'aiven_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_drop('aiven');
\echo :SQLSTATE
SELECT peering_retry(:conn);
\echo :SQLSTATE
SELECT peering_delete(:conn);
\echo :SQLSTATE
CALL peering_run();
\echo :SQLSTATE
-- no endpoint, CA file, provider application or timeout: neither SET ...
SET peering.arm_url = 'https://attacker.example';
\echo :SQLSTATE
SET peering.login_url = 'https://attacker.example';
\echo :SQLSTATE
SET peering.graph_url = 'https://attacker.example';
\echo :SQLSTATE
SET peering.aiven_url = 'https://attacker.example';
\echo :SQLSTATE
SET peering.ca_file = '/tmp/attacker-ca.crt';
\echo :SQLSTATE
SET peering.provider_app_id = '00000000-0000-4000-8000-000000000000';
\echo :SQLSTATE
SET peering.http_timeout = '600s';
\echo :SQLSTATE
SELECT set_config('peering.arm_url', 'https://attacker.example', false);
\echo :SQLSTATE
SELECT set_config('peering.arm_url', 'https://attacker.example', true);
\echo :SQLSTATE
-- ... nor as a setting of its own role, which would apply at its next login
ALTER ROLE regress_peering_plain SET peering.arm_url = 'https://attacker.example';
\echo :SQLSTATE
-- nor RESET to something else than what the superuser set
RESET peering.arm_url;
\echo :SQLSTATE
-- and it cannot read them either (they are GUC_SUPERUSER_ONLY)
SHOW peering.arm_url;
\echo :SQLSTATE
SHOW peering.ca_file;
\echo :SQLSTATE
SHOW peering.database;
\echo :SQLSTATE
SHOW peering.http_timeout;
\echo :SQLSTATE
SELECT current_setting('peering.aiven_url');
\echo :SQLSTATE
-- pg_settings hides them
SELECT name FROM pg_settings WHERE name LIKE 'peering.%' ORDER BY name COLLATE "C";
-- what the worker reads is visible, and set only in the configuration file
SHOW peering.poll_interval;
SET peering.poll_interval = '1s';
\echo :SQLSTATE
SET peering.worker_enabled = on;
\echo :SQLSTATE
-- the prefix is reserved for everyone
SET peering.no_such_setting = 'x';
\echo :SQLSTATE
RESET ROLE;
SELECT count(*) AS plain_role_settings FROM pg_db_role_setting
 WHERE setrole = 'regress_peering_plain'::regrole;

--
-- pg_read_all_settings may read the settings, not set them
--
SET ROLE regress_peering_settings;
SHOW peering.arm_url;
SHOW peering.provider_app_id;
SET peering.arm_url = 'https://attacker.example';
\echo :SQLSTATE
RESET ROLE;

--
-- peering_reader: reads connections and events, calls peering_status(),
-- nothing else
--
SET ROLE regress_peering_reader;
SELECT project, vnet_name, step, failed FROM peering.connections;
SELECT kind, step, message FROM peering.events ORDER BY id;
SELECT project, vnet_name, step FROM peering_status();
SELECT project, vnet_name, step FROM peering_status(:conn, refresh => false);
-- credentials are listed without their secrets, never read
SELECT name, kind, secret_file, has_inline_secret FROM peering_credentials() ORDER BY name COLLATE "C";
SELECT * FROM peering.credentials;
\echo :SQLSTATE
SELECT secret FROM peering.credentials;
\echo :SQLSTATE
-- the tables are read-only
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet2',
        'to-aiven', 'azure', 'aiven');
\echo :SQLSTATE
UPDATE peering.connections SET failed = false;
\echo :SQLSTATE
DELETE FROM peering.events;
\echo :SQLSTATE
-- no call to Aiven with the extension's token
SELECT * FROM peering_vpcs('regress-project');
\echo :SQLSTATE
-- no creation, change or credential
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet2');
\echo :SQLSTATE
SELECT peering_retry(:conn);
\echo :SQLSTATE
SELECT peering_delete(:conn);
\echo :SQLSTATE
CALL peering_run();
\echo :SQLSTATE
SELECT peering_credential_set('mine', 'aiven_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_drop('aiven');
\echo :SQLSTATE
SET peering.arm_url = 'https://attacker.example';
\echo :SQLSTATE
SHOW peering.arm_url;
\echo :SQLSTATE
RESET ROLE;

--
-- peering_admin: credentials (inline secrets only), creation, retry,
-- deletion; still no table of its own and no setting
--
SET ROLE regress_peering_admin;
SELECT peering_credential_set('regress_admin', 'aiven_token', secret => 'regress-admin-token');
-- naming a server file is reading it: that needs pg_read_server_files
SELECT peering_credential_set('regress_admin_file', 'aiven_token',
       secret_file => '/tmp/peering_regress_admin_secret');
\echo :SQLSTATE
SELECT peering_credential_set('regress_admin_file', 'azure_client_secret',
       tenant_id => '0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e',
       client_id => '9f9f9f9f-8e8e-4d7d-8c6c-5b5b5b5b5b5b',
       secret_file => '/etc/passwd');
\echo :SQLSTATE
-- the names it may not use
SELECT peering_credential_set('peering_app_1', 'aiven_token', secret => 'x');
\echo :SQLSTATE
-- it sees names and kinds, never a secret
SELECT name, kind, secret_file, has_inline_secret FROM peering_credentials() ORDER BY name COLLATE "C";
SELECT * FROM peering.credentials;
\echo :SQLSTATE
SELECT has_table_privilege(:credentials_oid::oid, 'SELECT') AS credentials,
       has_column_privilege(:credentials_oid::oid, 'secret', 'SELECT') AS secret_column;
-- it reads like a reader
SELECT project, step, failed FROM peering.connections;
SELECT count(*) FROM peering.events WHERE connection_id = :conn;
SELECT vnet_name, step FROM peering_status(:conn, refresh => false);
-- it may list a project's VPCs: this one stops at local validation
SELECT * FROM peering_vpcs('..');
\echo :SQLSTATE
-- it may call peering_create: this one stops at local validation
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet2',
                      azure_credential => 'regress_admin');
\echo :SQLSTATE
-- retry and delete act on the row, through the functions only
SELECT step, failed, generation FROM peering_retry(:conn);
SELECT desired, step, failed FROM peering_delete(:conn);
UPDATE peering.connections SET desired = 'present';
\echo :SQLSTATE
-- its actions are recorded under its name
SELECT kind, step, message FROM peering.events WHERE connection_id = :conn ORDER BY id;
SELECT peering_credential_drop('regress_admin');
-- no setting
SET peering.arm_url = 'https://attacker.example';
\echo :SQLSTATE
SET peering.ca_file = '/tmp/attacker-ca.crt';
\echo :SQLSTATE
SHOW peering.arm_url;
\echo :SQLSTATE
RESET ROLE;

-- the superuser's settings were never changed by the roles above
SHOW peering.arm_url;
SHOW peering.http_timeout;

-- clean up
RESET ALL;
DELETE FROM peering.connections;
DELETE FROM peering.credentials;
DROP ROLE regress_peering_plain, regress_peering_reader, regress_peering_admin,
     regress_peering_settings;
