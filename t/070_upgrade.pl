# Upgrade path: databases populated at version 1.0 and at 1.1 are updated
# with ALTER EXTENSION peering UPDATE.  Until then the new library refuses to
# touch the old tables (and the worker waits); afterwards the catalog equals
# a fresh install of the current version, object by object, and the rows
# written at 1.0 or 1.1 drive to ACTIVE.
#
# Keep this test for every later version: it installs the oldest released
# script and updates through every upgrade script to default_version.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib $FindBin::RealBin;

use PeeringTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $w = start_fake();

# What a version of the extension consists of, as text: every member object
# with its signature, definition, privileges and comment.
my $catalog_sql = q{
WITH members AS (
	SELECT classid, objid FROM pg_depend
	 WHERE refclassid = 'pg_extension'::regclass
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'peering')
	   AND deptype = 'e'
)
SELECT line FROM (
	SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
	       || ' args(' || pg_get_function_arguments(p.oid) || ')'
	       || ' kind ' || p.prokind::text || ' secdef ' || p.prosecdef
	       || ' volatile ' || p.provolatile::text || ' strict ' || p.proisstrict
	       || ' config ' || coalesce(p.proconfig::text, '-')
	       || ' acl ' || coalesce(p.proacl::text, '-')
	       || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS line
	  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	UNION ALL
	SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text
	       || ' acl ' || coalesce(c.relacl::text, '-')
	       || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
	  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	       || ' notnull ' || a.attnotnull || ' identity ' || a.attidentity::text
	       || ' default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
	       || ' acl ' || coalesce(a.attacl::text, '-')
	       || ' comment ' || coalesce(col_description(c.oid, a.attnum), '-')
	  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	UNION ALL
	SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(k.oid)
	  FROM pg_constraint k WHERE connamespace = 'peering'::regnamespace
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(indexrelid)
	  FROM pg_index WHERE indrelid IN (SELECT objid FROM members
	                                    WHERE classid = 'pg_class'::regclass)
	UNION ALL
	SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
	       || ' comment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')
	  FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
	UNION ALL
	SELECT 'config dump ' || unnest(extconfig)::regclass || ' '
	       || coalesce(array_to_string(extcondition, ','), '-')
	  FROM pg_extension WHERE extname = 'peering'
) s ORDER BY line COLLATE "C"
};

# ------------------------------------------------------------------
# A database at 1.0, with rows as 1.0 wrote them
# ------------------------------------------------------------------

my $old = new_node('old', no_extension => 1);
$old->safe_psql('postgres', "CREATE EXTENSION peering VERSION '1.0'");
is($old->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'peering'"),
	'1.0', 'version 1.0 is installed');

my $default_version = $old->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'peering'");
isnt($default_version, '1.0', "the current version ($default_version) is newer than 1.0");

# Credentials and connections written directly, as 1.0's functions did: the
# current library does not run 1.0's functions against 1.0's tables.
my $vnet_id = sub {
	"/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
	  . "/providers/Microsoft.Network/virtualNetworks/$_[0]";
};
# The credentials 'azure' and 'aiven', as an older version's functions wrote them.
my $credentials_sql = qq{
INSERT INTO peering.credentials (name, kind, tenant_id, client_id, secret_file)
VALUES ('azure', 'azure_client_secret', '$w->{tenant_id}', '$w->{admin_client_id}',
        '$w->{admin_secret_file}'),
       ('aiven', 'aiven_token', NULL, NULL, '$w->{aiven_token_file}');
};
$old->safe_psql(
	'postgres', qq{
$credentials_sql
INSERT INTO peering.connections
       (project, project_vpc_id, subscription_id, resource_group, vnet_name,
        peering_name, azure_credential, aiven_credential, tenant_id, vnet_id,
        app_unique_name, step, failed, attempts, last_error, last_error_code,
        next_attempt_at)
VALUES ('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',
        '$w->{resource_group}', '$w->{vnet_name}', 'aiven-upgrade-1', 'azure', 'aiven',
        '$w->{tenant_id}', '@{[ $vnet_id->($w->{vnet_name}) ]}',
        'peering-upgrade00001', 'app', false, 0, NULL, NULL, now()),
       ('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',
        '$w->{resource_group}', '$w->{second_vnet_name}', 'aiven-upgrade-2', 'azure', 'aiven',
        '$w->{tenant_id}', '@{[ $vnet_id->($w->{second_vnet_name}) ]}',
        'peering-upgrade00002', 'app', true, 30,
        'could not create the service principal; gave up after 30 attempts',
        '22023 Request_BadRequest', NULL);
});

# The new library leaves a 1.0 database alone until it is updated.
my ($state, $err) = sql_error($old,
	'SELECT * FROM peering_status((SELECT min(id) FROM peering.connections))');
is($state, '55000', 'functions refuse a database still at 1.0');
like($err, qr/ALTER EXTENSION peering UPDATE/, 'and say how to update it');
ok( $old->wait_for_log(qr/peering worker waits: extension "peering" is at version 1\.0/),
	'the worker says it waits for the update');
is($old->safe_psql('postgres',
		"SELECT string_agg(step, ',' ORDER BY id) FROM peering.connections"),
	'app,app', 'the worker did not touch the 1.0 rows');

$old->safe_psql('postgres', 'ALTER EXTENSION peering UPDATE');
is($old->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'peering'"),
	$default_version, "ALTER EXTENSION UPDATE reaches $default_version");

