--
-- validation: every check the SQL surface makes before any remote call.
--
-- Nothing here may reach the network.  The endpoints point at a port where
-- nothing listens, so a check that wrongly lets a call through shows up as
-- a connection error in the diff instead of a request to the real cloud.
-- After each statement that must fail, \echo :SQLSTATE prints its SQLSTATE
-- (00000 would mean it did not fail).
--
\set SHOW_CONTEXT never
SET peering.aiven_url = 'https://127.0.0.1:9/aiven';
SET peering.login_url = 'https://127.0.0.1:9/login';
SET peering.graph_url = 'https://127.0.0.1:9/graph';
SET peering.arm_url = 'https://127.0.0.1:9/arm';
SET peering.http_timeout = '1s';
\set vpc 11111111-2222-4333-8444-555555555555
\set sub aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
\set tenant 0a0a0a0a-1b1b-4c2c-8d3d-4e4e4e4e4e4e
\set client 9f9f9f9f-8e8e-4d7d-8c6c-5b5b5b5b5b5b

-- Secret files, written by the server so that they belong to its user:
-- one with mode 0600, one readable by everyone, one empty, one missing.
COPY (SELECT 'regress-token') TO PROGRAM
  'rm -f /tmp/peering_regress_secret && umask 077 && cat > /tmp/peering_regress_secret';
COPY (SELECT 'regress-token') TO PROGRAM
  'rm -f /tmp/peering_regress_open_secret && umask 022 && cat > /tmp/peering_regress_open_secret && chmod 644 /tmp/peering_regress_open_secret';
COPY (SELECT WHERE false) TO PROGRAM
  'rm -f /tmp/peering_regress_empty_secret && umask 077 && cat > /tmp/peering_regress_empty_secret';
COPY (SELECT WHERE false) TO PROGRAM 'rm -f /tmp/peering_regress_no_such_file';

--
-- peering_credential_set
--
-- name and kind are required
SELECT peering_credential_set(NULL, 'aiven_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', NULL, secret => 'x');
\echo :SQLSTATE
-- names: 1 to 63 letters, digits, '_', '.', '-'
SELECT peering_credential_set('', 'aiven_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_set('my credential', 'aiven_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_set('aiven/prod', 'aiven_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_set(repeat('c', 64), 'aiven_token', secret => 'x');
\echo :SQLSTATE
-- the application secrets the extension stores are reserved
SELECT peering_credential_set('peering_app_1', 'azure_client_secret',
       tenant_id => :'tenant', client_id => :'client', secret => 'x');
\echo :SQLSTATE
-- kinds
SELECT peering_credential_set('gcp', 'gcp_token', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'AIVEN_TOKEN', secret => 'x');
\echo :SQLSTATE
-- a file or an inline secret, not both
SELECT peering_credential_set('aiven', 'aiven_token',
       secret_file => '/tmp/peering_regress_secret', secret => 'x');
\echo :SQLSTATE
-- a managed identity takes no secret
SELECT peering_credential_set('mi', 'azure_managed_identity', secret => 'x');
\echo :SQLSTATE
SELECT peering_credential_set('mi', 'azure_managed_identity',
       secret_file => '/tmp/peering_regress_secret');
\echo :SQLSTATE
-- every other kind needs one
SELECT peering_credential_set('aiven', 'aiven_token');
\echo :SQLSTATE
SELECT peering_credential_set('tok', 'azure_token');
\echo :SQLSTATE
SELECT peering_credential_set('azure', 'azure_client_secret',
       tenant_id => :'tenant', client_id => :'client');
\echo :SQLSTATE
-- an empty inline secret is no secret
SELECT peering_credential_set('aiven', 'aiven_token', secret => '');
\echo :SQLSTATE
-- a client secret needs its tenant and client
SELECT peering_credential_set('azure', 'azure_client_secret',
       client_id => :'client', secret_file => '/tmp/peering_regress_secret');
\echo :SQLSTATE
SELECT peering_credential_set('azure', 'azure_client_secret',
       tenant_id => :'tenant', secret_file => '/tmp/peering_regress_secret');
\echo :SQLSTATE
-- ids are UUIDs
SELECT peering_credential_set('azure', 'azure_client_secret',
       tenant_id => 'contoso.onmicrosoft.com', client_id => :'client',
       secret_file => '/tmp/peering_regress_secret');
\echo :SQLSTATE
-- secret files: absolute, a regular file, owned by the server's user,
-- no group or world access, not empty
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => 'peering_regress_secret');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/tmp/peering_regress_no_such_file');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/tmp');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/etc/passwd');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/tmp/peering_regress_open_secret');
\echo :SQLSTATE
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/tmp/peering_regress_empty_secret');
\echo :SQLSTATE
-- nothing was stored by any of the above
SELECT count(*) FROM peering.credentials;

