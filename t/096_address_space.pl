# Address-space changes of peered VNets, as the re-check sees them through
# the Azure peering's peeringSyncLevel:
#  - the provider's VNet grows: the customer's peering is LocalNotInSync.
#    With peering.auto_repair off the connection stops with a hint, and
#    peering_retry syncs it (PUT ?syncRemoteAddressSpace=true); with it on,
#    the re-check syncs it and records a repair.
#  - the customer's VNet grows: the peering is RemoteNotInSync, which only
#    the provider can sync: Aiven is asked once to refresh its side; when
#    that does not help within peering.replication_retry_budget it is
#    reported once as a drift event, never failed nor written to, and
#    reported again once the provider synced its side.  (A refresh that
#    works: t/116_reachability.pl.)
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
my $node = new_node('sync', conf => "peering.recheck_interval = '1s'\n");

my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'the connection reaches ACTIVE');
$node->poll_query_until('postgres',
	"SELECT azure_sync_level = 'FullyInSync' FROM peering.connections WHERE id = $id")
  or diag('no sync level recorded');
is(conn($node, $id)->{azure_sync_level}, 'FullyInSync', 'the re-check records FullyInSync');

sub customer_peering
{
	return customer_peerings(fake_world(), $w->{vnet_name})->[0];
}

sub sync_puts
{
	my ($since) = @_;
	return scalar grep {
		$_->{method} eq 'PUT'
		  && $_->{path} =~ m{/virtualNetworkPeerings/}
		  && ($_->{query} // '') =~ /(?:^|&)syncRemoteAddressSpace=true(?:&|$)/
	} @{ requests_since($since) };
}

sub events_like
{
	my ($kind, $re) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = '$kind' AND message ~ '$re'"
	);
}

# ---- The provider's VNet grows, auto repair off: stop, then peering_retry.
my $seq = request_seq();
grow_vnet($w->{provider_vnet_id}, '10.213.3.0/24');
is(customer_peering()->{peeringSyncLevel}, 'LocalNotInSync',
	"the fake: the customer's peering is LocalNotInSync");
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the stale peering did not stop the connection');
my $row = conn($node, $id);
ok($row->{failed}, 'auto repair off: a LocalNotInSync peering stops the connection');
is($row->{azure_sync_level}, 'LocalNotInSync', 'azure_sync_level says why');
like($row->{last_error},
	qr/address space of the provider's VNet changed \(peeringSyncLevel LocalNotInSync\).*peering_retry\($id\)/,
	'the error names the sync level and hints peering_retry');
is(sync_puts($seq), 0, 'nothing was synced without a call');
is(events_like('drift', 'peeringSyncLevel LocalNotInSync'), 1, 'one drift event');

