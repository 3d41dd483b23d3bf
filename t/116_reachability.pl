# Whether the customer's VNet reaches the services of the project VPC:
#  - a service whose IP filter admits none of the VNet's prefixes is named
#    in unreachable_services, with a reachability event and a hint in
#    peering.progress;
#  - with open_ip_filter the extension adds entries of its own (the VNet's
#    prefixes and user_peer_network_cidrs), follows the VNet's address
#    space, removes them when open_ip_filter turns false and at the
#    teardown, keeping every other entry byte for byte; services that need
#    no change and services of other VPCs are never written;
#  - a grown customer VNet (RemoteNotInSync) is followed by one refresh
#    call to Aiven and FullyInSync.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
use strict;
use warnings FATAL => 'all';
use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use PeeringTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $w = start_fake();
my $json = JSON::PP->new->canonical;
my $other_vpc = fake_seed(
	{
		aiven_vpcs => [
			{ cloud_name => 'azure-westeurope', network_cidr => '10.250.0.0/24' }
		]
	})->{aiven_vpcs}[0]{project_vpc_id};
my @closed_filter =
  ('192.168.1.0/24', { network => '203.0.113.0/24', description => 'office' });
fake_seed(
	{
		aiven_services => [
			{
				service_name => 'pg-closed',
				project_vpc_id => $w->{project_vpc_id},
				ip_filter => \@closed_filter
			},
			{ service_name => 'pg-open', project_vpc_id => $w->{project_vpc_id} },
			{
				service_name => 'pg-other',
				project_vpc_id => $other_vpc,
				ip_filter => ['192.168.9.0/24']
			},
		]
	});

open(my $fh, '<', $w->{aiven_token_file}) or die;
chomp(my $aiven_token = <$fh>);
close $fh;

# The services as Aiven answers them, by name.
sub services
{
	my ($status, $out) = cloud_http('GET', "/aiven/v1/project/$w->{project}/service",
		headers => ["Authorization: aivenv1 $aiven_token"]);
	die "services: HTTP $status" unless $status == 200;
	return { map { $_->{service_name} => $_ } @{ $out->{services} } };
}

sub filter_of
{
	return services()->{ $_[0] }{user_config}{ip_filter};
}

sub service_puts
{
	my ($since, $name) = @_;
	return scalar grep {
		$_->{method} eq 'PUT' && $_->{path} =~ m{/service/\Q$name\E$}
	} @{ requests_since($since) };
}

my $node = new_node('reach', conf => "peering.recheck_interval = '1s'\n");
my $start = request_seq();
my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE'), 'ACTIVE', 'the connection reaches ACTIVE');

# ---- A filter that does not admit the VNet.
$node->poll_query_until('postgres',
	"SELECT unreachable_services IS NOT NULL FROM peering.connections WHERE id = $id")
  or diag('unreachable_services not set');
is($node->safe_psql('postgres',
		"SELECT unreachable_services FROM peering.connections WHERE id = $id"),
	'{pg-closed}', 'the service whose filter drops the VNet is named');
sub events_like
{
	my ($kind, $re) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND kind = '$kind' AND message ~ '$re'"
	);
}
is(events_like('reachability', 'pg-closed.*admits none'), 1, 'with a reachability event');
like($node->safe_psql('postgres', "SELECT hint FROM peering.progress WHERE id = $id"),
	qr/service\(s\) pg-closed admits none .*open_ip_filter => true/,
	'peering.progress hints open_ip_filter or the service filter');
is(service_puts($start, $_), 0, "no write to $_ without open_ip_filter")
  for qw(pg-closed pg-open pg-other);

# Requests of one re-check, with services: one Aiven VPC read per re-check
# (one connection) measures how many there were.
sub per_recheck
{
	my $since = request_seq();
	my $checks = $node->safe_psql('postgres', "SELECT checked_at FROM peering.connections WHERE id = $id");
	$node->poll_query_until('postgres',
		"SELECT checked_at > '$checks'::timestamptz + interval '3 s' FROM peering.connections WHERE id = $id")
	  or diag('no re-checks');
	my $reqs = requests_since($since);
	my $rechecks = grep { $_->{method} eq 'GET' && $_->{path} =~ m{/vpcs/[^/]+$} } @$reqs;
	my $new = grep {
		$_->{method} eq 'GET' && ($_->{path} =~ m{/service$} || $_->{path} =~ m{/virtualNetworks/[^/]+$})
	} @$reqs;
	note(summarize_requests($reqs));
	return ($rechecks, scalar(@$reqs), $new);
}
my ($rechecks, $total, $new) = per_recheck();
ok($rechecks > 0, 're-checks counted');
note(sprintf('requests per re-check with services: %.1f (of which %.1f service list and VNet reads, so %.1f without them)',
		$total / $rechecks, $new / $rechecks, ($total - $new) / $rechecks));

# ---- open_ip_filter, switched on by peering_alter.
my $seq = request_seq();
$node->safe_psql('postgres', "SELECT peering_alter($id, open_ip_filter => true)");
$node->poll_query_until('postgres',
	"SELECT unreachable_services = '{}' FROM peering.connections WHERE id = $id")
  or diag('not opened');
my $ours = { network => '10.1.0.0/16', description => "peering connection $id" };
is($json->encode(filter_of('pg-closed')), $json->encode([ @closed_filter, $ours ]),
	'open_ip_filter: an entry of ours is added, the others kept byte for byte');