-- accepted: a private file (silently), an inline secret (with a warning),
-- a managed identity (no secret, optional client id)
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/tmp/peering_regress_secret');
SELECT peering_credential_set('azure', 'azure_client_secret',
       tenant_id => :'tenant', client_id => :'client',
       secret_file => '/tmp/peering_regress_secret');
SELECT peering_credential_set('azure_tok', 'azure_token', secret => 'eyJ0eXAi.regress.token');
SELECT peering_credential_set('azure_mi', 'azure_managed_identity');
SELECT peering_credential_set('azure_mi_user', 'azure_managed_identity', client_id => :'client');
-- a name may be set again: it replaces the credential
SELECT peering_credential_set('spare', 'aiven_token', secret => 'first');
SELECT peering_credential_set('spare', 'azure_token', secret_file => '/tmp/peering_regress_secret');
-- listed without secrets
SELECT name, kind, tenant_id, client_id, secret_file, has_inline_secret
  FROM peering_credentials() ORDER BY name COLLATE "C";
-- the secret file is stored by name, not copied
SELECT name, secret_file, secret IS NULL AS no_inline_secret
  FROM peering.credentials WHERE name IN ('aiven', 'azure', 'spare') ORDER BY name COLLATE "C";

--
-- peering_credential_drop
--
-- like DROP without IF EXISTS, an unknown name is an error
SELECT peering_credential_drop('no_such_credential');
\echo :SQLSTATE
SELECT peering_credential_drop('spare');
SELECT peering_credential_drop('spare');
\echo :SQLSTATE
-- a NULL name is an error that names the argument
SELECT peering_credential_drop(NULL);
\echo :SQLSTATE
-- the extension's own credentials are neither listed nor dropped
INSERT INTO peering.credentials (name, kind, tenant_id, client_id, secret, internal)
VALUES ('peering_app_999', 'azure_client_secret', :'tenant', :'client', 'app-secret', true);
SELECT count(*) FROM peering_credentials() WHERE name = 'peering_app_999';
SELECT peering_credential_drop('peering_app_999');
\echo :SQLSTATE
SELECT count(*) FROM peering.credentials WHERE name = 'peering_app_999';

--
-- peering_create: local validation, in the order the checks run.  Each
-- call below is valid except for the argument under test.
--
-- every required argument, by name
SELECT peering_create(NULL, :'vpc', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', NULL, :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', NULL, 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', NULL, 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', NULL);
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      azure_credential => NULL);
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      aiven_credential => NULL);
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      app_role => NULL);
\echo :SQLSTATE
-- ids are UUIDs
SELECT peering_create('regress-project', 'vpc-1234', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
-- Aiven project: 1 to 63 lower-case letters, digits, '-', '_'
SELECT peering_create('', :'vpc', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('Regress-Project', :'vpc', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress project', :'vpc', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress/../project', :'vpc', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create(repeat('p', 64), :'vpc', :'sub', 'regress-rg', 'regress-vnet');
\echo :SQLSTATE
-- resource group: 1 to 90 letters, digits, '_', '(', ')', '-', '.'; not
-- ending with '.'
SELECT peering_create('regress-project', :'vpc', :'sub', '', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', repeat('g', 91), 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress/rg', 'regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg.', 'regress-vnet');
\echo :SQLSTATE
-- VNet: 2 to 64 letters, digits, '_', '.', '-'; starting with a letter or
-- digit; ending with a letter, digit or '_'
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'v');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', repeat('v', 65));
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress(vnet)');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', '-regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', '_regress-vnet');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet-');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet.');
\echo :SQLSTATE
-- peering name: 1 to 80 of the same characters, same ends
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      peering_name => '');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      peering_name => repeat('n', 81));
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      peering_name => 'to aiven');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      peering_name => '.to-aiven');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      peering_name => 'to-aiven-');
\echo :SQLSTATE
-- application role
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      app_role => 'owner');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      app_role => 'Custom');
\echo :SQLSTATE
-- credentials: they must exist (the defaults are 'azure' and 'aiven') ...
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      azure_credential => 'no_such_credential');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      aiven_credential => 'no_such_credential');
\echo :SQLSTATE
-- ... be of the right kind ...
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      azure_credential => 'aiven');
\echo :SQLSTATE
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      aiven_credential => 'azure_tok');
\echo :SQLSTATE
-- ... and be the user's: an application secret is not an automation identity
SELECT peering_create('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
                      azure_credential => 'peering_app_999');
