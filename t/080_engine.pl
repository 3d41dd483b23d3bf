# The reconcile engine: connections' requests in flight together; re-checks
# that read each project VPC and each VNet's peerings once per cycle, not
# once per peering; a second driver (CALL peering_run()) next to the worker
# never repeats a mutating call; a row locked by a user's open transaction
# holds up nobody else; a row whose save fails stops with the error while
# the others go on.
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
my $node = new_node('engine',
	conf => "peering.max_parallel_requests = 16\npeering.recheck_interval = '3s'\n");

# Three VNets of the customer and three Azure project VPCs: nine peerings.
my @vnets = ($w->{vnet_name}, $w->{second_vnet_name}, 'vnet-app3');
my $seeded = fake_seed(
	{
		settings => { page_size => 100 },
		vnets => [
			{
				subscription => $w->{subscription_id},
				resource_group => $w->{resource_group},
				name => 'vnet-app3',
				address_prefixes => ['10.3.0.0/16']
			}
		],
		aiven_vpcs => [
			{
				project => $w->{project},
				cloud_name => 'azure-westeurope',
				network_cidr => '10.220.0.0/24',
				count => 3
			}
		]
	});
my @vpcs = ($w->{project_vpc_id},
	map { $_->{project_vpc_id} } @{ $seeded->{aiven_vpcs} });
is(scalar @vpcs, 4, 'four project VPCs');

# Writes to ARM, the budget ARM counts per subscription.
sub arm_writes
{
	my ($log) = @_;
	my %by;
	for (grep { $_->{path} =~ m{^/arm/} && $_->{method} ne 'GET' } @$log)
	{
		my $what =
		    $_->{path} =~ /virtualNetworkPeerings/ ? 'peering'
		  : $_->{path} =~ /roleDefinitions/ ? 'role definition'
		  : $_->{path} =~ /roleAssignments/ ? 'role assignment'
		  : 'other';
		$by{$what}++;
	}
	return \%by;
}

# ------------------------------------------------------------------
# Requests of different connections are in flight together
# ------------------------------------------------------------------

fake_seed({ settings => { latency_ms => 150 } });
my $seq = request_seq();
my @ids;
for my $vnet (@vnets)
{
	push @ids,
	  create_connection($node, vnet_name => $vnet, project_vpc_id => $_)
	  for @vpcs[ 0 .. 2 ];
}
my $most_in_flight = 0;
my $deadline = time + 60;
while (time < $deadline)
{
	my $pending = grep { !defined $_->{status} } @{ requests_since($seq) };
	$most_in_flight = $pending if $pending > $most_in_flight;
	last if $most_in_flight >= 4;
	usleep(20_000);
}
cmp_ok($most_in_flight, '>=', 4,
	"requests of several connections are in flight at once (saw $most_in_flight)");
is(wait_for_state($node, $_, 'ACTIVE', 120), 'ACTIVE', "connection $_ ACTIVE")
  for @ids;
fake_seed({ settings => { latency_ms => 0 } });

# Every mutating call once per connection: nothing repeated by concurrency.
my $log = requests_since($seq);
my %posts;
$posts{ $_->{path} }++
  for grep { $_->{method} eq 'POST' && $_->{path} =~ /peering-connections$/ } @$log;
is(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ /peering-connections$/ } @$log),
	9, 'nine Aiven connection requests for nine peerings');
is(scalar(grep { $_->{method} eq 'PUT' && $_->{path} =~ /virtualNetworkPeerings/ } @$log),
	9, 'nine Azure peering PUTs');
is(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ /addPassword$/ } @$log),
	9, 'nine application secrets');

# Shared objects are written once: 9 peering PUTs, 9 role assignments for
# the peering applications, 2 custom roles for the subscription, and one
# role assignment for the provider per VNet.
my $writes = arm_writes($log);
is($writes->{'peering'}, 9, 'ARM writes: 9 peering PUTs');
is($writes->{'role definition'}, 2, 'ARM writes: the 2 custom roles once for the subscription');
is($writes->{'role assignment'}, 9 + 3,
	'ARM writes: 9 for the applications, 1 for the provider per VNet');
