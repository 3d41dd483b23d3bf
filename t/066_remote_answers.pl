# Answers the real services give that version 1.1 misread or never met, as
# the fake serves them (test/fakecloud/README.md, catalogue): what the
# extension records for each (SQLSTATE, message, hint) and whether it
# retries or stops.
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
my $node = new_node('answers');

my $vnet_scope =
  "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
  . "/providers/Microsoft.Network/virtualNetworks/$w->{vnet_name}";
my $rg_scope = "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}";
my $aiven_vpc = qr{^/aiven/v1/project/[^/]+/vpcs/[^/]+$};

sub count_where
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM $sql");
}

sub delete_connection
{
	my ($id, $label) = @_;
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	is(wait_for_step($node, $id, 'deleted', 60), 'deleted', "$label: deleted");
	return;
}

# Stops with the SQLSTATE, message and hint; returns the row.
sub stops_with
{
	my ($id, $label, $sqlstate, $message, $hint) = @_;
	$node->poll_query_until('postgres',
		"SELECT failed FROM peering.connections WHERE id = $id")
	  or diag("$label: the connection did not stop");
	my $row = conn($node, $id);
	like($row->{last_error_code} // '', qr/^$sqlstate\b/, "$label: SQLSTATE $sqlstate");
	like($row->{last_error} // '', $message, "$label: message");
	like($row->{last_error} // '', $hint, "$label: hint");
	return $row;
}

# --- A role on the VNet cannot read the async operation: the peering's own
# provisioningState decides, and no error is recorded.
{
	my $seq = request_seq();
	my $id = create_connection($node);
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'operation out of reach: ACTIVE');
	my @ops = grep { $_->{method} eq 'GET' && $_->{path} =~ m{/locations/[^/]+/operations/} }
	  @{ requests_since($seq) };
	ok(@ops >= 1 && !grep({ $_->{status} != 403 } @ops),
		'operation out of reach: the status URL answered 403');
	is(scalar @ops, 1, 'operation out of reach: read once, then the peering was read');
	is(count_where("peering.events WHERE connection_id = $id AND kind = 'error'"),
		'0', 'operation out of reach: no error event');
	delete_connection($id, 'operation out of reach');
}

# --- Aiven: an unknown project answers 404 without error_code.
{
	my ($state, $err) = sql_error($node,
		'SELECT * FROM peering_create(' . create_args(project => 'no-such-project') . ')');
	is($state, '42704', 'unknown project, peering_create: SQLSTATE 42704');
	like($err, qr/project "no-such-project".*the project does not exist/,
		'unknown project, peering_create: says the project does not exist');
	unlike($err, qr/project VPC \S+ does not exist/,
		'unknown project, peering_create: not taken for a missing project VPC');
	like($err, qr/HINT:.*Check the project name/, 'unknown project, peering_create: hint');
	my $plan = $node->safe_psql('postgres',
		"SELECT step || ' ' || action || ': ' || detail FROM peering_plan("
		  . create_args(project => 'no-such-project') . ')');
	like(
		$plan,
		qr/^preflight blocked: .*project "no-such-project": the project does not exist \(hint: Check the project name/,
		'unknown project, peering_plan: the pre-flight is blocked, saying why');

	# in a step: the worker's reads get the same answer (held behind a slow
	# first Graph request, so that peering_create's own checks pass)
	fake_fault(
		{
			method => 'PATCH',
			path => '/graph/v1\.0/applications\(uniqueName=',
			delay_ms => 3000,
			count => 1
		});
	my $id = create_connection($node);
	fake_fault(
		{
			method => 'GET',
			path => '/aiven/v1/project/[^/]+/vpcs/[^/]+$',
			status => 404,
			body => {
				errors => [ { message => 'Project does not exist', status => 404 } ],
				message => 'Project does not exist'
			},
			count => 1000
		});
	stops_with($id, 'unknown project, step', '42704',
		qr/project "$w->{project}": the project does not exist/, qr/Check the project name/);
	is( count_where(
			"peering.events WHERE connection_id = $id AND message LIKE '%retrying (%'"),
		'0',
		'unknown project, step: not retried');
	fake_clear_faults();
	$node->safe_psql('postgres', "SELECT peering_retry($id)");
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'unknown project, step: peering_retry recovers');
	delete_connection($id, 'unknown project');
}

# --- Aiven: a token whose user is not a member of the project.
{
	my ($state, $err) = sql_error($node,
		'SELECT * FROM peering_create('
		  . create_args(project => $w->{other_project}) . ')');
	is($state, '42501', 'not a member: SQLSTATE 42501');
	like($err, qr/the token's user is not a member of the project/, 'not a member: message');
	like($err, qr/Not a project member/, 'not a member: Aiven\'s words in the detail');
	like($err, qr/HINT:.*role admin or operator/, 'not a member: hint names the roles');
}

# --- Aiven: 409 for a project VPC still being built is retried.
{
	my $seq = request_seq();
	my $msg = "Project VPC $w->{project_vpc_id} is in state APPROVED, not ACTIVE";
	fake_fault(
		{
			method => 'POST',
			path => '/aiven/v1/project/.*/peering-connections$',
			status => 409,
			body => { errors => [ { message => $msg, status => 409 } ], message => $msg },
			count => 1
		});
	my $id = create_connection($node);
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'VPC still APPROVED: ACTIVE');
	is( count_where(
			"peering.events WHERE connection_id = $id AND kind = 'error'"
			  . " AND message LIKE '%retrying (transient) until%'"
			  . " AND message LIKE '%the project VPC is not active yet%'"),
		'1',
		'VPC still APPROVED: retried as transient, once');
	my @posts = grep { $_->{method} eq 'POST' && $_->{path} =~ /peering-connections$/ }
	  @{ requests_since($seq) };
	is(join(',', map { $_->{status} } @posts), '409,200', 'VPC still APPROVED: POSTed again after the 409');
	fake_clear_faults();
	delete_connection($id, 'VPC still APPROVED');
}

# --- Azure Policy denies the peering PUT: never retried, the hint names
# the assignment.
{
	fake_seed(
		{
			policy_denials => [
				{
					scope => $vnet_scope,
					resource_type => 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings',
					assignment_name => 'deny-vnet-peering',
					display_name => 'No VNet peering in production'
				}
			]
		});
	my $seq = request_seq();
	my $id = create_connection($node);
	stops_with($id, 'policy', '42501 RequestDisallowedByPolicy',
		qr/denied by Azure Policy/,
		qr/The Azure Policy assignment "deny-vnet-peering" denies it, so it is not retried/);
	my @puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ /virtualNetworkPeerings/ }
	  @{ requests_since($seq) };
	is(join(',', map { $_->{status} } @puts), '403', 'policy: the PUT was sent once');
	fake_seed({ remove_policy_denials => [ { assignment_name => 'deny-vnet-peering' } ] });
	$node->safe_psql('postgres', "SELECT peering_retry($id)");
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'policy: peering_retry recovers');
	delete_connection($id, 'policy');
}