\echo :SQLSTATE
-- no row was written by any rejected call
SELECT count(*) FROM peering.connections;
SELECT count(*) FROM peering.events;

--
-- A live connection of the same VNet and project VPC (compared without
-- regard to case) is refused before any remote call.  The row is written
-- directly: recording one through peering_create needs the remote pre-flight.
--
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       failed, last_error, next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-vnet',
        'to-aiven', 'azure', 'aiven', true, 'regress: stopped', NULL)
RETURNING id AS conn \gset
SELECT peering_create('regress-project', :'vpc', :'sub', 'Regress-RG', 'Regress-VNet');
\echo :SQLSTATE
SELECT count(*) FROM peering.connections;
-- a credential a live connection uses cannot be dropped
SELECT peering_credential_drop('azure');
\echo :SQLSTATE
SELECT peering_credential_drop('aiven');
\echo :SQLSTATE

--
-- status, wait, retry, delete
--
-- a connection that does not exist
SELECT peering_status(424242);
\echo :SQLSTATE
SELECT peering_status(424242, refresh => false);
\echo :SQLSTATE
SELECT peering_retry(424242);
\echo :SQLSTATE
SELECT peering_delete(424242);
\echo :SQLSTATE
SELECT peering_wait(424242);
\echo :SQLSTATE
-- a NULL argument is an error that names it, also one with a default
SELECT peering_status(NULL);
\echo :SQLSTATE
SELECT peering_status(:conn, refresh => NULL);
\echo :SQLSTATE
SELECT peering_wait(NULL);
\echo :SQLSTATE
SELECT peering_wait(:conn, NULL);
\echo :SQLSTATE
SELECT peering_wait(:conn, timeout => NULL);
\echo :SQLSTATE
-- a timeout must be a wait that ends, and does not run backwards
SELECT peering_wait(:conn, timeout => '-1 min');
\echo :SQLSTATE
SELECT peering_wait(:conn, timeout => '1000000 years');
\echo :SQLSTATE
SELECT peering_retry(NULL);
\echo :SQLSTATE
SELECT peering_delete(NULL);
\echo :SQLSTATE
-- a target that is not an Aiven state one can wait for (checked first)
SELECT peering_wait(:conn, 'active');
\echo :SQLSTATE
SELECT peering_wait(:conn, 'REJECTED_BY_PEER');
\echo :SQLSTATE
SELECT peering_wait(424242, 'FAILED');
\echo :SQLSTATE
-- a snapshot that never sees the change
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT peering_wait(:conn);
\echo :SQLSTATE
ROLLBACK;
-- a row this transaction created: the worker cannot start before COMMIT
BEGIN;
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       next_attempt_at)
VALUES ('regress-project', :'vpc', :'sub', 'regress-rg', 'regress-other-vnet',
        'to-aiven', 'azure', 'aiven', NULL)
RETURNING id AS uncommitted \gset
SELECT peering_wait(:uncommitted);
\echo :SQLSTATE
ROLLBACK;
-- the recorded row, without refreshing it from the cloud
SELECT id, project, resource_group, vnet_name, step, failed, last_error
  FROM peering_status(:conn, refresh => false);
-- waiting on a failed connection returns at once with a warning
SET client_min_messages = warning;
SELECT peering_wait(:conn) IS NULL AS no_state;
RESET client_min_messages;
-- peering_retry re-arms it from the first step, and says when it had not failed
SELECT id, step, failed, last_error, attempts, generation, next_attempt_at IS NOT NULL AS due
  FROM peering_retry(:conn);
SELECT id, step, failed, generation FROM peering_retry(:conn);
-- waiting times out with a warning (the worker is off in this suite)
SET client_min_messages = warning;
SELECT peering_wait(:conn, timeout => '0') IS NULL AS no_state;
RESET client_min_messages;
-- peering_delete asks for the teardown once
SELECT id, desired, step, failed, generation FROM peering_delete(:conn);
SELECT id, desired, step, failed, generation FROM peering_delete(:conn);
-- the history of the above
SELECT kind, step, replace(message, current_user, '<user>') AS message
  FROM peering.events WHERE connection_id = :conn ORDER BY id;
