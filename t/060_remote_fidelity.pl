# The answers the real services give when things are not simple, as the
# fake models them (test/fakecloud/README.md, "Catalogue"), and what the
# extension does about each:
#  - every replication, propagation and build delay on, and the first
#    attempt of every mutating call answered 429 or 503 with Retry-After:
#    create -> ACTIVE -> delete -> the same peering again -> ACTIVE ->
#    delete, leaving nothing of ours (recycle bin included);
#  - a lost answer to the Aiven POST is read back, never posted twice;
#  - a soft-deleted application holding the uniqueName is purged;
#  - a custom role someone else assigned is kept at teardown;
#  - a project VPC gone before the teardown counts as deleted;
#  - retries are budgeted by time per class, visible on the row.
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
my $node = new_node('fidelity');

my $baseline = fake_world();
my %base_custom = map { $_->{id} => 1 } @{ custom_roles($baseline) };
my %base_assignments =
  map { $_->{name} => 1 } @{ $baseline->{roleAssignments} };

my %slow = (
	graph_replication_seconds => 1.5,
	secret_propagation_seconds => 1,
	role_propagation_seconds => 1.5,
	role_definition_propagation_seconds => 1.5,
	aiven_build_seconds => 1,
	aiven_activate_seconds => 0.5,
	aiven_delete_seconds => 1,
	deleted_retention_seconds => 1,
	async_operation_seconds => 1);
my %fast = map { $_ => 0 } keys %slow;

