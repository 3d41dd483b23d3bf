# peering.auto_repair = on: a re-check that finds the customer's Azure
# peering deleted behind the extension's back (and the Aiven connection
# DELETED_BY_PEER for it) re-creates what is missing without peering_retry,
# with a repair event; a connection that keeps drifting stops with a hint.
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
my $node = new_node('repair',
	conf => "peering.recheck_interval = '1s'\npeering.auto_repair = on\n");

my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'the connection reaches ACTIVE');
my $row = conn($node, $id);

sub repairs
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = 'repair'");
}

for my $round (1 .. 3)
{
	remove_customer_peering($row->{peering_name});
	$node->poll_query_until('postgres', "SELECT count(*) = $round FROM peering.events"
		  . " WHERE connection_id = $id AND kind = 'repair'")
	  or diag("no repair in round $round");
	is(repairs(), $round, "round $round: the drift is repaired without peering_retry");
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', "round $round: ACTIVE again");
	$node->poll_query_until('postgres',
		"SELECT step = 'active' AND azure_peering_state = 'Connected' FROM peering.connections WHERE id = $id"
	) or diag('not back at the re-check');
	my $world = fake_world();
	is(scalar @{ customer_peerings($world, $w->{vnet_name}) }, 1,
		"round $round: one Azure peering again");
	is(scalar @{ aiven_connections($world, $w->{vnet_name}, 1) }, 1,
		"round $round: one live Aiven connection");
	ok(!conn($node, $id)->{failed}, "round $round: not failed");
}

like(
	$node->safe_psql('postgres',
		"SELECT message FROM peering.events WHERE connection_id = $id AND kind = 'repair' ORDER BY id LIMIT 1"),
	qr/drifted: Aiven state DELETED_BY_PEER.*repairing it \(peering\.auto_repair\)/,
	'the repair event says what drifted');

# A fourth drift within the budget: it stops and says why.
remove_customer_peering($row->{peering_name});
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the fourth drift did not stop it');
$row = conn($node, $id);
ok($row->{failed}, 'a connection that keeps drifting stops');
like($row->{last_error}, qr/repaired 3 times.*peering_retry\($id\)/,
	'with a hint to find the cause');
is(repairs(), 3, 'no fourth repair');

done_testing();
