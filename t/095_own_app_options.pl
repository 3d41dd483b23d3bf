# Bring your own application (app_credential): a lifecycle and teardown that
# use an existing multi-tenant application and leave it, its service
# principal and its secrets as they were; a single-tenant one is refused.
# The Azure peering's options are written into the peering.
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
my $node = new_node('own_app');
my $graph = admin_token('graph');

# An application made by hand, as an administrator would, with a secret.
sub make_app
{
	my ($unique, $audience) = @_;
	my ($status, $app) = cloud_http(
		'PATCH', "/graph/v1.0/applications(uniqueName='$unique')",
		token => $graph,
		headers => ['Prefer: create-if-missing'],
		body => { displayName => $unique, signInAudience => $audience });
	die "application: HTTP $status" unless $status == 201;
	($status) = cloud_http(
		'PATCH', "/graph/v1.0/servicePrincipals(appId='$app->{appId}')",
		token => $graph,
		headers => ['Prefer: create-if-missing'],
		body => {});
	die "service principal: HTTP $status" unless $status == 201;
	my ($st, $pw) = cloud_http(
		'POST', "/graph/v1.0/applications/$app->{id}/addPassword",
		token => $graph,
		body => { passwordCredential => { displayName => 'by hand' } });
	die "password: HTTP $st" unless $st == 200;
	my $file = PostgreSQL::Test::Utils::tempdir() . "/$unique.secret";
	open(my $fh, '>', $file) or die "$file: $!";
	print $fh $pw->{secretText};
	close $fh;
	chmod 0600, $file;
	$node->safe_psql('postgres',
		"SELECT peering_credential_set('$unique', 'azure_client_secret', secret_file => '$file',"
		  . " tenant_id => '$w->{tenant_id}', client_id => '$app->{appId}')");
	return $app;
}

sub app_in_world
{
	my ($app_id) = @_;
	my ($app) = grep { $_->{appId} eq $app_id } @{ fake_world()->{applications} };
	return $app;
}

my $own = make_app('byo-peering-app', 'AzureADMultipleOrgs');
my $before = app_in_world($own->{appId});
my @sp_before = @{ sps_of_app(fake_world(), $own->{appId}, $w->{tenant_id}) };
is(scalar @{ $before->{passwordCredentials} }, 1, 'the own application has its one secret');

my $id = $node->safe_psql('postgres',
	'SELECT id FROM peering_create(' . create_args() . ", app_credential => 'byo-peering-app',"
	  . ' allow_forwarded_traffic => true, use_remote_gateways => false)');
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'a peering with the own application is ACTIVE');
my $row = conn($node, $id);
is($row->{app_id}, $own->{appId}, 'it uses the own application');
my ($drop_state, $drop_err) = sql_error($node, "SELECT peering_credential_drop('byo-peering-app')");
is($drop_state, '2BP01', 'the application\'s credential cannot be dropped while the peering uses it');
like($drop_err, qr/used by peering connection $id/, 'and the error names the connection');
is(scalar @{ our_apps(fake_world()) }, 0, 'the extension created no application');
my ($peering) = @{ customer_peerings(fake_world(), $w->{vnet_name}) };
ok($peering->{allowForwardedTraffic}, 'the Azure peering allows forwarded traffic, as asked');
ok(!$peering->{allowGatewayTransit} && !$peering->{useRemoteGateways},
	'and no gateway options, as asked');
ok((grep { lc($_->{principalId}) eq lc($sp_before[0]{id}) }
		@{ role_assignments_on(fake_world(), $row->{vnet_id}) }),
	'the own application\'s service principal holds a role on the VNet');

$node->safe_psql('postgres', "SELECT peering_delete($id)");
is(wait_for_step($node, $id, 'deleted', 60), 'deleted', 'the peering is deleted');
my $after = app_in_world($own->{appId});
ok($after, 'the own application still exists');
is_deeply([ map { $_->{keyId} } @{ $after->{passwordCredentials} } ],
	[ map { $_->{keyId} } @{ $before->{passwordCredentials} } ],
	'with its secrets untouched');
is_deeply([ map { $_->{id} } @{ sps_of_app(fake_world(), $own->{appId}, $w->{tenant_id}) } ],
	[ map { $_->{id} } @sp_before ], 'and its service principal');
ok(!(grep { lc($_->{principalId}) eq lc($sp_before[0]{id}) }
		@{ role_assignments_on(fake_world(), $row->{vnet_id}) }),
	'the role assignment the extension made for it is gone');

# A single-tenant application cannot be peered from the provider's tenant.
make_app('byo-single-tenant', 'AzureADMyOrg');
my ($state, $err) = sql_error($node,
	'SELECT peering_create(' . create_args() . ", app_credential => 'byo-single-tenant')");
is($state, '22023', 'a single-tenant own application is refused');
like($err, qr/not multi-tenant.*HINT:.*AzureADMultipleOrgs/s, 'with a hint');

done_testing();
