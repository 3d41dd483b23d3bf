
# The SQL surface against the fake cloud: peering_vpcs, pre-flight
# rejections (no row, no mutating request), rollback, interrupts of a slow
# remote call, Retry-After, TLS with the wrong CA, no secret in a debug5 log
# or in NOTIFY payloads.
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
use Time::HiRes qw(time usleep);

my $w = start_fake();
my $node = new_node('sql_remote', debug5 => 1);
my $tmp = PostgreSQL::Test::Utils::tempdir('sql_remote');

# ------------------------------------------------------------------
# peering_vpcs lists the project's VPCs
# ------------------------------------------------------------------
{
	my $got = $node->safe_psql('postgres',
		"SELECT project_vpc_id, cloud_name, network_cidr, state FROM peering_vpcs('$w->{project}') ORDER BY 1"
	);
	my ($proj) =
	  grep { $_->{name} eq $w->{project} } @{ fake_world()->{aiven}{projects} };
	my $want = join("\n",
		map { join('|', @$_{qw(project_vpc_id cloud_name network_cidr state)}) }
		sort { $a->{project_vpc_id} cmp $b->{project_vpc_id} }
		  @{ $proj->{vpcs} });
	is($got, $want, 'peering_vpcs lists the project VPCs of the world');
	like($got, qr/^\Q$w->{project_vpc_id}\E\|azure-/m,
		'the Azure project VPC is listed');
}

# ------------------------------------------------------------------
# Pre-flight rejections: SQLSTATE, message naming the object, no row, no
# mutating remote request.
# ------------------------------------------------------------------

# A credential whose secret file holds a wrong secret, one of another
# tenant (the admin principal also exists there).
{
	my $bad = "$tmp/bad.secret";
	append_to_file($bad, "not-the-secret-0123456789\n");
	chmod 0600, $bad;
	$node->safe_psql(
		'postgres', qq{
SELECT peering_credential_set('badsecret', 'azure_client_secret', secret_file => '$bad',
	tenant_id => '$w->{tenant_id}', client_id => '$w->{admin_client_id}');
SELECT peering_credential_set('othertenant', 'azure_client_secret',
	secret_file => '$w->{admin_secret_file}',
	tenant_id => '$w->{other_tenant_id}', client_id => '$w->{admin_client_id}');
});
}

my $unknown_vpc = '0d7c5e32-0000-4000-8000-000000000001';
my @rejections = (
	{
		name => 'missing VNet',
		args => { vnet_name => 'vnet-missing' },
		state => '42704',
		msg => qr/vnet-missing/,
	},
	{
		name => 'non-Azure project VPC',
		args => { project_vpc_id => $w->{aws_project_vpc_id} },
		state => '22023',
		msg => qr/\Q$w->{aws_project_vpc_id}\E.*aws-/,
	},
	{
		name => 'overlapping CIDR',
		args => { vnet_name => $w->{overlap_vnet_name} },
		state => '22023',
		msg => qr/\Q$w->{overlap_vnet_name}\E.*overlap|overlap.*\Q$w->{overlap_vnet_name}\E/,
	},
	{
		name => 'unknown project VPC',
		args => { project_vpc_id => $unknown_vpc },
		state => '42704',
		msg => qr/\Q$unknown_vpc\E/,
	},
	{
		name => 'bad secret',
		args => { azure_credential => 'badsecret' },
		state => '28000',
		msg => qr/AADSTS7000215/,
	},
	{
		name => 'wrong tenant',
		args => { azure_credential => 'othertenant' },
		state => qr/^(28000|42704|42501)$/,
		msg => qr/\Q$w->{subscription_id}\E|\Q$w->{other_tenant_id}\E/,
	},);

for my $r (@rejections)
{
	my $since = request_seq();
	my ($state, $err) = sql_error($node,
		'SELECT peering_create(' . create_args(%{ $r->{args} }) . ')');
	if (ref $r->{state})
	{
		like($state // 'none', $r->{state}, "$r->{name}: SQLSTATE")
		  or diag($err);
	}
	else
	{
		is($state, $r->{state}, "$r->{name}: SQLSTATE $r->{state}")
		  or diag($err);
	}
	note($err);
	like($err, $r->{msg}, "$r->{name}: the error names the object");
	like($err, qr/^HINT:\s+\S/m, "$r->{name}: the error has a hint");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections'),
		'0', "$r->{name}: no row");
	my $reqs = requests_since($since);
	ok(@$reqs > 0, "$r->{name}: the pre-flight asked the cloud");
	is_deeply(
		[ map { "$_->{method} $_->{path}" } @{ mutating_requests($reqs) } ],
		[], "$r->{name}: no mutating remote request");
}