# --- A CanNotDelete lock on the resource group stops the teardown; the hint
# names the locked scope.
{
	my $id = create_connection($node);
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'lock: ACTIVE');
	fake_seed({ locks => [ { scope => $rg_scope, level => 'CanNotDelete', name => 'keep-rg' } ] });
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	stops_with($id, 'lock', '55006 ScopeLocked',
		qr/the scope is locked/,
		qr/The scope "\Q$rg_scope\E" is locked, so this is not retried: remove the lock.*az lock delete.*peering_retry/
	);
	fake_seed({ remove_locks => [ { name => 'keep-rg' } ] });
	$node->safe_psql('postgres', "SELECT peering_retry($id)");
	is(wait_for_step($node, $id, 'deleted', 60), 'deleted', 'lock: peering_retry finishes the teardown');
}

# --- Aiven answers state_info null for existing connections.
{
	# from PENDING_PEER on: the extension keeps what it learned and goes on
	fake_seed({ settings => { aiven_activate_seconds => 3600 } });
	my $id = create_connection($node);
	is(wait_for_step($node, $id, 'aiven_active', 60), 'aiven_active',
		'state_info null after PENDING_PEER: waiting for ACTIVE');
	my $before = conn($node, $id);
	fake_seed({ settings => { aiven_null_state_info => JSON::PP::true } });
	my $seq = request_seq();
	ok(wait_for_request($seq, sub { $_[0]{method} eq 'GET' && $_[0]{path} =~ $aiven_vpc }),
		'state_info null after PENDING_PEER: the VPC was read with state_info null');
	fake_seed({ settings => { aiven_activate_seconds => 0 } });
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'state_info null after PENDING_PEER: ACTIVE');
	my $row = conn($node, $id);
	is_deeply([ @$row{qw(to_tenant_id to_network_id)} ],
		[ @$before{qw(to_tenant_id to_network_id)} ],
		'state_info null after PENDING_PEER: tenant and network kept');
	ok(defined $row->{to_tenant_id}, 'state_info null after PENDING_PEER: tenant known');
	delete_connection($id, 'state_info null after PENDING_PEER');

	# from the start: the provider's tenant and network are never told; the
	# step waits for them, without failing
	$id = create_connection($node);
	is(wait_for_step($node, $id, 'aiven_pending', 60), 'aiven_pending',
		'state_info null from the start: at aiven_pending');
	$seq = request_seq();
	for (1 .. 2)
	{
		my $r = wait_for_request($seq, sub { $_[0]{method} eq 'GET' && $_[0]{path} =~ $aiven_vpc });
		$seq = $r->{seq} if $r;
	}
	$row = conn($node, $id);
	is_deeply([ $row->{step}, $row->{failed} ? 'failed' : 'not failed', $row->{state} ],
		[ 'aiven_pending', 'not failed', 'PENDING_PEER' ],
		'state_info null from the start: waits at aiven_pending, PENDING_PEER recorded')
	  or diag explain $row;
	ok(!defined $row->{to_network_id}, 'state_info null from the start: no network invented');
	fake_seed({ settings => { aiven_null_state_info => JSON::PP::false } });
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE',
		'state_info null from the start: ACTIVE once Aiven tells');
	delete_connection($id, 'state_info null from the start');
}

done_testing();
