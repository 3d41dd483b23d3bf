# peering_alter(): an ACTIVE peering changed in place.  New flags and new
# routed networks (user_peer_network_cidrs) reach the same Azure peering
# (one PUT) and the same Aiven connection (one CIDR call), with an altered
# event; NULL arguments change nothing; a connection that is not ACTIVE is
# refused; the re-check holds the new values, and a change behind the
# extension's back is drift that peering_retry (or peering.auto_repair,
# in place) puts back.
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
my $node = new_node('alter', conf => "peering.recheck_interval = '1s'\n");

my $id = $node->safe_psql('postgres',
	'SELECT id FROM peering_create(' . create_args()
	  . ", user_peer_network_cidrs => '{10.70.0.0/16}')");
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'a peering routing 10.70.0.0/16 is ACTIVE');
is(wait_for_step($node, $id, 'active'), 'active', 'and at the re-check');
my $row = conn($node, $id);
is_deeply($row->{user_peer_network_cidrs}, ['10.70.0.0/16'], 'the row keeps the routed networks');

sub aiven_connection
{
	my $c = aiven_connections(fake_world(), $w->{vnet_name}, 1);
	return scalar(@$c) == 1 ? $c->[0] : undef;
}

sub azure_peering
{
	my ($status, $p) = cloud_http('GET',
		"/arm$row->{vnet_id}/virtualNetworkPeerings/$row->{peering_name}?api-version=2024-05-01",
		token => admin_token('arm'));
	die "GET peering: HTTP $status" unless $status == 200;
	return $p->{properties};
}

sub routed { return [ sort @{ aiven_connection()->{user_peer_network_cidrs} } ]; }

sub events_of_kind
{
	my ($kind) = @_;
	return [ grep { $_->{kind} eq $kind } @{ events_of($node, $id) } ];
}

# Waits until the connection is back at the re-check, live on both sides.
sub back_at_recheck
{
	my ($what) = @_;
	$node->poll_query_until('postgres',
		"SELECT (step = 'active' AND state = 'ACTIVE' AND azure_peering_state = 'Connected') OR failed"
		  . " FROM peering.connections WHERE id = $id")
	  or diag("$what: not back at the re-check");
	return conn($node, $id);
}

is_deeply(routed(), ['10.70.0.0/16'], 'the Aiven connection was requested with them');

# NULL leaves every property as it is: nothing is armed, nothing written.
my $seq = request_seq();
my ($out, $err) = ('', '');
$node->psql('postgres', "SELECT step FROM peering_alter($id)", stdout => \$out, stderr => \$err);
is($out, 'active', 'peering_alter with NULLs returns the row');
like($err, qr/already has these properties: nothing to change/, 'and says that nothing changes');
$node->psql('postgres',
	"SELECT step FROM peering_alter($id, allow_forwarded_traffic => false, user_peer_network_cidrs => '{10.70.0.0/16}')",
	stdout => \$out);
is(conn($node, $id)->{generation}, $row->{generation}, 'the same values as now arm nothing');
is(scalar @{ mutating_requests(requests_since($seq)) }, 0, 'and make no remote write');

# Flags and routed networks changed in place.
$seq = request_seq();
is( $node->safe_psql('postgres',
		"SELECT step FROM peering_alter($id, allow_forwarded_traffic => true,"
		  . " user_peer_network_cidrs => '{10.80.0.0/16,10.81.0.0/16}')"),
	'alter',
	'peering_alter arms the step alter');
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM peering.events WHERE connection_id = $id AND kind = 'altered'")
  or diag('no altered event');
my $after = back_at_recheck('after the alter');
ok(!$after->{failed}, 'the alter went through');
is($after->{azure_peering_id}, $row->{azure_peering_id}, 'the same Azure peering');
ok($after->{allow_forwarded_traffic}, 'the row holds the new flag');
is_deeply([ sort @{ $after->{user_peer_network_cidrs} } ],
	[ '10.80.0.0/16', '10.81.0.0/16' ], 'and the new routed networks');
