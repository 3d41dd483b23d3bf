
# Full lifecycles with the worker (create -> ACTIVE -> delete),
# checked on the cloud side through /_fake/world: without delays, with every
# delay on, two connections sharing the provider's service principal,
# INVALID_SPECIFICATION then peering_retry, and CALL peering_run() alone
# with the worker disabled.
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
my $node = new_node('lifecycle');

my $baseline = fake_world();
my %base_assignments = map { $_->{name} => 1 } @{ $baseline->{roleAssignments} };
my %base_custom = map { $_->{id} => 1 } @{ custom_roles($baseline) };
my ($base_vnet) = grep { $_->{name} eq $w->{vnet_name} }
  @{ $baseline->{virtualNetworks} };

# The lifecycles, from the library's one step table.
sub steps_of
{
	my ($phase) = @_;
	return split /\n/, $node->safe_psql('postgres',
		"SELECT step FROM peering.steps() WITH ORDINALITY AS s(number, step, phase, waits_for, o)"
		  . " WHERE phase = '$phase' ORDER BY o");
}
my @create_steps = steps_of('create');
my @delete_steps = steps_of('delete');
is(scalar @create_steps, 14, 'creation takes 14 steps');
is(scalar @delete_steps, 7, 'deletion takes 7 steps');

sub provider_sps
{
	my ($world) = @_;
	return sps_of_app($world, $w->{provider_app_id}, $w->{tenant_id});
}

# Steps without a 'step' event of the connection.
sub steps_without_event
{
	my ($id, @steps) = @_;
	my $list = join(',', map { "'$_'" } @steps);
	return $node->safe_psql(
		'postgres', qq{
SELECT string_agg(s, ',' ORDER BY o) FROM unnest(ARRAY[$list]) WITH ORDINALITY AS u(s, o)
 WHERE NOT EXISTS (SELECT FROM peering.events e
                    WHERE e.connection_id = $id AND e.kind = 'step'
                      AND (e.message LIKE s || ':%' OR e.step = s))});
}

