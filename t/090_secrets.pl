# Least secret, least privilege: the peering application's secret exists
# only while the Azure peering is made or repaired, expires after
# peering.app_secret_lifetime, and never goes into a dump; a credential in
# use cannot be deleted; a reader's peering_status makes no remote call.
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
use IPC::Run;
use Time::Local qw(timegm);

my $w = start_fake();
my $node = new_node('secrets',
	conf => "peering.app_secret_lifetime = '10min'\npeering.recheck_interval = '1s'\n");

sub epoch
{
	my ($iso) = @_;
	my ($y, $m, $d, $H, $M, $S) = $iso =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/
	  or die "not a time: $iso";
	return timegm($S, $M, $H, $d, $m - 1, $y);
}

sub passwords_of
{
	my ($app_id) = @_;
	my ($app) = grep { ($_->{appId} // '') eq $app_id } @{ our_apps(fake_world()) };
	return $app ? $app->{passwordCredentials} // [] : [];
}

sub internal_secrets
{
	return $node->safe_psql('postgres',
		'SELECT count(*) FROM peering.credentials WHERE internal');
}

# ------------------------------------------------------------------
# A lifecycle: the secret lives from addPassword to the peering PUT
# ------------------------------------------------------------------

my $seq = request_seq();
my $held = fake_fault(
	{ method => 'PUT', path => 'virtualNetworkPeerings/[^/]+$', delay_ms => 3000 });
my $id = create_connection($node);
ok(wait_for_request($seq, sub { ($_[0]{fault} // '') eq $held }, 60),
	'the worker is creating the Azure peering');
my $row = conn($node, $id);
my $pw = passwords_of($row->{app_id});
is(scalar @$pw, 1, 'while the Azure peering is made, the application has one secret');
my $lifetime = epoch($pw->[0]{endDateTime}) - epoch($pw->[0]{startDateTime});
cmp_ok(abs($lifetime - 600), '<=', 60,
	"it expires after peering.app_secret_lifetime (10 min; got $lifetime s)");
is(internal_secrets(), '1', 'and the database holds it meanwhile');

# A dump taken now carries no secret the extension made.
my ($dump, $dump_err) = ('', '');
IPC::Run::run([ $node->installed_command('pg_dump'), '-d', $node->connstr('postgres') ],
	'>', \$dump, '2>', \$dump_err)
  or die "pg_dump failed: $dump_err";
like($dump, qr/peering\.credentials/, 'the dump has the credentials table');
like($dump, qr/\bazure_client_secret\b/, 'the dump has the user\'s credentials');
unlike($dump, qr/peering_app_\d+/, 'the dump has no secret of a peering application');
my $admin_secret = slurp_file($w->{admin_secret_file});
unlike($dump, qr/\Q$admin_secret\E/, 'nor the automation identity\'s secret (it is in a file)');

my $progress = $node->safe_psql('postgres',
	"SELECT step_number || '/' || steps || ' ' || step || ': ' || waiting_for FROM peering.progress WHERE id = $id");
like($progress, qr{^11/14 azure_peering: }, "peering.progress shows the step of the lifecycle ($progress)");
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'the peering reaches ACTIVE');
# the worker keeps its claim while it goes on to the first re-check
$node->poll_query_until('postgres',
	"SELECT waiting_for = 'the next re-check' FROM peering.progress WHERE id = $id")
  or diag('still not waiting for the next re-check');
is($node->safe_psql('postgres',
		"SELECT step_number || '/' || steps || ' ' || waiting_for FROM peering.progress WHERE id = $id"),
	'14/14 the next re-check', 'once ACTIVE it waits for the next re-check');
my ($wait_out, $wait_err) = ('', '');
$node->psql('postgres', "SELECT peering_wait($id)", stdout => \$wait_out, stderr => \$wait_err);
like($wait_err, qr/NOTICE:  peering $id: step 14 of 14 \(active\), state ACTIVE, waiting for the next re-check/,
	'peering_wait says it in the same words');
is(scalar @{ passwords_of($row->{app_id}) }, 0, 'once ACTIVE the application has no secret');
is(internal_secrets(), '0', 'and the database holds none');
my $log = requests_since($seq);
my ($added) = grep { $_->{method} eq 'POST' && $_->{path} =~ /addPassword$/ } @$log;
my ($removed) = grep { $_->{method} eq 'POST' && $_->{path} =~ /removePassword$/ } @$log;
ok($added && $removed, 'one secret added, then removed');
note(sprintf('the secret lived %.1f s (addPassword to removePassword)',
		$removed->{time} - $added->{time}))
  if $added && $removed;

# ------------------------------------------------------------------
# A repair adds a secret and removes it again
# ------------------------------------------------------------------

remove_customer_peering($row->{peering_name});
$node->poll_query_until('postgres', "SELECT failed FROM peering.connections WHERE id = $id")
  or diag('the drift was not seen');
$seq = request_seq();
$node->safe_psql('postgres', "SELECT peering_retry($id)");
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'peering_retry repairs it');
$log = requests_since($seq);
is(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ /addPassword$/ } @$log),
	1, 'the repair added a secret');
cmp_ok(scalar(grep { $_->{method} eq 'POST' && $_->{path} =~ /removePassword$/ } @$log),
	'>=', 1, 'and removed it');
is(scalar @{ passwords_of($row->{app_id}) }, 0, 'no secret once ACTIVE again');
is(internal_secrets(), '0', 'none in the database');

# ------------------------------------------------------------------
# A credential in use cannot vanish
# ------------------------------------------------------------------

my ($state, $err) = sql_error($node, "DELETE FROM peering.credentials WHERE name = 'azure'");
is($state, '2BP01', 'DELETE of a credential in use: SQLSTATE 2BP01');
like($err, qr/credential "azure" is in use.*connections $id use it/s,
	'the error names the connections');
($state, $err) = sql_error($node, "SELECT peering_credential_drop('aiven')");
is($state, '2BP01', 'peering_credential_drop of a credential in use is refused too');
like($err, qr/HINT:.*peering_delete/, 'with a hint');

# ------------------------------------------------------------------
# Readers read; admins call out
# ------------------------------------------------------------------

$node->safe_psql('postgres', q{
CREATE ROLE watcher LOGIN IN ROLE peering_reader;
CREATE ROLE operator LOGIN IN ROLE peering_admin;
});
# the worker's own re-checks (every second so far) would call out meanwhile
reload_with($node, 'peering.recheck_interval', '10min');
$node->poll_query_until('postgres',
	"SELECT next_attempt_at > now() + interval '1 min' AND claimed_by IS NULL"
	  . " FROM peering.connections WHERE id = $id")
  or diag('the next re-check is not far off');
$seq = request_seq();
my $st = $node->safe_psql('postgres', "SELECT state FROM peering_status($id)",
	extra_params => [ '-U', 'watcher' ]);
is($st, 'ACTIVE', 'a reader sees the recorded state');
is($node->safe_psql('postgres', "SELECT count(*) FROM peering.progress WHERE id = $id",
		extra_params => [ '-U', 'watcher' ]),
	'1', 'a reader reads peering.progress');
is(scalar @{ requests_since($seq) }, 0, 'a reader\'s peering_status makes no remote call');
$st = $node->safe_psql('postgres', "SELECT state FROM peering_status($id)",
	extra_params => [ '-U', 'operator' ]);
is($st, 'ACTIVE', 'an admin refreshes');
cmp_ok(scalar @{ requests_since($seq) }, '>', 0, 'an admin\'s peering_status calls out');

done_testing();