# ------------------------------------------------------------------
# A rolled-back peering_create leaves nothing behind
# ------------------------------------------------------------------
{
	my $since = request_seq();
	my $out = $node->safe_psql(
		'postgres', 'BEGIN; SELECT id FROM peering_create('
		  . create_args()
		  . '); ROLLBACK;');
	like($out, qr/^\d+$/, 'peering_create succeeded inside the transaction');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections'),
		'0', 'rollback: no row');

	# a few worker cycles (poll_interval 1 s): nothing mutating may appear
	my $deadline = time + 3.5;
	my $mut = [];
	while (time < $deadline && !@$mut)
	{
		$mut = mutating_requests(requests_since($since));
		usleep(200_000);
	}
	is_deeply([ map { "$_->{method} $_->{path}" } @$mut ],
		[], 'rollback: no mutating remote request after a few worker cycles');
	is(scalar @{ our_apps(fake_world()) }, 0, 'rollback: no application in the cloud');
}

# ------------------------------------------------------------------
# statement_timeout and pg_cancel_backend interrupt a slow remote call
# ------------------------------------------------------------------
{
	my $since = request_seq();
	my $fid = fake_fault(
		{ method => 'GET', path => 'virtualNetworks/vnet-app$', delay_ms => 10000 });
	my $t0 = time;
	my ($state, $err) = sql_error($node,
		"SET statement_timeout = '1s';\nSELECT peering_create("
		  . create_args() . ')');
	my $elapsed = time - $t0;
	is($state, '57014', 'statement_timeout: SQLSTATE 57014') or diag($err);
	cmp_ok($elapsed, '<', 2.0,
		'statement_timeout = 1s interrupts the slow ARM call within 2 s');
	note sprintf('statement_timeout returned after %.2f s', $elapsed);
	ok((grep { ($_->{fault} // '') eq $fid } @{ requests_since($since) }),
		'the delayed request was the one interrupted');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections'),
		'0', 'statement_timeout: no row');
	fake_clear_faults();
}

{
	my $bg = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	my $since = request_seq();
	my $fid = fake_fault(
		{
			method => 'GET',
			path => "/project/$w->{project}/vpcs\$",
			delay_ms => 10000
		});
	$bg->query_until(qr/go/,
		"\\echo go\nSELECT count(*) FROM peering_vpcs('$w->{project}');\n");
	ok(wait_for_request($since, sub { ($_[0]{fault} // '') eq $fid }, 30),
		'pg_cancel_backend: the backend is in the delayed Aiven call');
	my $t0 = time;
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my $idle = poll_until(
		5,
		sub {
			$node->safe_psql('postgres',
				"SELECT state FROM pg_stat_activity WHERE pid = $pid") eq
			  'idle';
		},
		20_000);
	my $elapsed = time - $t0;
	ok($idle, 'pg_cancel_backend: the backend is idle again');
	cmp_ok($elapsed, '<', 1.0, 'pg_cancel_backend interrupts within 1 s');
	note sprintf('pg_cancel_backend took effect after %.2f s', $elapsed);
	$bg->query('SELECT 1');
	like($bg->{stderr}, qr/57014/, 'pg_cancel_backend: SQLSTATE 57014');
	$bg->quit;
	fake_clear_faults();
}

# ------------------------------------------------------------------
# Retry-After is honoured
# ------------------------------------------------------------------
{
	my $since = request_seq();
	fake_fault(
		{
			method => 'GET',
			path => "/project/$w->{project}/vpcs\$",
			status => 429,
			retry_after => 1
		});
	my ($state, $err) = sql_error($node,
		"SELECT count(*) FROM peering_vpcs('$w->{project}')");
	is($state, undef, 'peering_vpcs succeeds after a 429') or diag($err);
	my @list = grep { $_->{path} =~ m{/project/\Q$w->{project}\E/vpcs$} }
	  @{ requests_since($since) };
	is(join(',', map { $_->{status} } @list), '429,200',
		'one 429, then the retry');
	if (@list == 2)
	{
		my $gap = $list[1]{time} - $list[0]{time};
		cmp_ok($gap, '>=', 1.0, 'the retry came at least Retry-After (1 s) later');
		note sprintf('retry %.3f s after the 429', $gap);
	}
	else
	{
		fail('the retry came at least Retry-After (1 s) later');
	}
}

# ------------------------------------------------------------------
# TLS refused with the wrong CA
# ------------------------------------------------------------------
{
	my $wrong = make_ca_file($tmp);
	reload_with($node, 'peering.ca_file', $wrong);
	my ($state, $err) = sql_error($node,
		"SELECT count(*) FROM peering_vpcs('$w->{project}')");
	ok(defined $state, 'wrong CA: peering_vpcs fails');
	is($state, '08001', 'wrong CA: SQLSTATE 08001') or diag($err);
	note($err);
	like($err, qr/certificate|ca_file/i, 'wrong CA: the error names the certificate or ca_file');
	reload_with($node, 'peering.ca_file', undef, $w->{ca_file});
	is($node->safe_psql('postgres',
			"SELECT count(*) > 0 FROM peering_vpcs('$w->{project}')"),
		't', 'the right CA works again');
}

# ------------------------------------------------------------------
# Duplicate live connection (worker off so the request log stays quiet),
# then a real lifecycle for the secret checks, with a LISTEN session.
# ------------------------------------------------------------------
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN peering');

reload_with($node, 'peering.worker_enabled', 'off');
my $id = create_connection($node);
like($id, qr/^\d+$/, 'a connection is recorded');
{
	my $since = request_seq();
	my ($state, $err) = sql_error($node,
		'SELECT peering_create(' . create_args() . ')');
	is($state, '42710', 'duplicate live connection: SQLSTATE 42710') or diag($err);
	like($err, qr/\Q$w->{vnet_name}\E/, 'duplicate: the error names the VNet');
	like($err, qr/^HINT:\s+\S/m, 'duplicate: the error has a hint');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections'),
		'1', 'duplicate: no new row');
	is_deeply(
		[ map { "$_->{method} $_->{path}" } @{ mutating_requests(requests_since($since)) } ],
		[], 'duplicate: no mutating remote request');
}
# The application's secret exists only while the Azure peering is made:
# hold that PUT to read it (as superuser) for the leak checks below.
my $held_put = fake_fault(
	{ method => 'PUT', path => 'virtualNetworkPeerings/[^/]+$', delay_ms => 2000 });
my $put_seq = request_seq();
reload_with($node, 'peering.worker_enabled', undef, 'on');
ok(wait_for_request($put_seq, sub { ($_[0]{fault} // '') eq $held_put }, 60),
	'the worker is creating the Azure peering');
my $app_secret = $node->safe_psql('postgres',
	"SELECT secret FROM peering.credentials WHERE internal AND secret IS NOT NULL LIMIT 1");
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE',
	'the connection reaches ACTIVE');

# ------------------------------------------------------------------
# No secret in NOTIFY payloads or in the debug5 server log
# ------------------------------------------------------------------
my %secret = (
	'admin secret' => slurp_file($w->{admin_secret_file}),
	'aiven token' => slurp_file($w->{aiven_token_file}),
	'app secret' => $app_secret,);
chomp(%secret);
$_ =~ s/\s+\z// for values %secret;
ok(length($secret{'app secret'}) >= 8,
	'the application secret was stored while needed (read as superuser)');

{
	my $out = $listener->query('SELECT 1');
	my @payloads = $out =~ /Asynchronous notification "peering" with payload "(.*)" received/g;
	ok(@payloads >= 3, 'NOTIFY peering was sent on the changes')
	  or diag($out);
	my $bad = 0;
	for my $p (@payloads)
	{
		my $j = eval { decode_json($p) };
		unless ($j && $j->{id} && exists $j->{step} && exists $j->{state})
		{
			$bad++;
			diag("bad payload: $p");
		}
	}
	is($bad, 0, 'NOTIFY payloads are JSON with id, state and step');
	for my $k (sort keys %secret)
	{
		ok(!(grep { index($_, $secret{$k}) >= 0 } @payloads),
			"no $k in NOTIFY payloads");
	}
	$listener->quit;
}

{
	my $log = slurp_file($node->logfile);
	like($log, qr/DEBUG:\s+peering: \S+ (?:GET|POST) https/,
		'the server log has the debug lines of the remote requests');
	like($log, qr/DEBUG:\s+peering: \S+ (?:PUT|PATCH) https/,
		'the server log covers the worker\'s mutating requests');
	for my $k (sort keys %secret)
	{
		ok(index($log, $secret{$k}) < 0, "no $k in the server log");
	}
	my @bearer = $log =~ /(Bearer\s+(?!REDACTED|<|\*)[A-Za-z0-9._~+\/=-]{12,})/g;
	is_deeply(\@bearer, [], 'no bearer token in the server log');
	my @aivenv1 = $log =~ /(aivenv1\s+(?!REDACTED|<|\*)[A-Za-z0-9._~+\/=-]{12,})/g;
	is_deeply(\@aivenv1, [], 'no aivenv1 token in the server log');
	ok(index($log, "aivenv1 $secret{'aiven token'}") < 0,
		'no "aivenv1 <token>" in the server log');
	my @at = $log =~ /("?access_token"?\s*[:=]\s*"?(?!REDACTED)[A-Za-z0-9._~+\/-]{12,})/g;
	is_deeply(\@at, [], 'no access_token value in the server log');
	my @cs = $log =~ /(client_secret\s*[:=]\s*"?(?!REDACTED)[A-Za-z0-9._~+\/-]{8,})/g;
	is_deeply(\@cs, [], 'no client_secret value in the server log');
}

$node->stop;
done_testing();