# The row and the cloud of an ACTIVE connection; $n_apps: connections alive.
sub check_active
{
	my ($id, $label, $n_apps) = @_;
	my $row = conn($node, $id);
	is($row->{state}, 'ACTIVE', "$label: state ACTIVE");
	is($row->{azure_peering_state}, 'Connected', "$label: Azure peering Connected");
	is($row->{step}, 'active', "$label: step active");
	ok(!$row->{failed}, "$label: not failed");

	my $world = fake_world();
	my @apps = grep { $_->{uniqueName} eq ($row->{app_unique_name} // '') }
	  @{ our_apps($world) };
	is(scalar @apps, 1, "$label: exactly one application of ours (peering-...)");
	is(scalar @{ our_apps($world) }, $n_apps // 1,
		"$label: no other application of ours");
	my $app = $apps[0] // {};
	is($app->{appId}, $row->{app_id}, "$label: the row records its appId");
	is(scalar @{ sps_of_app($world, $row->{app_id} // 'none', $w->{tenant_id}) },
		1, "$label: one service principal for it");
	is(scalar @{ $app->{passwordCredentials} // [] }, 0,
		"$label: the application has no secret once ACTIVE");
	ok(!defined $row->{app_secret_key_id}, "$label: no secret recorded");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM peering.credentials WHERE internal AND name = 'peering_app_$id'"),
		'0',
		"$label: the database holds no secret for it");

	my $ra = role_assignments_on($world, $row->{vnet_id} // 'none');
	is_deeply(
		[ sort map { $_->{principalId} } @$ra ],
		[ sort ($row->{app_sp_id} // 'app sp', $row->{provider_sp_id} // 'provider sp') ],
		"$label: two role assignments on the VNet: the app's and the provider's");
	my %ra_names = map { $_->{name} => 1 } @$ra;
	ok($ra_names{ $row->{app_role_assignment_id} // 'none' }
		  && $ra_names{ $row->{peer_role_assignment_id} // 'none' },
		"$label: the row records both assignments");

	my %custom = map { $_->{id} => $_ } @{ custom_roles($world) };
	ok($custom{ $row->{app_role_id} // 'none' }, "$label: the app's custom role exists");
	my $peer_role = $custom{ $row->{peer_role_id} // 'none' };
	ok($peer_role, "$label: the provider's custom role exists");
	is_deeply($peer_role->{actions}, ['Microsoft.Network/virtualNetworks/peer/action'],
		"$label: the provider's role holds only peer/action")
	  if $peer_role;

	my $aiven = aiven_connections($world, $row->{vnet_name}, 1);
	is(scalar @$aiven, 1, "$label: one Aiven connection");
	is($aiven->[0]{state}, 'ACTIVE', "$label: the Aiven connection is ACTIVE") if @$aiven;

	my $pe = customer_peerings($world, $row->{vnet_name});
	is(scalar @$pe, 1, "$label: one Azure peering from the customer VNet");
	if (@$pe)
	{
		ok($pe->[0]{allowVirtualNetworkAccess}, "$label: VNet access allowed");
		is($pe->[0]{peeringState}, 'Connected', "$label: peering Connected");
		is(lc $pe->[0]{remote_id}, lc $w->{provider_vnet_id},
			"$label: peered with the provider VNet");
	}
	is_deeply([ map { $_->{id} } @{ provider_sps($world) } ],
		[ $row->{provider_sp_id} ], "$label: the provider's service principal is recorded");
	return $row;
}

# After peering_delete: nothing of the connection remains; $others: other
# connections are still alive (shared objects stay).
sub check_deleted
{
	my ($id, $label, $active, $others) = @_;
	my $row = conn($node, $id);
	is($row->{step}, 'deleted', "$label: step deleted");
	is($row->{state}, 'DELETED', "$label: state DELETED");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM peering.credentials WHERE internal AND name LIKE '%$id'"),
		'0', "$label: the app secret is dropped");

	my $world = fake_world();
	ok(!(grep { $_->{uniqueName} eq $active->{app_unique_name} } @{ our_apps($world) }),
		"$label: the application is gone");
	is(scalar @{ sps_of_app($world, $active->{app_id}, $w->{tenant_id}) }, 0,
		"$label: its service principal is gone");
	ok(!(grep {
				my $n = $_->{name};
				grep { defined $_ && $_ eq $n }
				  @$active{qw(app_role_assignment_id peer_role_assignment_id)}
			} @{ $world->{roleAssignments} }),
		"$label: its role assignments are gone");
	is(scalar @{ role_assignments_on($world, $active->{vnet_id}) }, 0,
		"$label: no role assignment left on the VNet");
	is(scalar @{ aiven_connections($world, $active->{vnet_name}, 1) }, 0,
		"$label: no live Aiven connection");
	is(scalar @{ customer_peerings($world, $active->{vnet_name}) }, 0,
		"$label: no Azure peering on the customer VNet")
	  or diag(explain(customer_peerings($world, $active->{vnet_name})));
	is(scalar @{ provider_sps($world) }, 1,
		"$label: the provider's service principal still exists");
	unless ($others)
	{
		is(scalar @{ our_apps($world) }, 0, "$label: no application of ours");
		is_deeply([ sort grep { !$base_custom{$_} } map { $_->{id} } @{ custom_roles($world) } ],
			[], "$label: no custom role of ours");
		is_deeply([ sort grep { !$base_assignments{$_} } map { $_->{name} } @{ $world->{roleAssignments} } ],
			[], "$label: no role assignment of ours anywhere");
	}
	return;
}

sub delete_connection
{
	my ($id, $label, $timeout) = @_;
	my $t = $timeout // 60;
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	is($node->safe_psql('postgres', "SELECT peering_wait($id, 'DELETED', '$t s')"),
		'DELETED', "$label: peering_wait returns DELETED");
	is(conn($node, $id)->{step}, 'deleted',
		"$label: and only once the teardown is complete (step deleted)");
	return;
}

# ------------------------------------------------------------------
# 1. The full lifecycle, no delays
# ------------------------------------------------------------------
my $since = request_seq();
my $id = create_connection($node);
my $t0 = time;
is($node->safe_psql('postgres', "SELECT peering_wait($id, 'ACTIVE', '60 s')"),
	'ACTIVE', 'lifecycle: peering_wait returns ACTIVE');
note sprintf('ACTIVE after %.1f s', time - $t0);
my $active = check_active($id, 'lifecycle');
is(steps_without_event($id, @create_steps), '',
	'lifecycle: an event for every create step');
{
	my $reqs = requests_since($since);
	diag(sprintf("remote requests of one lifecycle (create to ACTIVE): %d, of which %d mutating\n%s",
			scalar @$reqs, scalar @{ mutating_requests($reqs) },
			summarize_requests($reqs)));
}
$since = request_seq();
delete_connection($id, 'lifecycle');
check_deleted($id, 'lifecycle', $active);
is(steps_without_event($id, @delete_steps), '',
	'lifecycle: an event for every delete step');
{
	my $reqs = requests_since($since);
	diag(sprintf("remote requests of the deletion: %d, of which %d mutating\n%s",
			scalar @$reqs, scalar @{ mutating_requests($reqs) },
			summarize_requests($reqs)));
}

# ------------------------------------------------------------------
# 2. The same with every delay switched on
# ------------------------------------------------------------------
my %delays = map { $_ => 0.5 } qw(graph_replication_seconds
  role_propagation_seconds secret_propagation_seconds aiven_build_seconds
  aiven_activate_seconds async_operation_seconds);
fake_seed({ settings => \%delays });
$id = create_connection($node);
$t0 = time;
is(wait_for_state($node, $id, 'ACTIVE', 120), 'ACTIVE', 'with delays: ACTIVE');
note sprintf('with delays: ACTIVE after %.1f s', time - $t0);
$active = check_active($id, 'with delays');
note('with delays: '
	  . $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = 'error'")
	  . ' retried errors on the way');
delete_connection($id, 'with delays', 120);
check_deleted($id, 'with delays', $active);
fake_seed({ settings => { map { $_ => 0 } keys %delays } });

# ------------------------------------------------------------------
# 3. Two connections sharing the subscription and the provider's SP
# ------------------------------------------------------------------
{
	my $id1 = create_connection($node);
	my $id2 = create_connection($node, vnet_name => $w->{second_vnet_name});
	is(wait_for_state($node, $id1, 'ACTIVE', 60), 'ACTIVE', 'two: the first is ACTIVE');
	is(wait_for_state($node, $id2, 'ACTIVE', 60), 'ACTIVE', 'two: the second is ACTIVE');
	my $a1 = check_active($id1, 'two, first', 2);
	my $a2 = check_active($id2, 'two, second', 2);
	is($a1->{provider_sp_id}, $a2->{provider_sp_id}, 'two: they share the provider SP');

	delete_connection($id2, 'two, second');
	check_deleted($id2, 'two, second', $a2, 1);

	my $status = query_json($node, "SELECT row_to_json(s) FROM peering_status($id1) s")->[0];
	is($status->{state}, 'ACTIVE', 'two: the other stays ACTIVE (peering_status refresh)');
	is($status->{azure_peering_state}, 'Connected', 'two: its Azure peering stays Connected');
	is($status->{failed} ? 1 : 0, 0, 'two: it has not failed');
	my $world = fake_world();
	my %names = map { $_->{name} => 1 } @{ $world->{roleAssignments} };
	ok($names{ $a1->{app_role_assignment_id} // 'none' }
		  && $names{ $a1->{peer_role_assignment_id} // 'none' },
		'two: its role assignments remain');
	my %custom = map { $_->{id} => 1 } @{ custom_roles($world) };
	ok($custom{ $a1->{app_role_id} // 'none' } && $custom{ $a1->{peer_role_id} // 'none' },
		'two: the custom roles remain');
	is(scalar @{ provider_sps($world) }, 1, 'two: the provider SP remains');
	check_active($id1, 'two, first after the other was deleted');

	delete_connection($id1, 'two, first');
	check_deleted($id1, 'two, first', $a1);
}

# ------------------------------------------------------------------
# 4. INVALID_SPECIFICATION: the VNet disappears before the provider builds
# ------------------------------------------------------------------
{
	fake_seed({ settings => { aiven_build_seconds => 2 } });
	my $id = create_connection($node);
	is(wait_for_state($node, $id, 'APPROVED', 30), 'APPROVED', 'invalid: APPROVED');
	fake_seed(
		{
			remove_vnets => [
				{
					subscription => $w->{subscription_id},
					resource_group => $w->{resource_group},
					name => $w->{vnet_name}
				}
			]
		});
	is(wait_for_state($node, $id, 'INVALID_SPECIFICATION', 60),
		'INVALID_SPECIFICATION', 'invalid: state INVALID_SPECIFICATION');
	my $row = conn($node, $id);
	ok($row->{failed}, 'invalid: the connection is failed');
	like($row->{last_error} // '', qr/INVALID_SPECIFICATION/, 'invalid: last_error says so');
	like($row->{last_error} // '', qr/hint/i, 'invalid: last_error has a hint');
	ok((grep { $_->{kind} eq 'failed' } @{ events_of($node, $id) }),
		'invalid: a failed event is recorded');
	note("last_error: " . ($row->{last_error} // ''));

	fake_seed(
		{
			settings => { aiven_build_seconds => 0 },
			vnets => [
				{
					subscription => $w->{subscription_id},
					resource_group => $w->{resource_group},
					name => $w->{vnet_name},
					address_prefixes => $base_vnet->{address_prefixes},
					location => $base_vnet->{location},
				}
			]
		});
	$node->safe_psql('postgres', "SELECT peering_retry($id)");
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE',
		'invalid: ACTIVE after the fix and peering_retry');
	my $a = check_active($id, 'invalid, retried');
	delete_connection($id, 'invalid, retried');
	check_deleted($id, 'invalid, retried', $a);
}

# ------------------------------------------------------------------
# 5. The worker disabled: CALL peering_run() alone
# ------------------------------------------------------------------
{
	reload_with($node, 'peering.worker_enabled', 'off');
	my $since = request_seq();
	my $id = create_connection($node);

	# the disabled worker leaves it alone (two poll intervals)
	my $deadline = time + 2;
	my ($moved, $mut) = (0, []);
	while (time < $deadline && !$moved && !@$mut)
	{
		$moved = conn($node, $id)->{step} ne 'app';
		$mut = mutating_requests(requests_since($since));
		usleep(200_000);
	}
	ok(!$moved && !@$mut, 'peering_run: the disabled worker does nothing');

	my $run_until = sub {
		my ($cond, $timeout) = @_;
		my $calls = 0;
		my $ok = poll_until(
			$timeout,
			sub {
				$node->safe_psql('postgres', 'CALL peering_run()');
				$calls++;
				$node->safe_psql('postgres',
					"SELECT $cond OR failed FROM peering.connections WHERE id = $id") eq 't';
			},
			200_000);
		note("$calls CALL peering_run()");
		return $ok;
	};
	$run_until->("state = 'ACTIVE'", 60);
	my $a = check_active($id, 'peering_run');
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	$run_until->("step = 'deleted'", 60);
	check_deleted($id, 'peering_run', $a);
	reload_with($node, 'peering.worker_enabled', undef, 'on');
}

$node->stop;
done_testing();