is($writes->{'other'} // 0, 0, 'no other ARM write');

# A tenth peering later reuses what the others made.
$seq = request_seq();
push @ids, create_connection($node, vnet_name => $vnets[0], project_vpc_id => $vpcs[3]);
is(wait_for_state($node, $ids[-1], 'ACTIVE', 60), 'ACTIVE', 'a tenth connection ACTIVE');
$writes = arm_writes(requests_since($seq));
is_deeply($writes, { 'peering' => 1, 'role assignment' => 1 },
	'the tenth peering writes to ARM only its peering and its application\'s role assignment');
is(scalar(grep { $_->{method} eq 'PATCH' && $_->{path} =~ /servicePrincipals\(appId='$w->{provider_app_id}'\)/ }
		@{ requests_since($seq) }),
	0, 'and does not touch the provider\'s service principal');

# ------------------------------------------------------------------
# A re-check cycle reads each VPC and each VNet's peerings once
# ------------------------------------------------------------------

# Re-checks fall on a 3 s grid, all nine together.
my $ids = join(',', @ids);
my $before = $node->safe_psql('postgres',
	"SELECT max(checked_at) FROM peering.connections WHERE id IN ($ids)");
$node->poll_query_until('postgres',
	"SELECT bool_and(checked_at > '$before') FROM peering.connections WHERE id IN ($ids)")
  or diag('no re-check cycle');
$seq = request_seq();
$before = $node->safe_psql('postgres',
	"SELECT max(checked_at) FROM peering.connections WHERE id IN ($ids)");
$node->poll_query_until('postgres',
	"SELECT bool_and(checked_at > '$before') FROM peering.connections WHERE id IN ($ids)")
  or diag('no second re-check cycle');
$log = requests_since($seq);
my $vpc_reads = grep { $_->{method} eq 'GET' && $_->{path} =~ m{/aiven/v1/project/[^/]+/vpcs/[^/]+$} } @$log;
my $vnet_lists = grep { $_->{method} eq 'GET' && $_->{path} =~ m{/virtualNetworkPeerings$} } @$log;
my $peering_gets = grep { $_->{method} eq 'GET' && $_->{path} =~ m{/virtualNetworkPeerings/[^/]+$} } @$log;
is($vpc_reads, 4, 'one Aiven GET per project VPC in a re-check cycle (4, not 10)');
is($vnet_lists, 3, 'one ARM list of peerings per VNet (3, not 10)');
is($peering_gets, 0, 'no ARM GET per peering');

# ------------------------------------------------------------------
# A second driver next to the worker
# ------------------------------------------------------------------

$node->safe_psql('postgres', "SELECT peering_delete($_)") for @ids;
is(wait_for_step($node, $_, 'deleted', 120), 'deleted', "connection $_ deleted") for @ids;

$seq = request_seq();
my @more = map { create_connection($node, vnet_name => $vnets[$_], project_vpc_id => $vpcs[0]) } 0 .. 2;
my $runner = $node->background_psql('postgres');
my $runs = 0;
$deadline = time + 90;
while (time < $deadline)
{
	$runner->query_safe('CALL peering_run()');
	$runs++;
	last if $node->safe_psql('postgres',
		"SELECT bool_and(state = 'ACTIVE' OR failed) FROM peering.connections WHERE id IN ("
		  . join(',', @more) . ')') eq 't';
}
$runner->quit;
cmp_ok($runs, ">=", 1, "CALL peering_run() ran $runs times next to the worker");
is(wait_for_state($node, $_, 'ACTIVE', 60), 'ACTIVE', "connection $_ ACTIVE with two drivers")
  for @more;
$log = requests_since($seq);
for my $what (
	[ 'Aiven connection requests', 'POST', qr/peering-connections$/ ],
	[ 'Azure peering PUTs', 'PUT', qr/virtualNetworkPeerings/ ],
	[ 'application secrets', 'POST', qr/addPassword$/ ],
	[ 'application upserts', 'PATCH', qr/applications\(uniqueName=/ ])
{
	my ($label, $method, $rx) = @$what;
	is(scalar(grep { $_->{method} eq $method && $_->{path} =~ $rx } @$log),
		3, "two drivers: three $label for three peerings, none repeated");
}
$node->safe_psql('postgres', "SELECT peering_delete($_)") for @more;
is(wait_for_step($node, $_, 'deleted', 120), 'deleted', "connection $_ deleted") for @more;

# ------------------------------------------------------------------
# A row locked by a user holds up nobody else
# ------------------------------------------------------------------

my ($locked, $free) = map {
	create_connection($node, vnet_name => $vnets[$_], project_vpc_id => $vpcs[1])
} 0 .. 1;
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe("SELECT * FROM peering.connections WHERE id = $locked FOR UPDATE");
is(wait_for_state($node, $free, 'ACTIVE', 60), 'ACTIVE',
	'another connection reaches ACTIVE while a user holds a row lock');
is($node->safe_psql('postgres', "SELECT pid IS NOT NULL FROM pg_stat_activity WHERE backend_type = 'peering worker' AND wait_event_type = 'Lock'"),
	'', 'the worker does not wait on the lock');
$holder->query_safe('COMMIT');
$holder->quit;
is(wait_for_state($node, $locked, 'ACTIVE', 60), 'ACTIVE',
	'the locked connection goes on once the lock is released');

# ------------------------------------------------------------------
# A row whose save fails stops with the error; the others go on
# ------------------------------------------------------------------

$node->safe_psql('postgres', "SELECT peering_delete($_)") for ($locked, $free);
is(wait_for_step($node, $_, 'deleted', 120), 'deleted', "connection $_ deleted") for ($locked, $free);
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION test_refuse_app_sp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.vnet_name = 'vnet-app3' AND OLD.step = 'app' AND NEW.step = 'app_sp' THEN
		RAISE EXCEPTION 'test: this row cannot be saved';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER test_refuse_app_sp BEFORE UPDATE ON peering.connections
	FOR EACH ROW EXECUTE FUNCTION test_refuse_app_sp();
});
my ($bad, $good) = (
	create_connection($node, vnet_name => 'vnet-app3', project_vpc_id => $vpcs[2]),
	create_connection($node, vnet_name => $vnets[0], project_vpc_id => $vpcs[2]));
is(wait_for_state($node, $good, 'ACTIVE', 60), 'ACTIVE', 'the other connection reaches ACTIVE');
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $bad")
  or diag('the row that cannot be saved did not stop');
like(conn($node, $bad)->{last_error}, qr/could not save.*this row cannot be saved/,
	'the row that cannot be saved says why');
ok($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'peering worker'") == 1,
	'the worker is still running');
$node->safe_psql('postgres', 'DROP TRIGGER test_refuse_app_sp ON peering.connections');
$node->safe_psql('postgres', "SELECT peering_retry($bad)");
is(wait_for_state($node, $bad, 'ACTIVE', 60), 'ACTIVE', 'peering_retry recovers it');

done_testing();
