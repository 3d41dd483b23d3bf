
# The worker killed with SIGKILL inside mutating remote calls (crash
# restart) ends ACTIVE with no duplicate remote object; no transaction or
# snapshot while a remote call is slow; SIGTERM ends the worker promptly and
# it comes back; a streaming standby runs no worker and refuses
# peering_create; the promoted standby's worker takes over.
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
use Time::HiRes qw(time usleep);

my $w = start_fake();
my $primary = new_node('primary', allows_streaming => 1, restart_after_crash => 1);

sub worker_pids
{
	my ($node) = @_;
	return grep { length } split /\n/,
	  $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'peering worker'");
}

# Waits for a running worker other than $old; returns its pid.
sub wait_for_worker
{
	my ($node, $old, $timeout) = @_;
	my $pid;
	poll_until(
		$timeout // 30,
		sub {
			($pid) = grep { !defined $old || $_ != $old } worker_pids($node);
			defined $pid;
		});
	return $pid;
}

# ------------------------------------------------------------------
# SIGKILL inside three mutating calls: the Aiven request, the app's
# addPassword and the Azure peering PUT.  The fake holds each (delay) while
# the worker is killed, and applies it after the crash; the restarted
# worker must neither duplicate nor lose anything.  The worker is switched
# off until the held request has completed, so the test is deterministic.
# ------------------------------------------------------------------
# The faults are consumed in the order of the lifecycle: the Aiven POST,
# the next GET of the project VPC (the step taken again after the crash),
# addPassword (right before the Azure peering), the Azure peering PUT.  The
# first is placed before peering_create, the others while the worker is
# held in the first (the pre-flight reads the VPC too).
my $since0 = request_seq();
my %fault;
$fault{aiven_request} =
  fake_fault({ method => 'POST', path => 'peering-connections$', delay_ms => 3000 });
