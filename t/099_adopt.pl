# peering_adopt(): a peering made by hand with the manual procedure (through
# the fake's HTTP API, as an administrator with az and avn would) is taken
# over without creating anything; peering_delete of it removes the Azure
# peering and the Aiven connection and nothing the extension did not make.
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
my $node = new_node('adopt', conf => "peering.recheck_interval = '1s'\n");
my $graph = admin_token('graph');
my $arm = admin_token('arm');
my $aiven_token = slurp_file($w->{aiven_token_file});
$aiven_token =~ s/\s+\z//;
my $vpc_path = "/aiven/v1/project/$w->{project}/vpcs/$w->{project_vpc_id}";

sub call_ok
{
	my ($what, $want, @call) = @_;
	my ($status, $body) = cloud_http(@call);
	die "$what: HTTP $status" unless grep { $status == $_ } @$want;
	return $body;
}

sub aiven_connection_by_hand
{
	my $vpc = call_ok('VPC', [200], 'GET', $vpc_path,
		headers => ["Authorization: aivenv1 $aiven_token"]);
	my ($c) = grep { $_->{peer_vpc} eq lc($w->{vnet_name}) && $_->{state} ne 'DELETED' }
	  @{ $vpc->{peering_connections} };
	return $c;
}

# --- the manual procedure ---------------------------------------------
my $app = call_ok('application', [201], 'PATCH',
	"/graph/v1.0/applications(uniqueName='made-by-hand')",
	token => $graph, headers => ['Prefer: create-if-missing'],
	body => { displayName => 'made by hand', signInAudience => 'AzureADMultipleOrgs' });
my $sp = call_ok('its service principal', [201], 'PATCH',
	"/graph/v1.0/servicePrincipals(appId='$app->{appId}')",
	token => $graph, headers => ['Prefer: create-if-missing'], body => {});
my $secret = call_ok('secret', [200], 'POST', "/graph/v1.0/applications/$app->{id}/addPassword",
	token => $graph, body => { passwordCredential => { displayName => 'by hand' } })->{secretText};
call_ok('provider service principal', [201, 204], 'PATCH',
	"/graph/v1.0/servicePrincipals(appId='$w->{provider_app_id}')",
	token => $graph, headers => ['Prefer: create-if-missing'], body => {});
my $provider_sp = call_ok('provider service principal', [200], 'GET',
	"/graph/v1.0/servicePrincipals(appId='$w->{provider_app_id}')", token => $graph);
sub grant_network_contributor
{
	my ($name, $principal) = @_;
	call_ok('grant', [201], 'PUT',
		"/arm$w->{vnet_id}/providers/Microsoft.Authorization/roleAssignments/$name?api-version=2022-04-01",
		token => $arm,
		body => {
			properties => {
				roleDefinitionId => "/subscriptions/$w->{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/$w->{network_contributor_role_id}",
				principalId => $principal,
				principalType => 'ServicePrincipal'
			}
		});
	return $name;
}
my $app_grant = grant_network_contributor('0b5c7a2e-1111-4222-8333-444455556665', $sp->{id});
my $grant = grant_network_contributor('0b5c7a2e-1111-4222-8333-444455556666', $provider_sp->{id});
call_ok('Aiven connection', [200, 201], 'POST', "$vpc_path/peering-connections",
	headers => ["Authorization: aivenv1 $aiven_token"],
	body => {
		peer_cloud_account => $w->{subscription_id},
		peer_resource_group => lc($w->{resource_group}),
		peer_vpc => lc($w->{vnet_name}),
		peer_azure_app_id => $app->{appId},
		peer_azure_tenant_id => $w->{tenant_id}
	});
my $conn;
ok(poll_until(30, sub { $conn = aiven_connection_by_hand(); $conn && $conn->{state} eq 'PENDING_PEER' }),
	'by hand: the Aiven connection is PENDING_PEER');