ok(azure_peering()->{allowForwardedTraffic}, 'the Azure peering allows forwarded traffic now');
is_deeply(routed(), [ '10.80.0.0/16', '10.81.0.0/16' ], 'Aiven routes the new networks');
is(scalar @{ aiven_connections(fake_world(), $w->{vnet_name}) }, 1, 'through the same, only Aiven connection');

my $writes = mutating_requests(requests_since($seq));
my @azure_puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/virtualNetworkPeerings/} } @$writes;
my @cidr_puts = grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/user-peer-network-cidrs$} } @$writes;
is(scalar @azure_puts, 1, 'one PUT of the Azure peering') or diag(summarize_requests($writes));
is(scalar @cidr_puts, 1, 'one CIDR call to Aiven') or diag(summarize_requests($writes));
is(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ m{/peering-connections$} } @$writes),
	0, 'no new Aiven connection requested');
is(scalar(grep { $_->{method} eq 'DELETE' } @$writes), 0, 'nothing deleted');
is_deeply(
	[ sort map { $_->{cidr} } @{ $cidr_puts[0]{body}{add} } ],
	[ '10.80.0.0/16', '10.81.0.0/16' ],
	'the CIDR call adds only the new networks');
is_deeply($cidr_puts[0]{body}{delete}, ['10.70.0.0/16'], 'and deletes only the old one');
is($cidr_puts[0]{body}{add}[0]{peer_vpc}, lc $w->{vnet_name}, 'naming the connection by its VNet');
note("requests of the alter:\n" . summarize_requests(requests_since($seq)));
my $altered = events_of_kind('altered');
is(scalar @$altered, 1, 'one altered event');
like($altered->[0]{message}, qr/added 10\.80\.0\.0\/16, 10\.81\.0\.0\/16; removed 10\.70\.0\.0\/16/,
	'it names the routed networks added and removed');
like($altered->[0]{message}, qr/updated in place .* to allowForwardedTraffic true/,
	'and the new flags');

# Routed networks alone: one CIDR call, no Azure write; a transient failure
# of Aiven's is retried like any other request's.
$seq = request_seq();
fake_fault({ method => 'PUT', path => 'user-peer-network-cidrs$', status => 503 });
$node->safe_psql('postgres', "SELECT peering_alter($id, user_peer_network_cidrs => '{10.80.0.0/16}')");
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM peering.events WHERE connection_id = $id AND kind = 'altered'")
  or diag('no second altered event');
back_at_recheck('after the second alter');
$writes = mutating_requests(requests_since($seq));
is_deeply([ map { "$_->{method} $_->{status}" } @$writes ], [ 'PUT 503', 'PUT 200' ],
	'a change of the routed networks alone is one CIDR call, sent again after a 503')
  or diag(summarize_requests($writes));
is_deeply(routed(), ['10.80.0.0/16'], 'Aiven routes only 10.80.0.0/16');

# What peering_plan says of the same peering asked with other values.
my %plan;
for (split /\n/,
	$node->safe_psql('postgres',
		'SELECT step, action, detail FROM peering_plan(' . create_args()
		  . ", allow_forwarded_traffic => true, allow_gateway_transit => true, user_peer_network_cidrs => '{10.80.0.0/16}')"))
{
	my ($step, $action, $detail) = split /\|/, $_, 3;
	push @{ $plan{$step} }, "$action: $detail";
}
like($plan{preflight}[0], qr/^blocked: .*already exists.*peering_alter\($id, \.\.\.\) changes it in place/,
	'peering_plan of an existing peering: peering_create is blocked, with the way to alter it');
is_deeply(
	$plan{alter},
	[
		'exists: allow_forwarded_traffic true',
		'update: allow_gateway_transit from false to true, in place',
		'exists: use_remote_gateways false',
		'exists: user_peer_network_cidrs 10.80.0.0/16',
		'exists: open_ip_filter false',
	],
	'and one row per property peering_alter would change or keep');

