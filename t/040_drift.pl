
# The worker re-checks ACTIVE connections every
# peering.recheck_interval and records a change: the customer's Azure peering
# removed outside the extension makes Aiven report DELETED_BY_PEER; the
# connection stops with a drift event and a hint, and peering_retry repairs
# it back to ACTIVE with one Azure peering and one live Aiven connection.
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
my $node = new_node('drift', conf => "peering.recheck_interval = '1s'\n");

my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'the connection reaches ACTIVE');
my $row = conn($node, $id);
is($row->{step}, 'active', 'step active');

# The customer side goes away behind the extension's back.
remove_customer_peering($row->{peering_name});
is(scalar @{ customer_peerings(fake_world(), $w->{vnet_name}) },
	0, 'the customer peering is removed in the cloud');

$node->poll_query_until('postgres',
	"SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the drift was not detected');
$row = conn($node, $id);
ok($row->{failed}, 'the drift stops the connection');
is($row->{step}, 'active', 'the drift is recorded on the ACTIVE step');
is($row->{state}, 'DELETED_BY_PEER', 'the Aiven state is recorded verbatim');
ok(!defined $row->{azure_peering_state}, 'the Azure peering is recorded as gone');
like($row->{last_error}, qr/drifted/, 'last_error says the peering drifted');
like($row->{last_error}, qr/peering_retry\($id\)/, 'last_error hints at peering_retry');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = 'drift'"),
	'1',
	'one drift event');

# Repair: every step again, idempotently; Aiven's refused connection is
# deleted and requested anew, the Azure peering created again.
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE', 90), 'ACTIVE', 'peering_retry repairs it to ACTIVE');
$row = conn($node, $id);
ok(!$row->{failed}, 'not failed after the repair');
is($row->{azure_peering_state}, 'Connected', 'the Azure peering is Connected again');

my $world = fake_world();
is(scalar @{ customer_peerings($world, $w->{vnet_name}) },
	1, 'exactly one customer peering after the repair');
is(scalar @{ aiven_connections($world, $w->{vnet_name}, 1) },
	1, 'exactly one live Aiven connection after the repair');
is(scalar @{ our_apps($world) }, 1, 'still exactly one application of ours');

done_testing();
