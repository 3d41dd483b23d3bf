
# A database owner who is not a superuser (usual on managed servers) plants
# operators and functions where the extension might pick them up: in public
# before CREATE EXTENSION (bound into a view then), in a schema put first in
# the database's search_path (read by the worker when it connects, and by
# every session), and as a temporary type.  Each one records its calls and
# tries to make the owner a superuser, which only succeeds when a superuser
# runs it.  Then the extension is driven through its paths: the worker to
# ACTIVE before and after the database's search_path changed, CALL
# peering_run() from a session whose search_path starts with the planted
# schema, peering.progress and every entry point.  Nothing planted may run,
# and no object of the extension may depend on an operator or function
# outside pg_catalog.  peering_vpcs is for admins, and checks the project
# before calling Aiven.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
use strict;
use warnings FATAL => 'all';
use feature 'state';
use FindBin;
use lib $FindBin::RealBin;

use PeeringTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The test's own sessions keep a search_path without the planted schema, so
# that only the extension's statements could reach a planted object.
$ENV{PGOPTIONS} = '-c search_path=pg_catalog,public';
my $evil_path = 'evil, pg_catalog, public';

my $w = start_fake();
my $node = new_node('dbowner', no_extension => 1);

# Runs $sql as $user in a session whose search_path is $path (the test's
# own by default); returns (SQLSTATE or undef, stdout, stderr).
sub session
{
	my ($user, $sql, $path) = @_;
	my ($out, $err) = ('', '');
	$path //= 'pg_catalog, public';
	$node->psql(
		'postgres', "\\set VERBOSITY verbose\nSET search_path = $path;\n$sql",
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1,
		extra_params => [ '-U', $user ]);
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($state, $out, $err);
}

# The same, dying unless it succeeded; returns stdout.
sub ok_session
{
	my ($user, $sql, $path) = @_;
	my ($state, $out, $err) = session($user, $sql, $path);
	die "as $user: $sql\n$err" if defined $state;
	return $out;
}

# ------------------------------------------------------------------
# The database belongs to dbowner, who plants before CREATE EXTENSION
# ------------------------------------------------------------------

$node->safe_psql(
	'postgres', q{
CREATE ROLE dbowner LOGIN NOSUPERUSER;
ALTER DATABASE postgres OWNER TO dbowner;
});

# An operator in $schema whose function calls public.trap, then does what
# pg_catalog's does.
sub planted_operator
{
	my ($schema, $op, $left, $right, $returns) = @_;
	state $n = 0;
	$n++;
	return qq{
CREATE FUNCTION $schema.trap_op_$n(a $left, b $right) RETURNS $returns
LANGUAGE plpgsql SET search_path = pg_catalog AS \$\$
BEGIN
	PERFORM public.trap('$schema.$op($left, $right)');
	RETURN a OPERATOR(pg_catalog.$op) b;
END
\$\$;
CREATE OPERATOR $schema.$op (LEFTARG = $left, RIGHTARG = $right, FUNCTION = $schema.trap_op_$n);
};
}

# The same for a function of pg_catalog, $args being its (name type) list.
sub planted_function
{
	my ($schema, $name, $args, $returns) = @_;
	my $pass = join(', ', map { (split / /)[0] } split /, /, $args);
	return qq{
CREATE FUNCTION $schema.$name($args) RETURNS $returns
LANGUAGE plpgsql SET search_path = pg_catalog AS \$\$
BEGIN
	PERFORM public.trap('$schema.$name($args)');
	RETURN pg_catalog.$name($pass);
END
\$\$;
};
}