# Changes behind the extension's back are drift; peering_retry puts them back.
my $token = slurp_file($w->{aiven_token_file});
$token =~ s/\s+//g;
my ($status) = cloud_http('PUT',
	"/aiven/v1/project/$w->{project}/vpcs/$w->{project_vpc_id}/user-peer-network-cidrs",
	headers => ["Authorization: aivenv1 $token"],
	body => { add => [ { cidr => '10.90.0.0/16', peer_cloud_account => lc $w->{subscription_id},
				peer_resource_group => lc $w->{resource_group}, peer_vpc => lc $w->{vnet_name} } ] });
is($status, 200, 'someone makes Aiven route another network');
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the changed routed networks were not seen');
$row = conn($node, $id);
is($row->{last_error_code}, 'drift', 'a change of the routed networks is drift');
like($row->{last_error}, qr/Aiven routes other networks through it \(user_peer_network_cidrs 10\.80\.0\.0\/16, 10\.90\.0\.0\/16, not 10\.80\.0\.0\/16\)/,
	'saying which');
my ($state) = sql_error($node, "SELECT peering_alter($id, allow_gateway_transit => true)");
is($state, '55000', 'a stopped connection cannot be altered');
$node->safe_psql('postgres', "SELECT peering_retry($id)");
$row = back_at_recheck('after the retry of the routed networks');
ok(!$row->{failed}, 'peering_retry repairs it');
is_deeply(routed(), ['10.80.0.0/16'], 'Aiven routes the networks of the row again');
is($row->{azure_peering_id}, $after->{azure_peering_id}, 'the same Azure peering');

fake_seed({ peering_flags => [ { vnet_id => $row->{vnet_id}, name => $row->{peering_name},
				allowForwardedTraffic => JSON::PP::false } ] });
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the changed flag was not seen');
$row = conn($node, $id);
like($row->{last_error}, qr/its options changed/, 'a changed flag is drift');
$node->safe_psql('postgres', "SELECT peering_retry($id)");
$row = back_at_recheck('after the retry of the flags');
ok(!$row->{failed}, 'peering_retry repairs it');
ok(azure_peering()->{allowForwardedTraffic}, 'the Azure peering allows forwarded traffic again');

# With peering.auto_repair, a drift of what peering_alter changes is put
# back in place: the same calls as an alter, without re-creating anything.
reload_with($node, 'peering.auto_repair', 'on');
$seq = request_seq();
fake_seed({ peering_flags => [ { vnet_id => $row->{vnet_id}, name => $row->{peering_name},
				allowForwardedTraffic => JSON::PP::false } ] });
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM peering.events WHERE connection_id = $id AND kind = 'repair'")
  or diag('no repair');
$node->poll_query_until('postgres',
	"SELECT count(*) = 3 FROM peering.events WHERE connection_id = $id AND kind = 'altered'")
  or diag('the repair was not applied as an alter');
$row = back_at_recheck('after the automatic repair');
ok(!$row->{failed}, 'peering.auto_repair puts the flag back');
ok(azure_peering()->{allowForwardedTraffic}, 'in the Azure peering');
$writes = mutating_requests(requests_since($seq));
is(scalar(grep { $_->{method} eq 'PUT' && $_->{path} =~ m{/virtualNetworkPeerings/} } @$writes),
	1, 'with one PUT of the same Azure peering') or diag(summarize_requests($writes));
is(scalar(grep { $_->{path} =~ m{/peering-connections} } @$writes), 0, 'and no Aiven request');
reload_with($node, 'peering.auto_repair', undef, 'off');

# Refusals: an unknown id, a connection being deleted.
($state) = sql_error($node, 'SELECT peering_alter(987654, allow_forwarded_traffic => true)');
is($state, '42704', 'an unknown connection: 42704');
$node->safe_psql('postgres', "SELECT peering_delete($id)");
my $err_text;
($state, $err_text) = sql_error($node, "SELECT peering_alter($id, allow_forwarded_traffic => false)");
is($state, '55000', 'a connection being deleted: 55000');
like($err_text, qr/is being deleted/, 'saying so');
is(wait_for_step($node, $id, 'deleted', 90), 'deleted', 'the teardown finishes');

done_testing();
