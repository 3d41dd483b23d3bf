# Bad input, everywhere: every SQL function and procedure of the extension
# (enumerated from the catalog, so that one added without cases fails this
# test) is called with each argument in turn NULL, empty, overlong,
# malformed, well-formed but nonexistent, or a credential of the wrong
# kind, the other arguments valid.  Every call ends in an error with a
# SQLSTATE other than XX000, or in its documented result; a call that
# succeeds writes only what it documents; nothing mutating reaches the
# cloud; and the server never crashes.
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
use Time::HiRes qw(time);

my $w = start_fake();
my $node = new_node('bad_input', conf => "peering.worker_enabled = off\n");
my $tmp = PostgreSQL::Test::Utils::tempdir('bad_input');

# Credentials of every kind the matrix needs: a supplied ARM token (right
# for the automation identity, wrong where a client secret is needed), and
# one no connection uses, for peering_credential_drop.
{
	my $token_file = "$tmp/arm.token";
	append_to_file($token_file, admin_token('arm'));
	chmod 0600, $token_file;
	$node->safe_psql(
		'postgres', qq{
SELECT peering_credential_set('azure_tok', 'azure_token', secret_file => '$token_file');
SELECT peering_credential_set('matrix_drop', 'aiven_token', secret_file => '$w->{aiven_token_file}');
});
}