# Every planted object calls public.trap: it counts the call in a sequence
# (which a rollback does not undo), records who ran it, and tries to make
# dbowner a superuser.  In public: 'text' || bigint has no exact match in
# pg_catalog, so an expression like 'peering_retry(' || c.id chooses this
# one; the others have one there and must not be chosen.
ok_session(
	'dbowner', q{
CREATE TABLE public.trap_calls (
	trap text NOT NULL,
	current_role_name name NOT NULL,
	session_role_name name NOT NULL,
	became_superuser boolean NOT NULL
);
GRANT SELECT, INSERT ON public.trap_calls TO PUBLIC;
CREATE SEQUENCE public.trap_hits;
GRANT USAGE, SELECT ON SEQUENCE public.trap_hits TO PUBLIC;

CREATE FUNCTION public.trap(what pg_catalog.text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
	escalated boolean := true;
BEGIN
	PERFORM pg_catalog.nextval('public.trap_hits');
	BEGIN
		ALTER ROLE dbowner SUPERUSER;
	EXCEPTION WHEN OTHERS THEN
		escalated := false;
	END;
	INSERT INTO public.trap_calls VALUES (what, current_user, session_user, escalated);
END
$$;
}
	  . planted_operator('public', '||', 'pg_catalog.text', 'bigint', 'pg_catalog.text')
	  . planted_operator('public', '=', 'pg_catalog.text', 'pg_catalog.text', 'boolean')
	  . planted_operator('public', '<>', 'pg_catalog.text', 'pg_catalog.text', 'boolean')
	  . planted_operator('public', '>', 'timestamptz', 'timestamptz', 'boolean')
	  . planted_operator('public', '-', 'timestamptz', 'timestamptz', 'interval')
	  . planted_function('public', 'now', '', 'timestamptz')
	  . planted_function('public', 'lower', 's pg_catalog.text', 'pg_catalog.text')
	  . planted_function('public', 'round', 'x numeric', 'numeric'));

$node->safe_psql('postgres', 'CREATE EXTENSION peering');
set_credentials($node);
$node->safe_psql(
	'postgres', q{
CREATE ROLE reader LOGIN IN ROLE peering_reader;
CREATE ROLE admin LOGIN IN ROLE peering_admin;
});

my $first = create_connection($node);
is(wait_for_state($node, $first, 'ACTIVE', 90),
	'ACTIVE', 'the worker takes a peering to ACTIVE');

# ------------------------------------------------------------------
# A schema first in the database's search_path, then the worker
# reconnects
# ------------------------------------------------------------------

# Operators and functions of the exact types the extension's statements
# use: with evil before pg_catalog they win over pg_catalog's.
ok_session(
	'dbowner', q{
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
}
	  . planted_operator('evil', '=', 'name', 'name', 'boolean')
	  . planted_operator('evil', '=', 'bigint', 'bigint', 'boolean')
	  . planted_operator('evil', '=', 'pg_catalog.text', 'pg_catalog.text', 'boolean')
	  . planted_operator('evil', '<>', 'pg_catalog.text', 'pg_catalog.text', 'boolean')
	  . planted_operator('evil', '<=', 'timestamptz', 'timestamptz', 'boolean')
	  . planted_operator('evil', '||', 'pg_catalog.text', 'bigint', 'pg_catalog.text')
	  . planted_function('evil', 'now', '', 'timestamptz')
	  . planted_function('evil', 'lower', 's pg_catalog.text', 'pg_catalog.text')
	  . planted_function('evil', 'pg_backend_pid', '', 'integer')
	  . q{
ALTER DATABASE postgres SET search_path = evil, pg_catalog;
});

# The worker connects again, with the database's settings.
$node->restart;
my $second = create_connection($node, vnet_name => $w->{second_vnet_name});
is(wait_for_state($node, $second, 'ACTIVE', 90),
	'ACTIVE', 'the worker restarted under the new search_path takes another peering to ACTIVE');

# ------------------------------------------------------------------
# CALL peering_run() from a session whose search_path starts with evil
# ------------------------------------------------------------------

reload_with($node, 'peering.worker_enabled', 'off');
ok_session('admin', "SELECT peering_delete($second);", $evil_path);
my $calls = 0;
my $path_after = '';
my $done = poll_until(
	120,
	sub {
		$calls++;
		$path_after = ok_session('admin', "CALL peering_run();\nSHOW search_path;", $evil_path);
		return $node->safe_psql('postgres',
			"SELECT step = 'deleted' FROM peering.connections WHERE id = $second") eq 't';
	},
	250_000);
ok($done, "CALL peering_run() from that session tears a peering down ($calls calls)");
is($path_after, $evil_path, 'CALL peering_run() leaves the caller\'s search_path as it was');
is(ok_session('postgres', "CALL peering_run();\nSHOW search_path;", $evil_path),
	$evil_path, 'also for a superuser');

# ------------------------------------------------------------------
# peering.progress of a failed connection, and every entry point
# ------------------------------------------------------------------

ok_session('admin', q{SELECT peering_credential_set('bait', 'aiven_token', secret => 'bait-token');},
	$evil_path);
my $failed = $node->safe_psql(
	'postgres', qq{
INSERT INTO peering.connections (project, project_vpc_id, subscription_id,
       resource_group, vnet_name, peering_name, azure_credential, aiven_credential,
       app_credential, failed, next_attempt_at, last_error)
VALUES ('$w->{project}', '$w->{project_vpc_id}', '$w->{subscription_id}',
        '$w->{resource_group}', 'vnet-bait', 'to-aiven', 'azure', 'aiven',
        'bait', true, NULL, 'stopped by the test')
RETURNING id});

my $fix = "a fix, then peering_retry($failed)";
is(ok_session('reader', "SELECT waiting_for FROM peering.progress ORDER BY id DESC LIMIT 1;"),
	$fix, 'a reader reads peering.progress of a failed connection');
is($node->safe_psql('postgres',
		"SELECT waiting_for FROM peering.progress ORDER BY id DESC LIMIT 1"),
	$fix, 'so does the superuser');
my ($state, $out, $err) =
  session('reader', "SELECT peering_wait($failed, 'ACTIVE', '1 s');", $evil_path);
like($err, qr/waiting for \Q$fix\E/, 'peering_wait reads peering.progress as the extension owner');

# A row waiting on the remote side within its budget says what it waits
# for, as a row with no retry class; other classes say a retry.  (The
# check constraint is dropped in the rolled-back transaction, whether or
# not this version's accepts 'waiting' already.)
is( $node->safe_psql(
		'postgres', qq{
BEGIN;
DO \$\$
DECLARE
	k name;
BEGIN
	FOR k IN SELECT conname FROM pg_constraint
			  WHERE conrelid = 'peering.connections'::regclass AND contype = 'c'
				AND pg_get_constraintdef(oid) LIKE '%retry_class%'
	LOOP
		EXECUTE format('ALTER TABLE peering.connections DROP CONSTRAINT %I', k);
	END LOOP;
END
\$\$;
UPDATE peering.connections
   SET retry_class = 'waiting', retry_since = now(), retry_until = now() + interval '10 min',
       claimed_by = NULL, claimed_until = NULL
 WHERE id = $first;
SELECT waiting_for, retry_until IS NOT NULL FROM peering.progress WHERE id = $first;
UPDATE peering.connections SET retry_class = 'transient' WHERE id = $first;
SELECT waiting_for FROM peering.progress WHERE id = $first;
ROLLBACK;
}),
	"the next re-check|t\na retry after a transient failure",
	'peering.progress: a waiting row waits for its step, a retrying row for a retry');

# Every entry point once, from sessions whose search_path starts with evil.
ok_session(
	'reader', qq{
SELECT count(*) FROM peering_credentials();
SELECT count(*) FROM peering_status();
SELECT id FROM peering_status($first, refresh => false);
}, $evil_path);
ok_session(
	'admin', qq{
SELECT id FROM peering_status($first);
SELECT count(*) FROM peering_plan(@{[ create_args(vnet_name => $w->{second_vnet_name}) ]});
SELECT count(*) FROM peering_vpcs('$w->{project}');
}, $evil_path);
($state) = session('admin', 'SELECT peering_create(' . create_args() . ');', $evil_path);
is($state, '42710', 'peering_create: a duplicate is refused');
($state) = session(
	'admin', "SELECT peering_adopt('$w->{project}', '$w->{project_vpc_id}',"
	  . " '$w->{subscription_id}', '$w->{resource_group}', '$w->{vnet_name}');",
	$evil_path);
is($state, '42710', 'peering_adopt: a duplicate is refused');

# The credential trigger, with a temporary type shadowing text: the error
# rolls the call record back, not the count of calls.
my $hits_sql = 'SELECT last_value, is_called FROM public.trap_hits';
my $hits = $node->safe_psql('postgres', $hits_sql);
($state, $out, $err) = session(
	'admin', q{
CREATE FUNCTION pg_temp.seen(v pg_catalog.text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.trap('pg_temp.text');
	RETURN true;
END
$$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.seen(VALUE));
SELECT peering_credential_drop('bait');
}, $evil_path);
is($state, '2BP01', 'peering_credential_drop: a credential in use is refused by the trigger')
  or diag($err);
is($node->safe_psql('postgres', $hits_sql), $hits,
	'the trigger resolved no type in the caller\'s temporary schema');

ok_session(
	'admin', qq{
SELECT step FROM peering_retry($failed);
SELECT desired FROM peering_delete($failed);
}, $evil_path);

# ------------------------------------------------------------------
# peering_vpcs: admins only, and the project checked before any request
# ------------------------------------------------------------------

($state) = session('reader', "SELECT * FROM peering_vpcs('$w->{project}');");
is($state, '42501', 'peering_vpcs: a reader may not call Aiven');
my $seq = request_seq();
for my $bad ("'..'", "'a/b'", "''", "'" . ('a' x 64) . "'", "'Acme'", "'a?b=c'")
{
	($state, $out, $err) = session('admin', "SELECT * FROM peering_vpcs($bad);");
	is($state, '22023', "peering_vpcs($bad) is refused");
	like($err, qr/invalid project/, "peering_vpcs($bad): the message names the project");
}
($state, $out, $err) = session('admin', 'SELECT * FROM peering_vpcs(NULL);');
is($state, '22004', 'peering_vpcs(NULL) is refused');
like($err, qr/argument "project" must not be null/, 'peering_vpcs(NULL): the message names it');
is_deeply(requests_since($seq), [], 'no bad project reached the fake');

# ------------------------------------------------------------------
# Nothing planted ran; nothing of the extension depends on it
# ------------------------------------------------------------------

is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'"),
	'f', 'dbowner is not a superuser');
