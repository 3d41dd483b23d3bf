
# What a re-check cycle writes to peering.connections, counted by a
# statement trigger with transition tables: ACTIVE peerings whose remote
# state did not change are saved together, one UPDATE for all of them that
# moves nothing but checked_at, next_attempt_at and the claim, and no event;
# a peering that changed (its Azure peering deleted behind our back: a drift
# event; its VNet grown: Aiven asked to refresh) is still saved in full next
# to them.
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
my $node = new_node('recheck_writes', conf => "peering.recheck_interval = '3600s'\n");

# Two VNets and four project VPCs: eight peerings.
my $seeded = fake_seed(
	{
		aiven_vpcs => [
			{
				project => $w->{project},
				cloud_name => 'azure-westeurope',
				network_cidr => '10.220.0.0/24',
				count => 3
			}
		]
	});
my @vpcs = ($w->{project_vpc_id},
	map { $_->{project_vpc_id} } @{ $seeded->{aiven_vpcs} });
my @ids;
for my $vnet ($w->{vnet_name}, $w->{second_vnet_name})
{
	push @ids, create_connection($node, vnet_name => $vnet, project_vpc_id => $_)
	  for @vpcs;
}
my $n = scalar @ids;
is(wait_for_state($node, $_, 'ACTIVE', 120), 'ACTIVE', "connection $_ ACTIVE") for @ids;

# From here on CALL peering_run() drives the re-checks, one cycle at a time.
reload_with($node, 'peering.worker_enabled', 'off');
$node->poll_query_until('postgres',
	'SELECT count(*) = 0 FROM peering.connections WHERE claimed_by IS NOT NULL')
  or diag('a claim of the worker is still held');

# Per UPDATE statement, in order: the rows it wrote, and those of them in
# which anything changed but when the row was checked, when it is due and
# who holds it.
$node->safe_psql(
	'postgres', q{
CREATE TABLE public.connection_writes (seq bigserial, rows bigint, changed bigint);
CREATE FUNCTION public.count_connection_writes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	INSERT INTO public.connection_writes (rows, changed)
	SELECT count(*), count(*) FILTER (WHERE
			to_jsonb(o) - '{checked_at,next_attempt_at,claimed_by,claimed_until}'::text[]
			IS DISTINCT FROM
			to_jsonb(n) - '{checked_at,next_attempt_at,claimed_by,claimed_until}'::text[])
	  FROM old_rows o JOIN new_rows n ON n.id = o.id
	HAVING count(*) > 0;
	RETURN NULL;
END
$$;
CREATE TRIGGER count_connection_writes AFTER UPDATE ON peering.connections
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION public.count_connection_writes();
});

# Makes the connections of $where due and runs one CALL peering_run().
# Returns what it wrote: claimed (rows of the first UPDATE, the claim),
# saves (UPDATE statements after it), saved (rows they wrote), most (rows
# of the largest), changed (rows changed beyond checked_at, next_attempt_at
# and the claim), events (appended), reads (GETs sent to the cloud).
sub recheck
{
	my ($where) = @_;
	my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM peering.events');
	my $mark = $node->safe_psql(
		'postgres', qq{
UPDATE peering.connections SET next_attempt_at = now() WHERE $where;
TRUNCATE public.connection_writes;
SELECT now();
});
	my $seq = request_seq();
	$node->safe_psql('postgres', 'CALL peering_run()');
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM peering.connections WHERE ($where) AND NOT (checked_at > '$mark')"),
		'0',
		"every connection of ($where) was checked");
	my %r;
	@r{qw(claimed saves saved most changed)} = split /\|/,
	  $node->safe_psql(
		'postgres', q{
SELECT (SELECT rows FROM public.connection_writes ORDER BY seq LIMIT 1),
	   count(*), coalesce(sum(rows), 0), coalesce(max(rows), 0),
	   (SELECT sum(changed) FROM public.connection_writes)
  FROM public.connection_writes
 WHERE seq > (SELECT min(seq) FROM public.connection_writes)});
	$r{events} =
	  $node->safe_psql('postgres', 'SELECT count(*) FROM peering.events') - $events;
	$r{reads} = grep { $_->{method} eq 'GET' } @{ requests_since($seq) };
	return \%r;
}