# ------------------------------------------------------------------
# The updated catalog equals a fresh install
# ------------------------------------------------------------------

my $fresh = new_node('fresh', no_extension => 1,
	conf => "peering.worker_enabled = off\n");
$fresh->safe_psql('postgres', 'CREATE EXTENSION peering');
my $updated_catalog = $old->safe_psql('postgres', $catalog_sql);
my $fresh_catalog = $fresh->safe_psql('postgres', $catalog_sql);
cmp_ok(scalar(split /\n/, $fresh_catalog), '>', 100,
	'the catalog description lists the objects');
like($fresh_catalog, qr/^column peering\.connections\.retry_until timestamp with time zone/m,
	'the description includes the 1.1 columns');
is($updated_catalog, $fresh_catalog,
	'the updated catalog equals a fresh install: functions, tables, columns, grants, comments');
$fresh->stop;

# ------------------------------------------------------------------
# The 1.0 rows drive to ACTIVE
# ------------------------------------------------------------------

my ($first, $second) = split /\n/,
  $old->safe_psql('postgres', 'SELECT id FROM peering.connections ORDER BY id');
is(wait_for_state($old, $first, 'ACTIVE', 90), 'ACTIVE',
	'a connection recorded at 1.0 reaches ACTIVE after the update');
$old->safe_psql('postgres', "SELECT peering_retry($second)");
is(wait_for_state($old, $second, 'ACTIVE', 90), 'ACTIVE',
	'a connection that failed at 1.0 is retried and reaches ACTIVE');
my $row = conn($old, $second);
ok(!defined $row->{retry_class} && !defined $row->{retry_until},
	'no retry in progress once ACTIVE');

my $world = fake_world();
is(scalar @{ customer_peerings($world, $w->{vnet_name}) }, 1,
	'one Azure peering on the first VNet');
is(scalar @{ customer_peerings($world, $w->{second_vnet_name}) }, 1,
	'one Azure peering on the second VNet');

# ------------------------------------------------------------------
# A database at 1.1, with rows as 1.1 wrote them: one waiting for Aiven,
# one that failed after retries
# ------------------------------------------------------------------

fake_seed(
	{
		vnets => [
			map { { resource_group => $w->{resource_group}, name => "vnet-u$_", address_prefixes => ["10.5$_.0.0/16"] } }
			  (3, 4)
		]
	});
my $mid = new_node('mid', no_extension => 1);
$mid->safe_psql('postgres', "CREATE EXTENSION peering VERSION '1.1'");
$mid->safe_psql(
	'postgres', qq{
$credentials_sql
INSERT INTO peering.connections
       (project, project_vpc_id, subscription_id, resource_group, vnet_name,
        peering_name, azure_credential, aiven_credential, tenant_id, vnet_id,
        app_unique_name, step, failed, attempts, last_error, last_error_code,
        retry_class, retry_since, retry_until, next_attempt_at)
VALUES ('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',
        '$w->{resource_group}', 'vnet-u3', 'aiven-upgrade-3', 'azure', 'aiven',
        '$w->{tenant_id}', '@{[ $vnet_id->('vnet-u3') ]}',
        'peering-upgrade00003', 'app', false, 0, NULL, NULL, NULL, NULL, NULL, now()),
       ('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',
        '$w->{resource_group}', 'vnet-u4', 'aiven-upgrade-4', 'azure', 'aiven',
        '$w->{tenant_id}', '@{[ $vnet_id->('vnet-u4') ]}',
        'peering-upgrade00004', 'app_sp', true, 12,
        'could not create the service principal; gave up after 12 attempts',
        '08006', 'transient', now() - interval '31 min', now() - interval '1 min', NULL);
INSERT INTO peering.events (connection_id, kind, step, message)
SELECT id, 'created', 'app', 'peering requested' FROM peering.connections;
});
is($mid->safe_psql('postgres', 'SELECT count(*) FROM peering.progress'),
	'2', 'the 1.1 progress view lists both rows');
ok( $mid->wait_for_log(qr/peering worker waits: extension "peering" is at version 1\.1/),
	'the worker waits for the update of a 1.1 database');
$mid->safe_psql('postgres', 'ALTER EXTENSION peering UPDATE');
is($mid->safe_psql('postgres', 'SELECT extversion FROM pg_extension WHERE extname = \'peering\''),
	$default_version, "a 1.1 database updates to $default_version");
is($mid->safe_psql('postgres', $catalog_sql), $fresh_catalog,
	'the catalog updated from 1.1 equals a fresh install');
is($mid->safe_psql('postgres', 'SELECT count(*) FROM peering.events'), '2',
	'the events of 1.1 are kept');
my ($third, $fourth) = split /\n/,
  $mid->safe_psql('postgres', 'SELECT id FROM peering.connections ORDER BY id');
is(wait_for_state($mid, $third, 'ACTIVE', 90), 'ACTIVE',
	'a connection recorded at 1.1 reaches ACTIVE after the update');
$mid->safe_psql('postgres', "SELECT peering_retry($fourth)");
is(wait_for_state($mid, $fourth, 'ACTIVE', 90), 'ACTIVE',
	'a connection that failed at 1.1 is retried and reaches ACTIVE');
is($mid->safe_psql('postgres',
		"SELECT count(*) FROM peering.progress WHERE id IN ($third, $fourth) AND step = 'active'"),
	'2', 'the updated progress view shows both');

done_testing();