my $id = create_connection($primary);
ok(wait_for_request($since0, sub { ($_[0]{fault} // '') eq $fault{aiven_request} }, 30),
	'the worker is inside the held Aiven request');
$fault{vpc_get} = fake_fault(
	{ method => 'GET', path => "/vpcs/$w->{project_vpc_id}\$", delay_ms => 6000 });
$fault{app_secret} =
  fake_fault({ method => 'POST', path => 'addPassword$', delay_ms => 3000 });
$fault{azure_peering} = fake_fault(
	{ method => 'PUT', path => 'virtualNetworkPeerings/[^/]+$', delay_ms => 3000 });

sub held_request
{
	my ($fid, $timeout) = @_;
	return wait_for_request($since0, sub { ($_[0]{fault} // '') eq $fid }, $timeout // 30);
}

sub kill_worker_in
{
	my ($step) = @_;
	my $held = held_request($fault{$step});
	ok($held, "kill in $step: the worker is inside the held request") or return;
	note("held: $held->{method} $held->{path}");
	is(conn($primary, $id)->{step}, $step, "kill in $step: the row is at step $step");

	reload_with($primary, 'peering.worker_enabled', 'off');
	my ($pid) = worker_pids($primary);
	my $log_offset = -s $primary->logfile;
	ok($pid && kill('KILL', $pid), "kill in $step: SIGKILL to the worker");
	$primary->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
	$primary->wait_for_log(qr/database system is ready to accept connections/, $log_offset);
	pass("kill in $step: the cluster restarted after the crash");

	# the held request completes now, after the crash
	ok(poll_until(30,
			sub { (grep { $_->{seq} == $held->{seq} && defined $_->{status} } @{ requests_since($since0) }) }),
		"kill in $step: the held request was applied by the fake");
	if ($step eq 'app_secret')
	{
		my $row = conn($primary, $id);
		is($row->{app_secret_key_id}, undef,
			'the password added during the crash was never recorded');
		my ($app) = grep { ($_->{appId} // '') eq ($row->{app_id} // 'none') }
		  @{ our_apps(fake_world()) };
		is(scalar @{ $app->{passwordCredentials} // [] }, 1,
			'the application holds that orphan password');
	}
	reload_with($primary, 'peering.worker_enabled', undef, 'on');
	return;
}

kill_worker_in('aiven_request');

# ------------------------------------------------------------------
# No transaction, snapshot or xmin while a remote call is slow; SIGTERM
# ends the worker promptly, it is restarted and resumes.
# ------------------------------------------------------------------
{
	ok(held_request($fault{vpc_get}), 'the worker is inside a delayed Aiven GET');
	my ($pid) = worker_pids($primary);
	# blocked in the request: its wait event is the extension's
	poll_until(2,
		sub {
			$primary->safe_psql('postgres',
				"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid") eq 'Extension';
		}, 20_000);
	my $row = $primary->safe_psql('postgres',
		"SELECT xact_start IS NULL, backend_xmin IS NULL, backend_xid IS NULL, wait_event_type FROM pg_stat_activity WHERE pid = $pid"
	);
	is($row, 't|t|t|Extension',
		'while waiting on the network the worker has no transaction, xmin or xid');

	my $t0 = time;
	kill('TERM', $pid);
	my $gone = poll_until(10,
		sub { !grep { $_ == $pid } worker_pids($primary) }, 20_000);
	my $elapsed = time - $t0;
	ok($gone, 'SIGTERM ends the worker');
	cmp_ok($elapsed, '<', 2.0, 'SIGTERM ends the worker within 2 s, mid-request');
	note sprintf('worker gone %.2f s after SIGTERM', $elapsed);
	my $new = wait_for_worker($primary, $pid, 15);
	ok($new, 'the worker is restarted (bgw_restart_time)');
}

kill_worker_in('app_secret');
kill_worker_in('azure_peering');

is(wait_for_state($primary, $id, 'ACTIVE', 60), 'ACTIVE',
	'after the crashes the connection reaches ACTIVE');
{
	my $row = conn($primary, $id);
	my $world = fake_world();
	my $apps = our_apps($world);
	is(scalar @$apps, 1, 'exactly one application');
	my $app = $apps->[0] // {};
	is($app->{appId}, $row->{app_id}, 'it is the recorded one');
	is(scalar @{ sps_of_app($world, $row->{app_id} // 'none', $w->{tenant_id}) },
		1, 'exactly one service principal of it');
	is(scalar @{ $app->{passwordCredentials} // [] }, 0,
		'no password once ACTIVE: the orphan of the crash and the one used are removed');
	ok(!defined $row->{app_secret_key_id}, 'no secret recorded');
	is(scalar @{ aiven_connections($world, $w->{vnet_name}) }, 1,
		'exactly one Aiven connection');
	is(scalar @{ customer_peerings($world, $w->{vnet_name}) }, 1,
		'exactly one customer-side peering');
	is(scalar @{ role_assignments_on($world, $row->{vnet_id}) }, 2,
		'exactly two role assignments on the VNet');
}

# ------------------------------------------------------------------
# A streaming standby: no worker, peering_create refused; after promote
# the worker starts on the new primary and does the work.
# ------------------------------------------------------------------
$primary->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't',
	'the standby is in recovery');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'peering worker'"),
	'0', 'no peering worker on the standby');
{
	my ($state, $err) = sql_error($standby,
		'SELECT peering_create(' . create_args(vnet_name => $w->{second_vnet_name}) . ')');
	is($state, '25006', 'peering_create on the standby: SQLSTATE 25006') or diag($err);
	my $st = query_json($standby, "SELECT row_to_json(s) FROM peering_status($id) s")->[0];
	is($st->{state}, 'ACTIVE', 'peering_status works on the standby');
}

$primary->stop;
$standby->promote;
{
	local $PostgreSQL::Test::Utils::timeout_default = 30;
	ok($standby->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'peering worker'"),
		'after promote the worker runs on the new primary');
}
$standby->safe_psql('postgres', "SELECT peering_delete($id)");
is(wait_for_step($standby, $id, 'deleted', 60), 'deleted',
	'the promoted node\'s worker deletes the connection');
is(scalar @{ our_apps(fake_world()) }, 0, 'no application left');

$standby->stop;
done_testing();
