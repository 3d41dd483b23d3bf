
# pg_cron drives the connections instead of the worker: with the worker
# switched off, a job running CALL peering_run() every minute takes a
# peering to ACTIVE and, after peering_delete, tears it down.  pg_cron 1.4.2
# (Debian 12) schedules by the minute at the finest, so each transition may
# take up to two minutes.  One CALL drives every due connection until
# nothing is due at once: in the fake's "test" scenario (no delays) one run
# usually takes a new peering to ACTIVE, and the teardown needs a second one
# after the Azure peering's deletion has been polled for.
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

# A cron minute, plus the run itself, plus slack for a loaded CI machine.
my $per_transition = 200;

start_fake();

# Jobs run in background workers of pg_cron, so no TCP or libpq set-up is
# needed; the peering worker is loaded but left idle.
my $node = new_node(
	'cron', conf => <<'CONF');
shared_preload_libraries = 'pg_cron,peering'
peering.worker_enabled = off
cron.database_name = 'postgres'
cron.use_background_workers = on
CONF
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');

my $id = create_connection($node);
my $job = $node->safe_psql('postgres',
	q{SELECT cron.schedule('peering', '* * * * *', 'CALL peering_run()')});
note("connection $id, cron job $job");

is(wait_for_state($node, $id, 'ACTIVE', $per_transition),
	'ACTIVE', 'pg_cron: CALL peering_run() takes the peering to ACTIVE');

$node->safe_psql('postgres', "SELECT peering_delete($id)");
is(wait_for_step($node, $id, 'deleted', $per_transition),
	'deleted', 'pg_cron: CALL peering_run() tears the peering down');

is( $node->safe_psql(
		'postgres',
		"SELECT failed, state FROM peering.connections WHERE id = $id"),
	'f|DELETED',
	'pg_cron: the deleted connection did not fail and Aiven says DELETED');

# Every run recorded by pg_cron succeeded: a CALL refused in the job's
# context (say, inside a transaction block) would show up here as failed.
my $runs = $node->safe_psql(
	'postgres', qq{
SELECT count(*) FILTER (WHERE status = 'succeeded'),
       count(*) FILTER (WHERE status = 'failed'),
       string_agg(DISTINCT return_message, '; ') FILTER (WHERE status = 'failed')
  FROM cron.job_run_details WHERE jobid = $job});
my ($succeeded, $failed, $why) = split /\|/, $runs, 3;
cmp_ok($succeeded, '>=', 1, "pg_cron: $succeeded runs of the job succeeded");
is($failed, 0, 'pg_cron: no run of the job failed')
  or diag("failed runs: $why");

$node->safe_psql('postgres', "SELECT cron.unschedule($job)");
$node->stop;
done_testing();
