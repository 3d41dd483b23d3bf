# What a peering_create and a peering_status(id) refresh ask of the remote
# services does not depend on how many peerings exist: the same requests
# with none and with 1,000 ACTIVE peerings in the cloud and in the catalog.
# The pre-flight's reads go out together, and creates in one transaction
# share what they read of a subscription and a VNet.  The fake holds a VNet
# to Azure's 500 peerings: the 501st is refused and the connection says why.
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
my $node = new_node('scale');
fake_seed({ settings => { page_size => 1000 } });

my $vpcs_per_vnet = 500;    # Azure's limit of peerings per VNet
fake_seed({
	vnets => [
		map { { resource_group => 'rg-mesh', name => "vnet-mesh-$_",
				address_prefixes => ['10.' . (20 + $_) . '.0.0/16'] } } 0 .. 1
	]
});
# each project VPC its own /24, none overlapping a VNet
my @mesh_vpcs = map { $_->{project_vpc_id} } @{
	fake_seed({ aiven_vpcs => [ { network_cidr => '10.100.0.0/24', count => $vpcs_per_vnet } ] })
	  ->{aiven_vpcs} };
my ($new_vpc, $over_limit_vpc) = map { $_->{project_vpc_id} } @{
	fake_seed({ aiven_vpcs => [ { network_cidr => '10.200.0.0/24', count => 2 } ] })->{aiven_vpcs} };

# The requests of one statement in a new session, summed up by kind.
sub requests_of
{
	my ($sql) = @_;
	my $seq = request_seq();
	$node->safe_psql('postgres', $sql);
	return summarize_requests(requests_since($seq));
}

my $create = 'SELECT FROM peering_create('
  . create_args(project_vpc_id => $new_vpc, resource_group => 'rg-mesh', vnet_name => 'vnet-mesh-0')
  . ');';
my $create_twice = "BEGIN;\n$create\n"
  . 'SELECT FROM peering_create('
  . create_args(project_vpc_id => $over_limit_vpc, resource_group => 'rg-mesh', vnet_name => 'vnet-mesh-0')
  . ");\nROLLBACK;";

# One committed connection to refresh, ACTIVE before the world grows.
my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'a connection to refresh is ACTIVE');
my $refresh = "SELECT FROM peering_status($id, refresh => true);";

my %before = (
	create => requests_of("BEGIN;\n$create\nROLLBACK;"),
	create_twice => requests_of($create_twice),
	refresh => requests_of($refresh));
like($before{create}, qr{^\s+1  GET /arm/subscriptions/\{id\}/resourceGroups/rg-mesh/providers/Microsoft\.Network/virtualNetworks/vnet-mesh-0 -> 200$}m,
	'a create reads its VNet once');
unlike($before{create}, qr{virtualNetworkPeerings -> }, 'and lists no VNet\'s peerings');
like($before{create_twice}, qr{^\s+2  GET /aiven/v1/project/[^/]+/vpcs/\{id\} -> 200$}m,
	'two creates in a transaction read their own project VPCs');
like($before{create_twice}, qr{^\s+1  GET /arm/subscriptions -> 200$}m,
	'and the subscriptions once between them');
like($before{refresh}, qr{^\s+1  GET /aiven/v1/project/[^/]+/vpcs/\{id\} -> 200$}m,
	'a refresh reads its project VPC');

# 1,000 ACTIVE peerings: each mesh VNet with all 500 project VPCs, and
# their rows in the catalog, as a lifecycle leaves them.
my @specs;
for my $j (0 .. 1)
{
	push @specs,
	  map { { project_vpc_id => $mesh_vpcs[$_], subscription => $w->{subscription_id},
			  resource_group => 'rg-mesh', vnet => "vnet-mesh-$j", peering_name => "to-vpc-$_" } }
	  0 .. $#mesh_vpcs;
}
my @rows;
while (my @chunk = splice(@specs, 0, 250))
{
	my $seeded = fake_seed({ active_peerings => \@chunk })->{active_peerings};
	for my $i (0 .. $#chunk)
	{
		my ($spec, $s) = ($chunk[$i], $seeded->[$i]);
		(my $vnet_id = $s->{peering_id}) =~ s{/virtualNetworkPeerings/.*}{};
		push @rows, "('$w->{project}', '$spec->{project_vpc_id}', '$w->{subscription_id}', 'rg-mesh', "
		  . "'$spec->{vnet}', '$spec->{peering_name}', 'azure', 'aiven', '$w->{tenant_id}', '$vnet_id', "
		  . "'$s->{app_id}', '$s->{to_tenant_id}', '$s->{to_network_id}', '$s->{peering_id}', "
		  . "'ACTIVE', 'Connected', 'active', now(), now(), now() + interval '1 day')";
	}
}
$node->safe_psql('postgres', q{
INSERT INTO peering.connections (project, project_vpc_id, subscription_id, resource_group, vnet_name,
	peering_name, azure_credential, aiven_credential, tenant_id, vnet_id, app_id, to_tenant_id,
	to_network_id, azure_peering_id, state, azure_peering_state, step, active_since, checked_at,
	next_attempt_at)
VALUES } . join(",\n", @rows) . q{;
ANALYZE peering.connections;});
is($node->safe_psql('postgres',
		"SELECT count(*) FROM peering.connections WHERE state = 'ACTIVE' AND vnet_name LIKE 'vnet-mesh-%'"),
	'1000', '1,000 ACTIVE peerings in the catalog');
is(scalar(@{ vnet_of(fake_world(), "/subscriptions/$w->{subscription_id}/resourceGroups/rg-mesh/providers/Microsoft.Network/virtualNetworks/vnet-mesh-0")->{peerings} }),
	$vpcs_per_vnet, 'and vnet-mesh-0 holds 500 of them');

my %after = (
	create => requests_of("BEGIN;\n$create\nROLLBACK;"),
	create_twice => requests_of($create_twice),
	refresh => requests_of($refresh));
for my $what (sort keys %before)
{
	is($after{$what}, $before{$what}, "$what: the same requests next to 1,000 peerings")
	  or diag("with none:\n$before{$what}\nwith 1,000:\n$after{$what}");
}

# The 501st peering of vnet-mesh-0: the pre-flight cannot know the limit
# (Azure publishes no count of a VNet's peerings short of listing them), so
# the worker's PUT is refused and the connection stops with Azure's answer.
my $over = $node->safe_psql('postgres',
	'SELECT id FROM peering_create('
	  . create_args(project_vpc_id => $over_limit_vpc, resource_group => 'rg-mesh', vnet_name => 'vnet-mesh-0')
	  . ')');
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $over")
  or diag('connection ' . $over . ' did not fail');
my $row = conn($node, $over);
is($row->{step}, 'azure_peering', 'the 501st peering of a VNet stops at the Azure peering');
like($row->{last_error} // '', qr/the virtual network has as many peerings as Azure allows.*500 peerings per virtual network/,
	'and its error says the VNet is at its limit, and what to do');
like($row->{last_error_code} // '', qr/^53400 PeeringLimitExceeded$/, 'with Azure\'s code');
is(scalar(grep { $_->{owner} eq 'customer' } @{ vnet_of(fake_world(), "/subscriptions/$w->{subscription_id}/resourceGroups/rg-mesh/providers/Microsoft.Network/virtualNetworks/vnet-mesh-0")->{peerings} }),
	$vpcs_per_vnet, 'the VNet still holds 500 peerings');

done_testing();
