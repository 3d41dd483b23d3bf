
# Only what is provably the extension's is written.  A peering of the VNet
# that merely shares the name asked for (here the customer's own peering
# "to-hub" to another VNet) is refused by the pre-flight and the plan, and
# when one appears behind the extension's back, no step changes or deletes
# it: creation and repair stop with a hint, the teardown leaves it alone.
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
my $node = new_node('foreign', conf => "peering.recheck_interval = '1s'\n");

# Hubs of the customer: Azure peers a VNet with another one once only.
my @hubs = map { "vnet-hub$_" } 1 .. 3;
fake_seed(
	{
		vnets => [
			map {
				{
					resource_group => $w->{resource_group},
					name => $hubs[$_],
					address_prefixes => ["10.4$_.0.0/16"]
				}
			} 0 .. 2
		]
	});
my $hub_id;

# The customer's own peering of the VNet to its next hub, made by an admin.
sub hub_peering_by_hand
{
	my ($name) = @_;
	$hub_id = "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
	  . '/providers/Microsoft.Network/virtualNetworks/' . shift @hubs;
	my ($status) = cloud_http(
		'PUT',
		"/arm$w->{vnet_id}/virtualNetworkPeerings/$name?api-version=2024-05-01",
		token => admin_token('arm'),
		body => {
			properties => {
				allowVirtualNetworkAccess => JSON::PP::true,
				remoteVirtualNetwork => { id => $hub_id }
			}
		});
	die "hub peering by hand: HTTP $status" unless $status == 200 || $status == 201;
	return;
}

# The peering of that name on the customer VNet, from the fake's world.
sub peering_named
{
	my ($name) = @_;
	my ($p) = grep { lc $_->{name} eq lc $name }
	  @{ customer_peerings(fake_world(), $w->{vnet_name}) };
	return $p;
}

# Requests since $seq that wrote the peering of that name.
sub writes_to
{
	my ($seq, $name) = @_;
	return scalar grep { $_->{path} =~ m{/virtualNetworkPeerings/\Q$name\E$}i }
	  @{ mutating_requests(requests_since($seq)) };
}

sub rows { return $node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections'); }

hub_peering_by_hand('to-hub');
ok(peering_named('to-hub'), 'the customer has a peering "to-hub" to its hub');

# --- pre-flight and plan refuse the name -----------------------------
my $seq = request_seq();
my $plan = query_json($node,
	'SELECT row_to_json(p) FROM peering_plan('
	  . create_args(peering_name => 'to-hub') . ') p');
is(scalar @$plan, 1, 'the plan is one row');
is($plan->[0]{action}, 'blocked', 'the plan is blocked');
like($plan->[0]{detail}, qr/already has a peering named "to-hub"/, 'the plan names the peering');
like($plan->[0]{detail}, qr/\Q$hub_id\E/i, 'the plan names its remote VNet');

my ($state, $err) = sql_error($node,
	'SELECT peering_create(' . create_args(peering_name => 'to-hub') . ')');
is($state, '42710', 'peering_create refuses the name with 42710');
like($err, qr/HINT:.*connects to \Q$hub_id\E.*choose another peering_name/si,
	'the hint names the remote VNet and the fix');
is(rows(), '0', 'no connection recorded');
is(scalar @{ mutating_requests(requests_since($seq)) }, 0, 'no mutating request was sent');

# --- a peering of that name appears behind the extension's back -------
# The worker is off, so that the hand-made peering comes between the
# pre-flight and the step that would write it.
reload_with($node, 'peering.worker_enabled', 'off');
my $id = create_connection($node, peering_name => 'race');
hub_peering_by_hand('race');
$seq = request_seq();
ok( poll_until(60,
		sub {
			$node->safe_psql('postgres', 'CALL peering_run()');
			conn($node, $id)->{failed};
		}),
	'the creation stops');
my $row = conn($node, $id);
is($row->{step}, 'azure_peering', 'it stops at the Azure peering step');
like($row->{last_error_code}, qr/^42710/, 'with 42710');
like($row->{last_error}, qr/peering "race" .* connects to \Q$hub_id\E.*not this connection's/i,
	'last_error says whose peering it is');
like($row->{last_error}, qr/hint: .*peering_name/, 'and hints at another peering_name');
is(writes_to($seq, 'race'), 0, 'the hand-made peering was neither written nor deleted');
is(lc peering_named('race')->{remote_id}, lc $hub_id, 'it still connects to the hub');

# The teardown leaves it alone too, and finishes.
$node->safe_psql('postgres', "SELECT peering_delete($id)");
ok( poll_until(60,
		sub {
			$node->safe_psql('postgres', 'CALL peering_run()');
			my $r = conn($node, $id);
			$r->{step} eq 'deleted' || $r->{failed};
		}),
	'the teardown ends');
is(conn($node, $id)->{step}, 'deleted', 'the connection is deleted');
is(writes_to($seq, 'race'), 0, 'the teardown did not touch the hand-made peering');
ok(peering_named('race'), 'the hand-made peering still exists');
ok( scalar(grep { $_->{message} =~ /left peering race alone/ } @{ events_of($node, $id) }),
	'an event says it was left alone');
reload_with($node, 'peering.worker_enabled', 'on');

# --- repair of an ACTIVE connection whose peering was replaced ---------
reload_with($node, 'peering.auto_repair', 'on');
$id = create_connection($node, peering_name => 'ours');
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'a connection reaches ACTIVE');
remove_customer_peering('ours');
hub_peering_by_hand('ours');
$seq = request_seq();
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the replaced peering was not noticed');
$row = conn($node, $id);
ok($row->{failed}, 'the repair stops');
like($row->{last_error}, qr/peering "ours" .*not this connection's/, 'because the peering is not ours');
is(writes_to($seq, 'ours'), 0, 'the repair wrote nothing to it');
is(lc peering_named('ours')->{remote_id}, lc $hub_id, 'it still connects to the hub');

done_testing();