-- once deleted: no retry, a notice on delete, and peering_wait for DELETED
-- returns at once
UPDATE peering.connections SET step = 'deleted', next_attempt_at = NULL WHERE id = :conn;
SELECT peering_retry(:conn);
\echo :SQLSTATE
SELECT id, desired, step FROM peering_delete(:conn);
SET client_min_messages = warning;
SELECT peering_wait(:conn, 'DELETED');
RESET client_min_messages;
-- a deleted connection no longer holds its credentials
SELECT peering_credential_drop('azure_mi_user');
SELECT peering_credential_drop('aiven');
SELECT peering_credential_set('aiven', 'aiven_token', secret_file => '/tmp/peering_regress_secret');

--
-- CALL peering_run() commits after each step: not inside a transaction
-- block, nor where it would run atomically.  Outside, with nothing due, it
-- does nothing.
--
BEGIN;
CALL peering_run();
\echo :SQLSTATE
ROLLBACK;
BEGIN;
DO $$ BEGIN CALL peering_run(); END $$;
\echo :SQLSTATE
ROLLBACK;
SELECT count(*) AS due FROM peering.connections
 WHERE NOT failed AND step <> 'deleted' AND next_attempt_at <= now();
CALL peering_run();
\echo :SQLSTATE

--
-- peering_vpcs: the arguments and the credential are checked before the
-- request
--
SELECT * FROM peering_vpcs(NULL);
\echo :SQLSTATE
SELECT * FROM peering_vpcs('regress-project', NULL);
\echo :SQLSTATE
SELECT * FROM peering_vpcs('regress-project', 'no_such_credential');
\echo :SQLSTATE
SELECT * FROM peering_vpcs('regress-project', 'azure');
\echo :SQLSTATE

--
-- Settings
--
-- endpoints are https URLs without query or fragment
SET peering.arm_url = 'http://management.azure.com';
\echo :SQLSTATE
SET peering.arm_url = 'https://management.azure.com/?api-version=2022-01-01';
\echo :SQLSTATE
SET peering.aiven_url = 'https://api.aiven.io#v1';
\echo :SQLSTATE
SET peering.login_url = 'https://';
\echo :SQLSTATE
SET peering.graph_url = 'https:///graph';
\echo :SQLSTATE
SET peering.graph_url = 'https://graph.microsoft.com /v1.0';
\echo :SQLSTATE
SET peering.graph_url = 'graph.microsoft.com';
\echo :SQLSTATE
SET peering.arm_url = '';
\echo :SQLSTATE
-- a path is allowed
SET peering.arm_url = 'https://127.0.0.1:9/arm/';
SHOW peering.arm_url;
-- the CA file is an absolute path (empty: the system store)
SET peering.ca_file = 'ca.crt';
\echo :SQLSTATE
SET peering.ca_file = '';
-- the provider application is a UUID
SET peering.provider_app_id = 'aiven';
\echo :SQLSTATE
-- the timeout is bounded
SET peering.http_timeout = '10ms';
\echo :SQLSTATE
SET peering.http_timeout = '11min';
\echo :SQLSTATE
-- the worker's database is fixed at server start, and what only the worker
-- reads is set in the configuration file
SET peering.database = 'postgres';
\echo :SQLSTATE
SET peering.poll_interval = '1s';
\echo :SQLSTATE
SET peering.recheck_interval = '1min';
\echo :SQLSTATE
SET peering.max_parallel_requests = 2;
\echo :SQLSTATE
SET peering.worker_enabled = on;
\echo :SQLSTATE
-- the prefix is reserved: no placeholder for a misspelt name
SET peering.no_such_setting = 'on';
\echo :SQLSTATE
SET peering.arm_uri = 'https://management.azure.com';
\echo :SQLSTATE
SHOW peering.no_such_setting;
\echo :SQLSTATE
SELECT current_setting('peering.no_such_setting', true) IS NULL AS missing;

-- clean up
RESET ALL;
DELETE FROM peering.connections;
DELETE FROM peering.credentials;
COPY (SELECT WHERE false) TO PROGRAM
  'rm -f /tmp/peering_regress_secret /tmp/peering_regress_open_secret /tmp/peering_regress_empty_secret';