# Unchanged peerings: one claim, then their saves, which write nothing but
# the schedule, many rows per statement: at most one save per answer read
# (the rows that an answer completes are saved together).
my $r = recheck('true');
is($r->{claimed}, $n, "$n unchanged peerings: all claimed in one statement");
is($r->{saved}, $n, 'each saved once');
is($r->{changed}, 0, 'nothing but checked_at, next_attempt_at and the claim moved');
is($r->{events}, 0, 'no event');
cmp_ok($r->{saves}, '<=', $r->{reads},
	"no more save statements ($r->{saves}) than answers read ($r->{reads})");
cmp_ok($r->{most}, '>=', 2, "a save statement wrote several rows ($r->{most})");

$r = recheck("id IN ($ids[0], $ids[1])");
is_deeply([ @$r{qw(claimed saved changed events)} ], [ 2, 2, 0, 0 ],
	'two due: only they are claimed and saved');

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM peering.connections WHERE NOT failed AND step = 'active'"
		  . " AND next_attempt_at > now() + interval '1 minute' AND claimed_by IS NULL"),
	$n,
	'all are ACTIVE, due at the next re-check, their claims released');

# The customer's Azure peering of the first connection is deleted behind
# our back: that connection stops with a drift event; the others are
# still saved as unchanged.
my $drifted = conn($node, $ids[0]);
remove_customer_peering($drifted->{peering_name});
$r = recheck('true');
is_deeply([ @$r{qw(claimed saved changed)} ], [ $n, $n, 1 ],
	'a drifted peering: every row saved once, one of them changed');
$drifted = conn($node, $ids[0]);
ok($drifted->{failed}, 'the drifted connection stops');
ok(!defined $drifted->{azure_peering_state}, 'its Azure peering is recorded as gone');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM peering.events WHERE connection_id = $ids[0] AND kind = 'drift'"),
	'1',
	'with one drift event');
is($node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections WHERE failed'),
	'1', 'the others are not stopped');

# The second VNet grows: its peerings are RemoteNotInSync, a change that is
# saved, with Aiven asked once each to refresh its side; the next re-check
# finds them FullyInSync again; the one after that, nothing new.
my $second = conn($node, $ids[-1]);
my $grown = scalar @vpcs;
my $events_of_grown = sub {
	my ($where) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM peering.events e JOIN peering.connections c ON c.id = e.connection_id"
		  . " WHERE c.vnet_id = '$second->{vnet_id}' AND $where");
};
grow_vnet($second->{vnet_id}, '10.77.0.0/16');
$r = recheck('NOT failed');
is_deeply([ @$r{qw(claimed saved changed)} ], [ $n - 1, $n - 1, $grown ],
	'the grown VNet\'s peerings are saved with their change');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM peering.connections WHERE vnet_id = '$second->{vnet_id}'"
		  . " AND azure_sync_level = 'RemoteNotInSync' AND NOT failed"),
	$grown,
	'they record RemoteNotInSync and go on');
is($events_of_grown->("e.message ~ '^asked Aiven to re-read'"), $grown,
	'Aiven is asked once each to refresh its side');
$r = recheck('NOT failed');
is($r->{changed}, $grown, 'the next re-check saves them FullyInSync again');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM peering.connections WHERE vnet_id = '$second->{vnet_id}'"
		  . " AND azure_sync_level = 'FullyInSync' AND retry_class IS NULL AND NOT failed"),
	$grown,
	'FullyInSync, no retry left');
is($events_of_grown->("e.kind = 'drift'"), 0, 'no drift event');
$r = recheck('NOT failed');
is_deeply([ @$r{qw(claimed saved changed events)} ], [ $n - 1, $n - 1, 0, 0 ],
	'the re-check after that finds nothing new');

done_testing();