is(events_like('reachability', 'every service'), 1, 'a reachability event when all are reachable');
is($node->safe_psql('postgres', "SELECT hint FROM peering.progress WHERE id = $id"),
	'', 'no hint once reachable');
is(service_puts($seq, 'pg-closed'), 1, 'one write to the service that needed it');

# The VNet grows: one refresh, FullyInSync, and the new prefix admitted.
$seq = request_seq();
my $cvid = "/subscriptions/$w->{subscription_id}/resourceGroups/$w->{resource_group}"
  . "/providers/Microsoft.Network/virtualNetworks/$w->{vnet_name}";
grow_vnet($cvid, '10.11.0.0/16');
is(customer_peerings(fake_world(), $w->{vnet_name})->[0]{peeringSyncLevel},
	'RemoteNotInSync', "the fake: the customer's peering is RemoteNotInSync");
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM peering.events WHERE connection_id = $id AND message ~ 'in sync again'")
  or diag('not in sync again');
$node->poll_query_until('postgres',
	"SELECT azure_sync_level = 'FullyInSync' AND retry_class IS NULL FROM peering.connections WHERE id = $id")
  or diag('not FullyInSync');
my @refreshes = grep { $_->{method} eq 'POST' && $_->{path} =~ m{/peering-connections/refresh$} }
  @{ requests_since($seq) };
is(scalar @refreshes, 1, 'one refresh call');
my $sync_reqs = requests_since($seq);
note(sprintf("requests from the VNet's growth to FullyInSync (refresh included): %d\n%s",
		scalar(@$sync_reqs), summarize_requests($sync_reqs)));
is(conn($node, $id)->{azure_sync_level}, 'FullyInSync', 'FullyInSync after the refresh');
is(events_like('drift', 'RemoteNotInSync'), 0, 'no drift reported');
ok(!conn($node, $id)->{failed}, 'not failed');
$node->poll_query_until('postgres',
	"SELECT vnet_address_space @> '{10.11.0.0/16}' FROM peering.connections WHERE id = $id")
  or diag('address space not followed');
poll_until(30, sub { scalar(@{ filter_of('pg-closed') }) == 4 })
  or diag('the new prefix was not added');
is($json->encode(filter_of('pg-closed')),
	$json->encode([ @closed_filter, $ours, { network => '10.11.0.0/16', description => "peering connection $id" } ]),
	'the new prefix is added to the filter');

# Routed networks too; then the VNet shrinks back: its entry goes.
$node->safe_psql('postgres',
	"SELECT peering_alter($id, user_peer_network_cidrs => '{172.16.0.0/16}')");
poll_until(30, sub { grep { ref $_ && $_->{network} eq '172.16.0.0/16' } @{ filter_of('pg-closed') } })
  or diag('routed network not added');
ok((grep { ref $_ && $_->{network} eq '172.16.0.0/16' } @{ filter_of('pg-closed') }),
	'user_peer_network_cidrs are admitted too');
fake_seed(
	{
		address_spaces => [
			{
				subscription => $w->{subscription_id},
				resource_group => $w->{resource_group},
				name => $w->{vnet_name},
				address_prefixes => ['10.1.0.0/16']
			}
		]
	});
poll_until(30, sub { !grep { ref $_ && $_->{network} eq '10.11.0.0/16' } @{ filter_of('pg-closed') } })
  or diag('removed prefix still admitted');
ok(!(grep { ref $_ && $_->{network} eq '10.11.0.0/16' } @{ filter_of('pg-closed') }),
	"a removed prefix's entry of ours is removed");

# ---- open_ip_filter false: exactly our entries go.
$node->safe_psql('postgres', "SELECT peering_alter($id, open_ip_filter => false)");
$node->poll_query_until('postgres',
	"SELECT unreachable_services = '{pg-closed}' FROM peering.connections WHERE id = $id")
  or diag('not closed');
is($json->encode(filter_of('pg-closed')), $json->encode(\@closed_filter),
	'open_ip_filter false: the filter is as seeded');

# ---- Open again, then delete: the teardown restores each filter exactly.
$node->safe_psql('postgres', "SELECT peering_alter($id, open_ip_filter => true)");
$node->poll_query_until('postgres',
	"SELECT unreachable_services = '{}' FROM peering.connections WHERE id = $id")
  or diag('not opened again');
$node->safe_psql('postgres', "SELECT peering_delete($id)");
is(wait_for_step($node, $id, 'deleted'), 'deleted', 'deleted');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $id AND step = 'ip_filter_close' AND message ~ '^removed the entries this peering added to the IP filter of service pg-closed'"),
	1, 'the teardown removed our entries (step ip_filter_close)');
my $after = services();
is($json->encode($after->{'pg-closed'}{user_config}{ip_filter}), $json->encode(\@closed_filter),
	'the teardown restores the filter exactly');
is($json->encode($after->{'pg-open'}{user_config}{ip_filter}), '["0.0.0.0/0"]', 'pg-open as seeded');
is($json->encode($after->{'pg-other'}{user_config}{ip_filter}), '["192.168.9.0/24"]',
	'pg-other (another VPC) as seeded');
is(service_puts($start, 'pg-open'), 0, 'a service that admits the VNet is never written');
is(service_puts($start, 'pg-other'), 0, 'a service of another VPC is never written');

$node->stop;
done_testing();