# An ACTIVE connection for the functions that take an id.
my $id = create_connection($node);
ok( poll_until(
		60,
		sub {
			$node->safe_psql('postgres', 'CALL peering_run()');
			my $c = conn($node, $id);
			return ($c->{state} // '') eq 'ACTIVE' && $c->{step} eq 'active';
		}),
	'a connection to call the id functions with is ACTIVE, at the re-check');

# ------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------

sub lit { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }

my $missing_uuid = "'0d7c5e32-0000-4000-8000-00000000dead'";
my $overlong = "repeat('a', 10000)";

# label => SQL expression, per family of value.  "expect" is what the call
# must end in: an SQLSTATE, 'error' (any but XX000), 'blocked' (a result
# with a blocked row: peering_plan), 'base' (what the call with every
# argument valid ends in: some values are as good), or 'any' (a result or
# an error but XX000).
sub text_cases
{
	my (%o) = @_;
	my @c = (
		[ null => 'NULL', $o{null} // '22004' ],
		[ empty => "''", $o{empty} // 'error' ],
		[ overlong => $overlong, $o{overlong} // 'error' ],
		[ dot_dot => "'..'", $o{dot_dot} // 'error' ],
		[ slash => "'a/b'", $o{slash} // 'error' ],
		[ quote => "'a''b\"c'", $o{quote} // 'error' ],
		[ space => "'a b'", $o{space} // 'error' ],
		[ control => "'a' || chr(1) || chr(10) || 'b'", $o{control} // 'error' ],
	);
	push @c, [ upper => "upper($o{valid})", $o{upper} ] if $o{upper};
	push @c, [ nonexistent => $o{missing}, $o{nonexistent} // 'error' ] if $o{missing};
	push @c, @{ $o{more} // [] };
	return \@c;
}

sub uuid_cases
{
	my (%o) = @_;
	return [
		[ null => 'NULL', $o{null} // '22004' ],
		[ empty => "''", '22P02' ],
		[ overlong => "'" . ('a' x 10000) . "'", '22P02' ],
		[ malformed => "'3a6deeeb-dda4-5f9f-8ed2'", '22P02' ],
		[ negative => "'-1'", '22P02' ],
		[ zero => "'0'", '22P02' ],
		[ nonexistent => $missing_uuid, $o{nonexistent} // 'error' ],
	];
}

sub id_cases
{
	return [
		[ null => 'NULL', '22004' ],
		[ malformed => "'1 OR true'", '22P02' ],
		[ overlong => "'99999999999999999999'", '22003' ],
		[ negative => '-1', '42704' ],
		[ zero => '0', '42704' ],
		[ nonexistent => '2147483647', '42704' ],
	];
}

# A cidr[] of networks behind the VNet; $overlap: what one inside the
# project VPC's network ends in.
sub cidr_list_cases
{
	my ($overlap) = @_;
	return [
		[ null => 'NULL', '22004' ],
		[ null_element => 'ARRAY[NULL]::cidr[]', '22004' ],
		[ malformed => "'{10.1.2.3/8}'", '22P02' ],
		[ twice => "'{10.70.0.0/16,10.70.0.0/16}'", '22023' ],
		[ two_dimensions => "'{{10.70.0.0/16},{10.71.0.0/16}}'", '2202E' ],
		[
			too_many => "ARRAY(SELECT format('10.%s.0.0/16', g)::cidr FROM generate_series(1, 129) g)",
			'54000'
		],
		[ inside_vpc => "'{10.213.2.0/25}'", $overlap ],
	];
}

sub bool_cases
{
	my (%o) = @_;
	return [ [ null => 'NULL', $o{null} // '22004' ], [ malformed => "'maybe'", '22P02' ] ];
}

# An existing credential: names of any shape are just names that do not
# exist; the other family is refused.
sub credential_cases
{
	my (%o) = @_;
	my $c = text_cases(
		null => $o{null},
		map { $_ => '42704' } qw(empty overlong dot_dot slash quote space control));
	push @$c, [ nonexistent => "'nope'", '42704' ],
	  [ reserved => "'peering_app_1'", '42704' ],
	  @{ $o{wrong_kind} };
	return $c;
}

my %W = map { $_ => lit($w->{$_}) }
  qw(project project_vpc_id subscription_id resource_group second_vnet_name aiven_token_file);

# The arguments of peering_create and peering_plan: (name, valid value,
# cases) in order.  $missing: what a missing remote object ends in.
sub create_arguments
{
	my ($missing, $wrong_app) = @_;
	return [
		[
			project => $W{project},
			text_cases(valid => $W{project}, upper => '22023', missing => "'no-such-project'",
				nonexistent => $missing)
		],
		[ project_vpc_id => $W{project_vpc_id}, uuid_cases(nonexistent => $missing) ],
		[ subscription_id => $W{subscription_id}, uuid_cases(nonexistent => $missing) ],
		[
			resource_group => $W{resource_group},
			text_cases(valid => $W{resource_group}, upper => 'base', missing => "'no-such-rg'",
				nonexistent => $missing)
		],
		[
			vnet_name => $W{second_vnet_name},
			text_cases(valid => $W{second_vnet_name}, upper => 'base', missing => "'no-such-vnet'",
				nonexistent => $missing)
		],
		[
			peering_name => 'NULL',
			text_cases(valid => "'made-by-hand'", null => 'base', upper => 'base',
				missing => "'no-such-peering'", nonexistent => 'base')
		],
		[
			azure_credential => "'azure'",
			credential_cases(wrong_kind => [ [ aiven_kind => "'aiven'", '22023' ] ])
		],
		[
			aiven_credential => "'aiven'",
			credential_cases(wrong_kind => [ [ azure_kind => "'azure'", '22023' ] ])
		],
		[
			app_role => "'custom'",
			text_cases(valid => "'custom'", upper => '22023', missing => "'owner'", nonexistent => '22023')
		],
		[
			app_credential => 'NULL',
			credential_cases(
				null => 'base',
				wrong_kind => [
					[ aiven_kind => "'aiven'", $wrong_app ],
					[ token_not_client_secret => "'azure_tok'", $wrong_app ]
				])
		],
		[ allow_forwarded_traffic => 'false', bool_cases() ],
		[ allow_gateway_transit => 'false', bool_cases() ],
		[ use_remote_gateways => 'false', bool_cases() ],
		[ user_peer_network_cidrs => "'{}'", cidr_list_cases($missing eq 'blocked' ? 'blocked' : '22023') ],
		[ open_ip_filter => 'false', bool_cases() ],
	];
}

# Per function (as regprocedure prints it): its arguments, what the call
# with all of them valid ends in, and whether a successful call may write
# (its documented effect).
my %functions = (
	'peering_credential_set(text,text,text,uuid,uuid,text)' => {
		base => 'ok',
		writes => 1,
		args => [
			[
				name => "'matrix_new'",
				text_cases(
					dot_dot => 'base',    # periods are allowed
					valid => "'matrix_new'",
					upper => 'base',
					more => [ [ reserved => "'peering_app_1'", '42939' ] ])
			],
			[
				kind => "'aiven_token'",
				text_cases(valid => "'aiven_token'", upper => '22023', missing => "'gcp_token'",
					nonexistent => '22023')
			],
			[
				secret_file => $W{aiven_token_file},
				text_cases(
					null => '22023',
					missing => "'/nonexistent/peering/secret'",
					more => [ [ directory => "'/'", 'error' ], [ relative => "'aiven.token'", '22023' ] ])
			],
			[ tenant_id => 'NULL', uuid_cases(null => 'base', nonexistent => 'base') ],
			[ client_id => 'NULL', uuid_cases(null => 'base', nonexistent => 'base') ],
			[
				secret => 'NULL',
				text_cases(valid => "'x'", null => 'base', empty => 'base', dot_dot => '22023',
					slash => '22023', quote => '22023', space => '22023', control => '22023',
					overlong => '22023')
			],
		],
	},
	'peering_credential_drop(text)' => {
		base => 'ok',
		writes => 1,
		args => [
			[
				name => "'matrix_drop'",
				text_cases(
					(map { $_ => '42704' } qw(empty overlong dot_dot slash quote space control)),
					valid => "'matrix_drop'",
					upper => '42704',
					missing => "'nope'",
					nonexistent => '42704',
					more => [
						[ in_use => "'azure'", '2BP01' ],
						[ reserved => "'peering_app_1'", '42704' ]
					])
			]
		],
	},
	'peering_credentials()' => { base => 'ok', args => [] },
	'peering_create(text,uuid,uuid,text,text,text,text,text,text,text,boolean,boolean,boolean,cidr[],boolean)' => {
		base => 'ok',
		writes => 1,
		args => create_arguments('42704', '22023'),
	},
	# a check that fails is a documented "blocked" row
	'peering_plan(text,uuid,uuid,text,text,text,text,text,text,text,boolean,boolean,boolean,cidr[],boolean)' => {
		base => 'ok',
		args => create_arguments('blocked', 'blocked'),
	},
	# nothing was made by hand on the second VNet: nothing to adopt
	'peering_adopt(text,uuid,uuid,text,text,text,text,text)' => {
		base => '42704',
		writes => 1,
		args => [
			(grep { $_->[0] =~ /^(project|project_vpc_id|subscription_id|resource_group|vnet_name)$/ }
			  @{ create_arguments('42704', '42704') }),
			[
				azure_credential => "'azure'",
				credential_cases(wrong_kind => [ [ aiven_kind => "'aiven'", '22023' ] ])
			],
			[
				aiven_credential => "'aiven'",
				credential_cases(wrong_kind => [ [ azure_kind => "'azure'", '22023' ] ])
			],
			[
				peering_name => 'NULL',
				text_cases(valid => "'made-by-hand'", null => 'base', upper => 'base',
					missing => "'no-such-peering'", nonexistent => '42704')
			],
		],
	},
	'peering_status(bigint,boolean)' => {
		base => 'ok',
		writes => 1,    # a refresh records what it saw
		args => [ [ id => $id, id_cases() ], [ refresh => 'true', bool_cases() ] ],
	},
	'peering_status()' => { base => 'ok', args => [] },
	'peering.steps()' => { base => 'ok', args => [] },
	'peering_wait(bigint,text,interval)' => {
		base => 'ok',
		args => [
			[ id => $id, id_cases() ],
			[
				target => "'ACTIVE'",
				text_cases(
					(map { $_ => '22023' } qw(empty overlong dot_dot slash quote space control)),
					valid => "'active'",    # upper() of the lower case: the valid one
					upper => 'base',
					missing => "'DONE'",
					nonexistent => '22023',
					more => [ [ lower_case => "'active'", '22023' ] ])
			],
			[
				timeout => "'1 min'",
				[
					[ null => 'NULL', '22004' ],
					[ empty => "''", '22007' ],
					[ malformed => "'soon'", '22007' ],
					[ negative => "'-1 s'", '22023' ],
					[ zero => "'0'", 'base' ],
					[ overlong => "'1000000 years'", '22023' ],
				]
			],
		],
	},
	# NULL leaves a property as it is: the base changes one flag
	'peering_alter(bigint,boolean,boolean,boolean,cidr[],boolean)' => {
		base => 'ok',
		writes => 1,
		args => [
			[ id => $id, id_cases() ],
			[ allow_forwarded_traffic => 'true', bool_cases(null => 'base') ],
			[ allow_gateway_transit => 'NULL', bool_cases(null => 'base') ],
			[ use_remote_gateways => 'NULL', bool_cases(null => 'base') ],
			[
				user_peer_network_cidrs => 'NULL',
				[ map { $_->[0] eq 'null' ? [ null => 'NULL', 'base' ] : $_ } @{ cidr_list_cases('22023') } ]
			],
			[ open_ip_filter => 'NULL', bool_cases(null => 'base') ],
		],
	},
	'peering_retry(bigint)' => { base => 'ok', writes => 1, args => [ [ id => $id, id_cases() ] ] },
	'peering_delete(bigint)' => { base => 'ok', writes => 1, args => [ [ id => $id, id_cases() ] ] },
	'peering_vpcs(text,text)' => {
		base => 'ok',
		args => [
			[
				project => $W{project},
				text_cases(valid => $W{project}, upper => '22023', missing => "'no-such-project'",
					nonexistent => '42704')
			],
			[
				aiven_credential => "'aiven'",
				credential_cases(wrong_kind => [ [ azure_kind => "'azure'", '22023' ] ])
			],
		],
	},
	# a procedure that commits: not in the atomic context a caller's
	# exception block makes
	'peering_run()' => { base => '2D000', procedure => 1, args => [] },
	# a trigger function: no SQL call
	'peering.refuse_credential_in_use()' => { trigger => 1, args => [] },
);

# ------------------------------------------------------------------
# The extension's functions, from the catalog
# ------------------------------------------------------------------
my %catalog;
for my $line (
	split /\n/,
	$node->safe_psql(
		'postgres', q{
SELECT p.oid::regprocedure, p.prokind, p.prorettype = 'trigger'::regtype,
       coalesce(array_to_string(p.proargnames[1:p.pronargs], ','), '')
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'peering')
 ORDER BY 1}))
{
	my ($sig, $kind, $trigger, $names) = split /\|/, $line, 4;
	$catalog{$sig} = { kind => $kind, trigger => $trigger eq 't', names => [ split /,/, $names ] };
}
is_deeply([ sort keys %catalog ], [ sort keys %functions ],
	'every function of the extension has its cases, and every case its function');
for my $sig (sort grep { $functions{$_} } keys %catalog)
{
	is_deeply([ map { $_->[0] } @{ $functions{$sig}{args} } ], $catalog{$sig}{names},
		"$sig: every argument has its cases, in order");
	is(!!$functions{$sig}{trigger}, $catalog{$sig}{trigger}, "$sig: trigger or not");
	is(!!$functions{$sig}{procedure}, $catalog{$sig}{kind} eq 'p', "$sig: procedure or not");
}

# One call per case: the base call, then each argument in turn replaced.
my @cases;
my %arguments;
for my $sig (sort keys %functions)
{
	my $f = $functions{$sig};
	next if $f->{trigger};
	my ($name) = $sig =~ /^([\w.]+)\(/;
	my $call = sub {
		my (%over) = @_;
		my $args = join(', ', map { "$_->[0] => " . ($over{ $_->[0] } // $_->[1]) } @{ $f->{args} });
		return $f->{procedure} ? "CALL $name($args)" : "SELECT * FROM $name($args)";
	};
	push @cases, { sig => $sig, arg => '-', label => 'base', sql => $call->(), expect => $f->{base} };
	for my $a (@{ $f->{args} })
	{
		$arguments{"$sig $a->[0]"} = 1;
		for my $c (@{ $a->[2] })
		{
			my ($label, $value, $expect) = @$c;
			push @cases, {
				sig => $sig,
				arg => $a->[0],
				label => $label,
				sql => $call->($a->[0] => $value),
				expect => $expect eq 'base' ? $f->{base} : $expect
			};
		}
	}
}
diag(sprintf('bad-input matrix: %d functions x %d arguments x their cases = %d calls',
		scalar(keys %functions), scalar(keys %arguments), scalar(@cases)));

# ------------------------------------------------------------------
# The run: one session, each call in a subtransaction rolled back
# ------------------------------------------------------------------
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $seq = request_seq();
my $t0 = time;

my $script = q{
\set ON_ERROR_STOP 1
SET client_min_messages = notice;
CREATE TEMP TABLE matrix_case (n int PRIMARY KEY, sql text NOT NULL);
CREATE TEMP TABLE matrix_result (n int PRIMARY KEY, state text NOT NULL, wrote boolean, message text);
-- a function's result rows as text, one line each
CREATE FUNCTION pg_temp.matrix_run(call text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	rows text;
BEGIN
	IF call LIKE 'CALL %' THEN
		EXECUTE call;
		RETURN '';
	END IF;
	EXECUTE format('SELECT string_agg(r::text, E''\n'') FROM (%s) r', call) INTO rows;
	RETURN coalesce(rows, '');
END
$f$;
-- what the calls may write: connections, events, credentials
CREATE FUNCTION pg_temp.matrix_state() RETURNS text LANGUAGE sql AS $f$
  SELECT md5(concat_ws('|',
    (SELECT string_agg(c::text, ',' ORDER BY c.id) FROM peering.connections c),
    (SELECT string_agg(e::text, ',' ORDER BY e.id) FROM peering.events e),
    (SELECT string_agg(k::text, ',' ORDER BY k.name) FROM peering.credentials k)))
$f$;
};
for my $i (0 .. $#cases)
{
	$script .= sprintf("INSERT INTO matrix_case VALUES (%d, %s);\n", $i, lit($cases[$i]{sql}));
}
$script .= q{
SELECT pg_backend_pid() AS matrix_pid \gset
DO $matrix$
DECLARE
	c record;
	before text;
	rows text;
	st text;
	msg text;
BEGIN
	FOR c IN SELECT n, sql FROM matrix_case ORDER BY n LOOP
		RAISE NOTICE 'matrix case %', c.n;
		BEGIN
			before := pg_temp.matrix_state();
			rows := pg_temp.matrix_run(c.sql);
			-- a success is rolled back too: the next case starts from the same state
			RAISE EXCEPTION USING ERRCODE = 'ZZ001',
				MESSAGE = (pg_temp.matrix_state() <> before)::text, DETAIL = rows;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, rows = PG_EXCEPTION_DETAIL;
			IF st = 'ZZ001' THEN
				INSERT INTO matrix_result VALUES (c.n, 'ok', msg::boolean, rows);
			ELSE
				INSERT INTO matrix_result VALUES (c.n, st, NULL, msg);
			END IF;
		END;
	END LOOP;
END
$matrix$;
SELECT 'matrix ran', pg_backend_pid() = :matrix_pid, pg_postmaster_start_time();
SELECT n || '|' || state || '|' || coalesce(wrote::text, '') || '|' || coalesce(replace(message, E'\n', ' '), '')
  FROM matrix_result ORDER BY n;
};

my ($out, $err) = ('', '');
$node->psql('postgres', $script, stdout => \$out, stderr => \$err);
my $took = time - $t0;
my ($last) = $err =~ /.*NOTICE:\s+matrix case (\d+)/s;
ok($out =~ /^matrix ran\|t\|(.*)$/m, 'the matrix ran to its end in one session')
  or diag("stopped at case $last: $cases[$last // 0]{sql}\n" . substr($err, -2000));
is($1, $started, 'in the session it started in, with no postmaster restart');
note(sprintf('%d calls in %.1f s', scalar(@cases), $took));

my %result;
for (split /\n/, $out)
{
	my ($n, $state, $wrote, $message) = split /\|/, $_, 4;
	next unless defined $message && $n =~ /^\d+$/;
	$result{$n} = { state => $state, wrote => $wrote, message => $message };
	note("$cases[$n]{sig} $cases[$n]{arg}=$cases[$n]{label}: $state $message");
}
my @wrong;
for my $i (0 .. $#cases)
{
	my $c = $cases[$i];
	my $r = $result{$i} // { state => 'none', message => 'no result' };
	my $what = "$c->{sig} $c->{arg}=$c->{label}";
	my $f = $functions{ $c->{sig} };
	if ($r->{state} eq 'XX000')
	{
		push @wrong, "$what: internal error XX000: $r->{message}";
	}
	elsif ($c->{expect} eq 'blocked')
	{
		push @wrong, "$what: expected a blocked row, got $r->{state}: $r->{message}"
		  unless $r->{state} eq 'ok' && $r->{message} =~ /(?:^| )\(\w+,blocked,/;
	}
	elsif ($c->{expect} eq 'any')
	{
	}
	elsif ($c->{expect} eq 'error' ? $r->{state} eq 'ok' : $r->{state} ne $c->{expect})
	{
		push @wrong, "$what: expected $c->{expect}, got $r->{state}: $r->{message}";
	}
	elsif ($r->{state} eq 'ok' && $r->{wrote} eq 'true' && !$f->{writes})
	{
		push @wrong, "$what: succeeded and wrote, which it must not";
	}
}
is_deeply(\@wrong, [], 'every call ended in a clear error or its documented result')
  or diag(join("\n", @wrong));

my $writes = mutating_requests(requests_since($seq));
is(scalar @$writes, 0, 'no call sent a mutating request to the cloud')
  or diag(summarize_requests($writes));
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started,
	'the postmaster did not restart');
cmp_ok($took, '<', 60, 'the matrix takes less than a minute');

done_testing();