my %app_token;
for my $tenant ($w->{tenant_id}, $conn->{state_info}{'to-tenant-id'})
{
	$app_token{$tenant} = call_ok("app token in $tenant", [200], 'POST',
		"/login/$tenant/oauth2/v2.0/token",
		form => {
			grant_type => 'client_credentials',
			client_id => $app->{appId},
			client_secret => $secret,
			scope => 'https://management.azure.com/.default'
		})->{access_token};
}
call_ok('Azure peering', [200, 201], 'PUT',
	"/arm$w->{vnet_id}/virtualNetworkPeerings/made-by-hand?api-version=2024-05-01",
	token => $app_token{ $w->{tenant_id} },
	headers => ["x-ms-authorization-auxiliary: Bearer $app_token{ $conn->{state_info}{'to-tenant-id'} }"],
	body => {
		properties => {
			allowVirtualNetworkAccess => JSON::PP::true,
			remoteVirtualNetwork => { id => $conn->{state_info}{'to-network-id'} }
		}
	});
ok(poll_until(30, sub { (aiven_connection_by_hand() // {})->{state} eq 'ACTIVE' }),
	'by hand: the peering is ACTIVE');

# --- adoption -----------------------------------------------------------
sub adopt_sql
{
	my ($vnet, $peering_name) = @_;
	return "SELECT id FROM peering_adopt('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',"
	  . " '$w->{resource_group}', '$vnet'"
	  . (defined $peering_name ? ", peering_name => '$peering_name'" : '') . ')';
}

sub rows_in_table
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections');
}

# The project VPC as Aiven answers, our connection's state_info replaced:
# the fake answers that for a while (a fault with a crafted body).
sub aiven_says_state_info
{
	my ($info) = @_;
	my $vpc = call_ok('VPC', [200], 'GET', $vpc_path,
		headers => ["Authorization: aivenv1 $aiven_token"]);
	for my $c (@{ $vpc->{peering_connections} })
	{
		$c->{state_info} = $info
		  if $c->{peer_vpc} eq lc($w->{vnet_name}) && $c->{state} ne 'DELETED';
	}
	fake_fault({ method => 'GET', path => "/vpcs/$w->{project_vpc_id}\$", status => 200,
		body => $vpc, count => 1000 });
	return;
}

my ($state, $err) = sql_error($node, adopt_sql($w->{second_vnet_name}));
is($state, '42704', 'nothing to adopt on another VNet: SQLSTATE 42704');
like($err, qr/nothing to adopt/, 'and it says so');

# Aiven's ACTIVE connection does not name the provider's VNet: no guess.
($state, $err) = sql_error($node, adopt_sql($w->{vnet_name}));
is($state, '22004', 'without Aiven\'s to-network-id, adoption needs peering_name');
like($err,
	qr/HINT:\s+Pass peering_name => '<name>' naming the peering to the provider's VNet; the peerings of virtual network "vnet-app" to other subscriptions are: made-by-hand\./,
	'the hint lists the VNet\'s peerings to other subscriptions and how to name one');
is(rows_in_table(), '0', 'and no row is written');

($state, $err) = sql_error($node, adopt_sql($w->{vnet_name}, 'no-such-peering'));
is($state, '42704', 'a peering_name the VNet has no peering of: SQLSTATE 42704');
like($err, qr/virtual network "vnet-app" has no peering "no-such-peering"/, 'naming it');

# A peering within the VNet's own subscription is not the provider's.
my $second_vnet_id = $w->{vnet_id} =~ s/\Q$w->{vnet_name}\E$/$w->{second_vnet_name}/r;
call_ok('a peering to another VNet of the subscription', [200, 201], 'PUT',
	"/arm$w->{vnet_id}/virtualNetworkPeerings/to-app2?api-version=2024-05-01",
	token => $arm,
	body => {
		properties => {
			allowVirtualNetworkAccess => JSON::PP::true,
			remoteVirtualNetwork => { id => $second_vnet_id }
		}
	});
($state, $err) = sql_error($node, adopt_sql($w->{vnet_name}, 'to-app2'));
is($state, '22023', 'a peering_name leading within the subscription: SQLSTATE 22023');
like($err, qr/peering "to-app2" of virtual network "vnet-app" does not lead to another subscription/,
	'it is not the provider\'s');
remove_customer_peering('to-app2');

# Aiven names another VNet than the named peering leads to.
my $elsewhere = "/subscriptions/$w->{provider_subscription_id}/resourceGroups/rg-other/providers/Microsoft.Network/virtualNetworks/vnet-other";
aiven_says_state_info(
	{
		message => 'Peering connection active',
		type => 'azure-vnet-peering-active',
		'to-tenant-id' => $w->{provider_tenant_id},
		'to-network-id' => $elsewhere
	});
($state, $err) = sql_error($node, adopt_sql($w->{vnet_name}, 'made-by-hand'));
fake_clear_faults();
is($state, '22023', 'a peering_name not leading to the VNet Aiven names: SQLSTATE 22023');
like($err, qr/HINT:\s+Peering "made-by-hand" leads to \Q$w->{provider_vnet_id}\E, but Aiven names the provider's VNet \Q$elsewhere\E/i,
	'the hint names both VNets');

# Aiven's API answers "state_info": null for existing connections: the
# provider's VNet is the named peering's remote VNet, and its tenant the one
# ARM names for that VNet's subscription.
aiven_says_state_info(undef);
($state, $err) = sql_error($node, adopt_sql($w->{vnet_name}));
is($state, '22004', 'state_info null: adoption needs peering_name');
my $seq = request_seq();
my $id = $node->safe_psql('postgres', adopt_sql($w->{vnet_name}, 'made-by-hand'));
my $requests = requests_since($seq);
fake_clear_faults();
is_deeply([ map { "$_->{method} $_->{path}" } @{ mutating_requests($requests) } ],
	[], 'peering_adopt created nothing');
ok((grep { $_->{method} eq 'GET' && ($_->{status} // 0) == 401
		  && $_->{path} =~ m{^/arm/subscriptions/\Q$w->{provider_subscription_id}\E$}i } @$requests),
	'it asked ARM for the subscription of the provider\'s VNet, which named its tenant');
my $row = conn($node, $id);
is($row->{state}, 'ACTIVE', 'the adopted peering is recorded ACTIVE');
is($row->{step}, 'active', 'and is re-checked like any other');
is($row->{peering_name}, 'made-by-hand', 'with the Azure peering found');
is($row->{app_id}, $app->{appId}, 'and the application it uses');
is(lc $row->{to_network_id}, lc $w->{provider_vnet_id}, 'the provider\'s VNet is the peering\'s remote VNet');
is($row->{to_tenant_id}, $w->{provider_tenant_id}, 'and the provider\'s tenant is known');
ok(!defined $row->{app_role_assignment_id} && !defined $row->{peer_role_assignment_id}
	  && !defined $row->{app_object_id},
	'nothing of it is recorded as the extension\'s');

($state) = sql_error($node,
	"SELECT peering_adopt('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',"
	  . " '$w->{resource_group}', '$w->{vnet_name}')");
is($state, '42710', 'adopting it twice is refused');

# --- the provider's VNet grows: watched, not written ----------------------
reload_with($node, 'peering.auto_repair', 'on');
$seq = request_seq();
grow_vnet($w->{provider_vnet_id}, '10.213.5.0/24');
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the stale adopted peering did not stop');
$row = conn($node, $id);
is($row->{azure_sync_level}, 'LocalNotInSync', 'the adopted peering is LocalNotInSync');
like($row->{last_error},
	qr/watched, not written: sync it with az network vnet peering sync --resource-group \Q$w->{resource_group}\E --vnet-name \Q$w->{vnet_name}\E --name made-by-hand/,
	'it stops with the command that syncs it, even with auto repair on');
is_deeply([ map { "$_->{method} $_->{path}" } @{ mutating_requests(requests_since($seq)) } ],
	[], 'and nothing was written');

# --- teardown of what was adopted ----------------------------------------
$node->safe_psql('postgres', "SELECT peering_delete($id)");
is(wait_for_step($node, $id, 'deleted', 60), 'deleted', 'the adopted peering is deleted');
my $world = fake_world();
is(scalar @{ customer_peerings($world, $w->{vnet_name}) }, 0, 'the Azure peering is gone');
is(scalar @{ aiven_connections($world, $w->{vnet_name}, 1) }, 0, 'the Aiven connection is gone');
my ($still) = grep { $_->{appId} eq $app->{appId} } @{ $world->{applications} };
ok($still, 'the hand-made application is kept');
is(scalar @{ $still->{passwordCredentials} // [] }, 1, 'with its secret');
is(scalar @{ sps_of_app($world, $app->{appId}, $w->{tenant_id}) }, 1, 'and its service principal');
ok((grep { $_->{name} eq $grant } @{ $world->{roleAssignments} }),
	'the provider\'s role assignment made by hand is kept');
ok((grep { $_->{name} eq $app_grant } @{ $world->{roleAssignments} }),
	'and the application\'s');

done_testing();