$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'peering_retry: ACTIVE');
$node->poll_query_until('postgres',
	"SELECT NOT failed AND step = 'active' AND azure_sync_level = 'FullyInSync' FROM peering.connections WHERE id = $id"
) or diag('not back in sync');
$row = conn($node, $id);
ok(!$row->{failed}, 'not failed after the retry');
is($row->{azure_sync_level}, 'FullyInSync', 'FullyInSync after the retry');
is(sync_puts($seq), 1, 'one PUT with syncRemoteAddressSpace=true');
my $pe = customer_peering();
is($pe->{peeringSyncLevel}, 'FullyInSync', "the fake: the customer's peering is in sync");
is(scalar(map { @{ $_->{passwordCredentials} // [] } } @{ our_apps(fake_world()) }),
	0, 'no application secret is left after the sync');

# ---- The provider's VNet grows again, auto repair on: synced by the re-check.
reload_with($node, 'peering.auto_repair', 'on');
$seq = request_seq();
grow_vnet($w->{provider_vnet_id}, '10.213.4.0/24');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM peering.events WHERE connection_id = $id AND kind = 'repair'")
  or diag('no repair');
like(
	$node->safe_psql('postgres',
		"SELECT message FROM peering.events WHERE connection_id = $id AND kind = 'repair'"),
	qr/peeringSyncLevel LocalNotInSync.*repairing it \(peering\.auto_repair\)/,
	'auto repair on: the re-check syncs the peering, with a repair event');
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'ACTIVE after the repair');
$node->poll_query_until('postgres',
	"SELECT step = 'active' AND azure_sync_level = 'FullyInSync' FROM peering.connections WHERE id = $id"
) or diag('not back in sync');
ok(!conn($node, $id)->{failed}, 'not failed');
is(sync_puts($seq), 1, 'one more PUT with syncRemoteAddressSpace=true');
my @prefixes = @{ vnet_of(fake_world(), $w->{provider_vnet_id})->{address_prefixes} };
is(customer_peering()->{peeringSyncLevel}, 'FullyInSync',
	"the fake: in sync with @prefixes");

# ---- The customer's VNet grows: the provider's side is stale, and Aiven's
# refresh does not sync it within the budget.
fake_seed({ settings => { aiven_refresh_seconds => 3600 } });
reload_with($node, 'peering.replication_retry_budget', '3');
$seq = request_seq();
my $cvid = "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
  . "/providers/Microsoft.Network/virtualNetworks/$w->{vnet_name}";
grow_vnet($cvid, '10.11.0.0/16');
is(customer_peering()->{peeringSyncLevel}, 'RemoteNotInSync',
	"the fake: the customer's peering is RemoteNotInSync");
$node->poll_query_until('postgres',
	"SELECT azure_sync_level = 'RemoteNotInSync' FROM peering.connections WHERE id = $id")
  or diag('RemoteNotInSync not recorded');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM peering.events WHERE connection_id = $id AND kind = 'drift' AND message ~ 'peeringSyncLevel RemoteNotInSync'")
  or diag('no drift event');
is(events_like('drift', 'peeringSyncLevel RemoteNotInSync'), 1,
	'RemoteNotInSync is reported once as a drift event, once the budget is spent');
is(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ m{/peering-connections/refresh$} }
		@{ requests_since($seq) }),
	1, 'after one refresh call');
like(
	$node->safe_psql('postgres',
		"SELECT message FROM peering.events WHERE connection_id = $id AND kind = 'drift' ORDER BY id DESC LIMIT 1"),
	qr/address space of VNet \Q$w->{vnet_name}\E changed.*asked to refresh it.*until the provider syncs its side/,
	'the event says what changed and who syncs it');
# a few more re-checks: still one event, never failed, never repaired
my $checks = $node->safe_psql('postgres', "SELECT checked_at FROM peering.connections WHERE id = $id");
$node->poll_query_until('postgres',
	"SELECT checked_at > '$checks'::timestamptz + interval '2 s' FROM peering.connections WHERE id = $id")
  or diag('no later re-checks');
$row = conn($node, $id);
ok(!$row->{failed}, 'RemoteNotInSync does not fail the connection');
is($row->{state}, 'ACTIVE', 'still ACTIVE');
is(events_like('drift', 'peeringSyncLevel RemoteNotInSync'), 1, 'and is not reported again');
is(events_like('repair', 'RemoteNotInSync'), 0, 'nor repaired');
is(sync_puts($seq), 0, 'no sync PUT for the remote side');
is(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ m{/peering-connections/refresh$} }
		@{ requests_since($seq) }),
	1, 'and no second refresh for the same change');

# The provider syncs its side: back to FullyInSync, reported.
my ($theirs) = grep { lc $_->{remote_id} eq lc $cvid }
  @{ vnet_of(fake_world(), $w->{provider_vnet_id})->{peerings} };
fake_seed({ sync_peerings => [ { vnet_id => $w->{provider_vnet_id}, name => $theirs->{name} } ] });
$node->poll_query_until('postgres',
	"SELECT azure_sync_level = 'FullyInSync' FROM peering.connections WHERE id = $id")
  or diag('FullyInSync not recorded');
is(events_like('step', 'in sync again'), 1, 'the return to FullyInSync is recorded');
ok(!conn($node, $id)->{failed}, 'not failed');

done_testing();