is($node->safe_psql('postgres', 'SELECT is_called FROM public.trap_hits'),
	'f', 'no planted object was called')
  or diag($node->safe_psql('postgres', 'SELECT * FROM public.trap_calls'));
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.trap_calls'),
	'0', 'the call record is empty');

# The extension's members, the rules of its views, the constraints,
# defaults, triggers and indexes of its tables: what they depend on.
my $dependencies = q{
WITH members AS (
	SELECT classid, objid FROM pg_depend
	 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'peering')
), relations AS (
	SELECT objid AS relid FROM members WHERE classid = 'pg_class'::regclass
), parts AS (
	SELECT classid, objid FROM members
	UNION ALL
	SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r JOIN relations ON ev_class = relid
	UNION ALL
	SELECT 'pg_constraint'::regclass, k.oid FROM pg_constraint k JOIN relations ON conrelid = relid
	UNION ALL
	SELECT 'pg_attrdef'::regclass, d.oid FROM pg_attrdef d JOIN relations ON adrelid = relid
	UNION ALL
	SELECT 'pg_trigger'::regclass, t.oid FROM pg_trigger t JOIN relations ON tgrelid = relid
	UNION ALL
	SELECT 'pg_class'::regclass, i.indexrelid FROM pg_index i JOIN relations ON indrelid = relid
), referenced AS (
	SELECT p.classid, p.objid, d.refclassid, d.refobjid,
	       coalesce(f.pronamespace, o.oprnamespace) AS nsp,
	       EXISTS (SELECT FROM members m
	                WHERE m.classid = d.refclassid AND m.objid = d.refobjid) AS member
	  FROM parts p
	  JOIN pg_depend d ON d.classid = p.classid AND d.objid = p.objid
	  LEFT JOIN pg_proc f ON d.refclassid = 'pg_proc'::regclass AND f.oid = d.refobjid
	  LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
)
};
is( $node->safe_psql(
		'postgres', $dependencies . q{
SELECT string_agg(pg_describe_object(classid, objid, 0) || ' uses '
                  || pg_describe_object(refclassid, refobjid, 0), E'\n' ORDER BY 1)
  FROM referenced
 WHERE refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
   AND nsp <> 'pg_catalog'::regnamespace AND NOT member}),
	'', 'no object of the extension depends on an operator or function outside pg_catalog');
cmp_ok(
	$node->safe_psql(
		'postgres', $dependencies . q{
SELECT count(*) FROM referenced
 WHERE classid = 'pg_rewrite'::regclass
   AND refobjid = 'peering.connections'::regclass}),
	'>', 0, 'the query sees what the view depends on (pg_catalog\'s built-ins are pinned, not listed)');

# Every function of the extension but peering_run() (a procedure that
# commits, so it pins the search_path in C) has its search_path fixed.
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(p.oid::regprocedure::text || ' ' || coalesce(p.proconfig::text, '-'), E'\n')
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'peering'
 WHERE p.prokind <> 'p'
   AND p.proconfig IS DISTINCT FROM '{"search_path=pg_catalog, pg_temp"}'}),
	'', 'every function of the extension runs with search_path pg_catalog, pg_temp');

$node->stop;
done_testing();
