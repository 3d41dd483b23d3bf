# Each non-happy answer of the catalogue (test/fakecloud/README.md) that the
# fake serves as a fault preset, injected into a lifecycle: the extension
# either retries it in the right class (transient, replication, throttling)
# and reaches ACTIVE, or stops with the SQLSTATE and hint of its rule, and
# peering_retry() recovers once the cause is gone.
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
my $node = new_node('errors');

my %path = (
	sp_upsert => '/graph/v1\.0/servicePrincipals\(appId=',
	add_password => '/addPassword$',
	app_upsert => '/graph/v1\.0/applications\(uniqueName=',
	role_assignment => '/roleAssignments/',
	role_definition => '/roleDefinitions/',
	peering => '/virtualNetworkPeerings/',
	# the application's token in the provider's tenant: never the admin's
	provider_token => "/login/$w->{provider_tenant_id}/oauth2/v2\\.0/token\$",
	aiven_vpc => '/aiven/v1/project/[^/]+/vpcs/[^/]+$',
	aiven_post => '/aiven/v1/project/.*/peering-connections$',
	operation => '/operations/');

# [preset, method, path key, expected outcome]
#   inplace             retried within the request (429, 5xx on a request
#                       that may be repeated), then ACTIVE: no error event
#   retry:CLASS         retried by the step in that class, then ACTIVE
#   fail:SQLSTATE:REGEX stops with that SQLSTATE, last_error matching REGEX
my @cases = (
	[ 'NoBackingApplicationObject', 'PATCH', 'sp_upsert', 'retry:replication' ],
	[ 'NoBackingApplicationObjectLegacy', 'PATCH', 'sp_upsert', 'retry:replication' ],
	[ 'GraphReplicationNotFound', 'POST', 'add_password', 'retry:replication' ],
	[ 'GraphFailedDependency', 'PATCH', 'sp_upsert', 'retry:transient' ],
	[ 'GraphThrottled', 'POST', 'add_password', 'retry:throttling' ],
	[ 'GraphServiceNotAvailable', 'PATCH', 'app_upsert', 'inplace' ],
	[ 'AuthorizationRequestDenied', 'PATCH', 'app_upsert', 'fail:42501:Application\.ReadWrite\.All' ],
	[ 'RoleDefinitionDoesNotExist', 'PUT', 'role_assignment', 'retry:replication' ],
	[ 'PrincipalNotFound', 'PUT', 'role_assignment', 'retry:replication' ],
	[ 'ArmThrottled', 'PUT', 'role_definition', 'inplace' ],
	[ 'ArmInternalError', 'PUT', 'role_definition', 'inplace' ],
	[ 'ArmNotImplemented', 'PUT', 'role_definition', 'inplace' ],
	[ 'ReferencedResourceNotProvisioned', 'PUT', 'peering', 'retry:transient' ],
	[ 'AnotherOperationInProgress', 'PUT', 'peering', 'retry:transient' ],
	[ 'RetryableErrorDueToAnotherOperation', 'PUT', 'peering', 'inplace' ],
	[ 'AuthorizationFailed', 'PUT', 'peering', 'retry:replication' ],
	[ 'LinkedAuthorizationFailed', 'PUT', 'peering', 'retry:replication' ],
	[ 'RemotePeeringIsDisconnected', 'PUT', 'peering', 'fail:55000:request the Aiven connection again' ],
	[ 'VnetAddressSpaceOverlapsWithAlreadyPeeredVnet', 'PUT', 'peering', 'fail:22023:overlaps neither' ],
	[ 'InvalidClientSecret', 'POST', 'provider_token', 'retry:replication' ],
	[ 'ApplicationNotFoundInTenant', 'POST', 'provider_token', 'retry:replication' ],
	[ 'AivenServiceUnavailable', 'GET', 'aiven_vpc', 'inplace' ],
	[ 'AivenServiceUnavailable', 'POST', 'aiven_post', 'retry:transient' ],
	[ 'AivenConflict', 'POST', 'aiven_post', 'retry:transient' ]);

sub run_case
{
	my ($preset, $method, $where, $expect) = @_;
	my $label = "$preset on $method $where";
	my ($kind, $class_or_state, $pattern) = split /:/, $expect, 3;

	fake_clear_faults();
	my $seq = request_seq();
	fake_fault(
		{
			method => $method,
			path => $path{$where},
			preset => $preset,
			count => $kind eq 'fail' ? 1000 : 1
		});
	my $id = create_connection($node);
	if ($kind eq 'inplace')
	{
		is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', "$label: ACTIVE");
		my @tries = grep { $_->{method} eq $method && $_->{path} =~ /$path{$where}/ }
		  @{ requests_since($seq) };
		ok(@tries >= 2 && $tries[0]{status} != 200 && $tries[0]{status} >= 429,
			"$label: the refused request was sent again at once");
		is( $node->safe_psql(
				'postgres',
				"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = 'error'"),
			'0',
			"$label: no error recorded");
	}
	elsif ($kind eq 'retry')
	{
		is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', "$label: ACTIVE");
		is( $node->safe_psql(
				'postgres',
				"SELECT count(*) > 0 FROM peering.events WHERE connection_id = $id"
				  . " AND kind = 'error' AND message LIKE '%retrying ($class_or_state) until%'"),
			't',
			"$label: retried as $class_or_state");
	}
	else
	{
		$node->poll_query_until('postgres',
			"SELECT failed FROM peering.connections WHERE id = $id")
		  or diag("$label: the connection did not stop");
		my $row = conn($node, $id);
		like($row->{last_error_code} // '', qr/^$class_or_state\b/,
			"$label: stops with SQLSTATE $class_or_state");
		like($row->{last_error} // '', qr/$pattern/, "$label: with the hint");
		fake_clear_faults();
		$node->safe_psql('postgres', "SELECT peering_retry($id)");
		is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE',
			"$label: peering_retry recovers once the cause is gone");
	}
	fake_clear_faults();
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	is(wait_for_step($node, $id, 'deleted', 60), 'deleted', "$label: deleted");
	return;
}

run_case(@$_) for @cases;

# An operation ARM reports as Cancelled (spelled either way) makes the
# extension PUT the peering once more.
for my $spelling ('Canceled', 'Cancelled')
{
	fake_clear_faults();
	fake_fault(
		{
			method => 'GET',
			path => $path{operation},
			status => 200,
			body => { status => $spelling },
			count => 1
		});
	my $id = create_connection($node);
	is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', "operation $spelling: ACTIVE");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) > 0 FROM peering.events WHERE connection_id = $id"
			  . " AND message LIKE '%operation creating peering % ended $spelling; put the peering once more%'"),
		't',
		"operation $spelling: the peering is PUT once more");
	$node->safe_psql('postgres', "SELECT peering_delete($id)");
	is(wait_for_step($node, $id, 'deleted', 60), 'deleted', "operation $spelling: deleted");
}

done_testing();
