
# Every wait ends.  A step waiting for the remote side shows retry_class
# 'waiting' with retry_since and retry_until, and stops after
# peering.wait_budget with the remote state and Aiven's own words;
# peering_retry waits again.  A failed Azure operation stops with ARM's
# code and message (one more PUT when the cause may pass), and a peering
# whose VNet access was switched off is drift.
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
my $node = new_node('waits',
	conf => "peering.wait_budget = '4s'\npeering.recheck_interval = '1s'\n");

# More VNets of the customer, one per case.
fake_seed(
	{
		vnets => [
			map {
				{
					resource_group => $w->{resource_group},
					name => "vnet-w$_",
					address_prefixes => ["10.3$_.0.0/16"]
				}
			} 1 .. 4
		]
	});

sub failed_row
{
	my ($id) = @_;
	$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
	  or diag('connection ' . $id . ' did not stop: ' . JSON::PP->new->encode(conn($node, $id)));
	return conn($node, $id);
}

sub peering_puts
{
	my ($seq, $vnet) = @_;
	return scalar grep {
		$_->{method} eq 'PUT' && $_->{path} =~ m{/virtualNetworks/\Q$vnet\E/virtualNetworkPeerings/}
	} @{ requests_since($seq) };
}

# --- Aiven never builds its side (APPROVED) ------------------------------
fake_seed({ settings => { aiven_build_seconds => 1e6 } });
my $id = create_connection($node, vnet_name => 'vnet-w1');
ok( $node->poll_query_until('postgres',
		"SELECT step = 'aiven_pending' AND retry_class = 'waiting' FROM peering.connections WHERE id = $id"),
	'waiting for Aiven shows retry_class waiting');
is( $node->safe_psql('postgres',
		"SELECT retry_since = step_since AND retry_until = step_since + interval '4s' AND last_error IS NULL"
		  . " FROM peering.connections WHERE id = $id"),
	't',
	'the wait runs from the start of the step for peering.wait_budget');
fake_seed(
	{
		aiven_set_state => [
			{
				project_vpc_id => $w->{project_vpc_id},
				peer_vpc => 'vnet-w1',
				state => 'APPROVED',
				state_info => { message => 'Pending build of the peering' }
			}
		]
	});
my $row = failed_row($id);
is($row->{step}, 'aiven_pending', 'it stops at aiven_pending');
is($row->{last_error_code}, '55000', 'SQLSTATE 55000');
is($row->{retry_class}, 'waiting', 'the row still says it was waiting');
like($row->{last_error}, qr/gave up waiting .*peering\.wait_budget.*Aiven has not built its side.*state APPROVED/,
	'last_error names the wait and the state');
like($row->{last_error}, qr/Aiven says: "Pending build of the peering"/, 'and quotes Aiven');
like($row->{last_error}, qr/peering_retry\($id\)/, 'and hints at peering_retry');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = 'failed' AND message ~ 'gave up waiting'"),
	'1',
	'one failed event');

fake_seed({ settings => { aiven_build_seconds => 0 } });
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'peering_retry waits again, to ACTIVE');
$row = conn($node, $id);
ok(!defined $row->{retry_class} && !defined $row->{retry_until}, 'no wait is shown at ACTIVE');

# --- PENDING_PEER never turns ACTIVE -------------------------------------
fake_seed({ settings => { aiven_activate_seconds => 1e6 } });
$id = create_connection($node, vnet_name => 'vnet-w2');
$row = failed_row($id);
is($row->{step}, 'aiven_active', 'it stops at aiven_active');
like($row->{last_error}, qr/gave up waiting .*Aiven has not seen the peering yet.*state PENDING_PEER/,
	'last_error names PENDING_PEER');
fake_seed({ settings => { aiven_activate_seconds => 0 } });
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'after peering_retry it is ACTIVE');

# --- DELETING never turns DELETED ----------------------------------------
fake_seed({ settings => { aiven_delete_seconds => 1e6 } });
$node->safe_psql('postgres', "SELECT peering_delete($id)");
$row = failed_row($id);
is($row->{step}, 'aiven_deleted', 'the teardown stops at aiven_deleted');
like($row->{last_error}, qr/gave up waiting .*Aiven has not deleted the connection yet.*state DELETING/,
	'last_error names DELETING');
fake_seed({ settings => { aiven_delete_seconds => 0 } });
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_step($node, $id, 'deleted'), 'deleted', 'peering_retry finishes the teardown');

# --- the Azure operation fails with a cause that needs a fix -------------
my $op_fault = sub {
	my ($code, $count) = @_;
	return fake_fault(
		{
			method => 'GET',
			path => '/providers/Microsoft\.Network/locations/[^/]+/operations/',
			status => 200,
			count => $count,
			body => {
				status => 'Failed',
				error => { code => $code, message => "fault injected: $code" }
			}
		});
};
my $seq = request_seq();
$op_fault->('VnetAddressSpaceOverlapsWithAlreadyPeeredVnet', 100);
$id = create_connection($node, vnet_name => 'vnet-w3');
$row = failed_row($id);
fake_clear_faults();
is($row->{step}, 'azure_peering_wait', 'it stops at azure_peering_wait');
is($row->{last_error_code}, '55000 VnetAddressSpaceOverlapsWithAlreadyPeeredVnet',
	'with ARM\'s error code');
like($row->{last_error}, qr/ended Failed with VnetAddressSpaceOverlapsWithAlreadyPeeredVnet: fault injected/,
	'and its message');
is(peering_puts($seq, 'vnet-w3'), 1, 'the peering was PUT once: the cause needs a fix');

# --- ... and with a cause that may pass: one PUT more --------------------
$seq = request_seq();
$op_fault->('AnotherOperationInProgress', 1);
$id = create_connection($node, vnet_name => 'vnet-w4');
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'it reaches ACTIVE');
is(peering_puts($seq, 'vnet-w4'), 2, 'after one more PUT')
  or diag(summarize_requests(requests_since($seq)));
ok( scalar(grep { $_->{kind} eq 'error' && $_->{message} =~ /AnotherOperationInProgress.*once more/ }
		  @{ events_of($node, $id) }),
	'an error event says so');

# --- VNet access switched off in the portal is drift ---------------------
my $name = conn($node, $id)->{peering_name};
my $vnet_w4 = "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
  . '/providers/Microsoft.Network/virtualNetworks/vnet-w4';
my $access = sub {
	my ($p) = grep { lc $_->{name} eq lc $name } @{ customer_peerings(fake_world(), 'vnet-w4') };
	return $p->{allowVirtualNetworkAccess} ? 1 : 0;
};
fake_seed({ peering_flags => [ { vnet_id => $vnet_w4, name => $name, allowVirtualNetworkAccess => 0 } ] });
$row = failed_row($id);
is($row->{step}, 'active', 'the re-check stops the connection');
like($row->{last_error}, qr/VNet access is switched off \(allowVirtualNetworkAccess false\)/,
	'last_error says VNet access is off');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = 'drift'"),
	'1', 'one drift event');

reload_with($node, 'peering.auto_repair', 'on');
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'peering_retry repairs it');
is($access->(), 1, 'VNet access is allowed again');
fake_seed({ peering_flags => [ { vnet_id => $vnet_w4, name => $name, allowVirtualNetworkAccess => 0 } ] });
ok(poll_until(30, sub { $access->() }), 'automatic repair allows it again');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM peering.events WHERE connection_id = $id AND kind = 'repair' AND message ~ 'VNet access'"),
	'with a repair event');
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'and it is ACTIVE');

done_testing();