# The first attempt of every mutating call is refused with 429 or 503.
my @first_attempt_refusals = (
	[ PATCH => qr{/graph/v1\.0/applications\(uniqueName=}, 503 ],
	[ PATCH => qr{/graph/v1\.0/servicePrincipals\(appId=}, 429 ],
	[ POST => qr{/addPassword$}, 429 ],
	[ PUT => qr{/roleDefinitions/}, 429 ],
	[ PUT => qr{/roleAssignments/}, 503 ],
	[ POST => qr{/aiven/v1/project/.*/peering-connections$}, 503 ],
	[ PUT => qr{/virtualNetworkPeerings/}, 429 ],
	[ DELETE => qr{/virtualNetworkPeerings/}, 429 ],
	[ DELETE => qr{/aiven/v1/project/.*/peer-vpcs/}, 503 ],
	[ DELETE => qr{/roleAssignments/}, 429 ],
	[ DELETE => qr{/graph/v1\.0/servicePrincipals/}, 503 ],
	[ DELETE => qr{/graph/v1\.0/applications/}, 429 ],
	[ DELETE => qr{/graph/v1\.0/directory/deletedItems/}, 503 ],
	[ DELETE => qr{/roleDefinitions/}, 429 ]);

sub refuse_first_attempts
{
	for my $f (@first_attempt_refusals)
	{
		my ($method, $rx, $status) = @$f;
		(my $path = "$rx") =~ s/^\(\?\^:(.*)\)$/$1/;
		fake_fault(
			{
				method => $method,
				path => $path,
				status => $status,
				retry_after => 1,
				count => 1
			});
	}
	return;
}

sub events_like
{
	my ($id, $pattern) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND message ~ '$pattern'"
	);
}

# Nothing of a deleted connection remains in the cloud.
sub nothing_of_ours_remains
{
	my ($label, $app_id, $sp_id) = @_;
	my $world = fake_world();
	is(scalar @{ our_apps($world) }, 0, "$label: no application of ours");
	is( scalar(grep { ($_->{uniqueName} // '') =~ /^peering-/ }
			  @{ $world->{deletedItems} }),
		0,
		"$label: none in the recycle bin");
	is(scalar(grep { lc($_->{id}) eq lc($sp_id) } @{ $world->{deletedItems} }),
		0, "$label: its service principal not in the recycle bin");
	is(scalar @{ sps_of_app($world, $app_id, $w->{tenant_id}) }, 0,
		"$label: no service principal of our application in the customer tenant");
	is( scalar(grep { !$base_assignments{ $_->{name} } && lc($_->{principalId}) eq lc($sp_id) }
			  @{ $world->{roleAssignments} }),
		0,
		"$label: no role assignment of our application");
	is( scalar(grep { !$base_custom{ $_->{id} } } @{ custom_roles($world) }),
		0, "$label: no custom role of ours");
	is(scalar @{ customer_peerings($world, $w->{vnet_name}) },
		0, "$label: no Azure peering");
	is(scalar @{ aiven_connections($world, $w->{vnet_name}, 1) },
		0, "$label: no live Aiven connection");
	return;
}

sub delete_and_wait
{
	my ($id) = @_;
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	return wait_for_step($node, $id, 'deleted', 120);
}

# ------------------------------------------------------------------
# The hostile cloud, twice over the same peering
# ------------------------------------------------------------------

fake_seed({ settings => \%slow });
for my $round (1, 2)
{
	refuse_first_attempts();
	my $id = create_connection($node);
	is(wait_for_state($node, $id, 'ACTIVE', 150), 'ACTIVE',
		"round $round: ACTIVE with every delay on and first attempts refused");
	my $row = conn($node, $id);
	ok(!defined $row->{retry_class}, "round $round: no retry in progress once ACTIVE");
	cmp_ok(events_like($id, 'retrying \(throttling\) until'), '>', 0,
		"round $round: 429s were retried as throttling, with a deadline");
	cmp_ok(events_like($id, 'retrying \(transient\) until'), '>', 0,
		"round $round: 503s were retried as transient");
	if ($round == 1)
	{
		cmp_ok(events_like($id, 'has not replicated yet.*retrying \(replication\)'),
			'>', 0,
			'NoBackingApplicationObject on the service principal is retried as replication');
	}
	else
	{
		cmp_ok(events_like($id, 'permanently deleted application'), '==', 0,
			'round 2: the uniqueName was free, the teardown had purged it');
	}

	refuse_first_attempts();
	is(delete_and_wait($id), 'deleted', "round $round: the deletion finishes");
	nothing_of_ours_remains("round $round", $row->{app_id}, $row->{app_sp_id});
}
fake_clear_faults();
fake_seed({ settings => \%fast });

# ------------------------------------------------------------------
# A lost answer to the Aiven POST is read back
# ------------------------------------------------------------------

my $seq = request_seq();
fake_fault(
	{
		method => 'POST',
		path => '/aiven/v1/project/.*/peering-connections$',
		after => JSON::PP::true,
		status => 504,
		count => 1
	});
my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE',
	'ACTIVE after the answer to the Aiven POST was lost');
my @posts = grep { $_->{method} eq 'POST' && $_->{path} =~ /peering-connections$/ }
  @{ requests_since($seq) };
is(scalar @posts, 1, 'the Aiven connection was requested once, and read back');
is(scalar @{ aiven_connections(fake_world(), $w->{vnet_name}, 1) },
	1, 'one live Aiven connection');

# ------------------------------------------------------------------
# A custom role someone else assigned is kept at teardown
# ------------------------------------------------------------------

my $row = conn($node, $id);
my $second_vnet =
  "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
  . "/providers/Microsoft.Network/virtualNetworks/$w->{second_vnet_name}";
fake_seed(
	{
		grants => [
			{
				principal_id => $w->{limited_sp_id},
				role => $row->{peer_role_id},
				scope => $second_vnet
			}
		]
	});
is(delete_and_wait($id), 'deleted', 'the deletion finishes although a role of ours is in use');
like(
	$node->safe_psql('postgres',
		"SELECT string_agg(message, '; ') FROM peering.events WHERE connection_id = $id AND step = 'delete_roles'"),
	qr/provider role kept, since someone else assigned it/,
	'the event says the role in use is kept');
ok( (grep { lc($_->{id}) eq lc($row->{peer_role_id}) } @{ custom_roles(fake_world()) }),
	'the role in use still exists');
fake_seed({ revoke => [ { principal_id => $w->{limited_sp_id} } ] });

# ------------------------------------------------------------------
# A soft-deleted application holding the uniqueName is purged
# ------------------------------------------------------------------

# The application of that peering, made and deleted by hand: it stays in
# the recycle bin with its uniqueName.
my $app = made_and_deleted_app($row->{app_unique_name});
ok((grep { $_->{id} eq $app->{id} } @{ fake_world()->{deletedItems} }),
	'the recycle bin holds it');

$id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE',
	'the same peering is created again');
cmp_ok(events_like($id, "permanently deleted application $app->{id}"), '==', 1,
	'the application in the recycle bin was purged');
ok(!(grep { $_->{id} eq $app->{id} } @{ fake_world()->{deletedItems} }),
	'and is gone from the recycle bin');

# ------------------------------------------------------------------
# Retries are budgeted by time
# ------------------------------------------------------------------

is(delete_and_wait($id), 'deleted', 'deleted again');
$node->append_conf('postgresql.conf', "peering.replication_retry_budget = '3s'\n");
$node->reload;
wait_for_setting($node, 'peering.replication_retry_budget', '3s');
fake_fault(
	{
		method => 'PATCH',
		path => '/graph/v1\.0/servicePrincipals\(appId=',
		status => 400,
		body => {
			error => {
				code => 'Request_BadRequest',
				message => "The appId 'x' of the service principal does not reference a valid application object.",
				details => [ { code => 'NoBackingApplicationObject', target => 'appId' } ]
			}
		},
		count => 1000
	});
$id = create_connection($node);
$node->poll_query_until('postgres',
	"SELECT retry_class = 'replication' AND retry_until > now() FROM peering.connections WHERE id = $id"
) or diag('no replication retry seen');
$row = conn($node, $id);
is($row->{retry_class}, 'replication', 'the row says why it retries');
ok(defined $row->{retry_until}, 'and until when');
is($row->{step}, 'app_sp', 'at the service principal step');
$node->poll_query_until('postgres',
	"SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the connection did not give up');
$row = conn($node, $id);
like($row->{last_error}, qr/gave up after \d+ attempts since .*peering\.replication_retry_budget/,
	'it gives up once the replication budget is spent, and says which budget');
fake_clear_faults();
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'peering_retry after the fix reaches ACTIVE');

# ------------------------------------------------------------------
# A project VPC gone before the teardown counts as deleted
# ------------------------------------------------------------------

$row = conn($node, $id);
fake_seed({ remove_aiven_vpcs => [ { project_vpc_id => $w->{project_vpc_id} } ] });
is(delete_and_wait($id), 'deleted', 'the teardown finishes although the project VPC is gone');
nothing_of_ours_remains('VPC gone', $row->{app_id}, $row->{app_sp_id});

done_testing();
