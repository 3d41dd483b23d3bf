# README's troubleshooting table and the rule table of src/remote.c say the
# same: every rule has its row (service, HTTP status, remote code and marker,
# SQLSTATE, retry class) in the same order, and no row describes a rule that
# does not exist.  The prose columns are free.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
use strict;
use warnings FATAL => 'all';
use FindBin;

use PostgreSQL::Test::Utils;
use Test::More;

my $top = "$FindBin::RealBin/..";
my $remote = slurp_file("$top/src/remote.c");
my $readme = slurp_file("$top/README.md");

# SQLSTATEs by ERRCODE_ name, from the server headers we compile against.
my $pg_config = $ENV{PG_CONFIG} // '/usr/lib/postgresql/15/bin/pg_config';
chomp(my $incdir = `$pg_config --includedir-server`);
my %sqlstate;
for (split /\n/, slurp_file("$incdir/utils/errcodes.h"))
{
	$sqlstate{$1} = join('', $2, $3, $4, $5, $6)
	  if /^#define (ERRCODE_\w+) MAKE_SQLSTATE\('(.)','(.)','(.)','(.)','(.)'\)/;
}
cmp_ok(scalar keys %sqlstate, '>', 200, 'SQLSTATEs read from errcodes.h');

my %service = (
	'ANY_SERVICE' => 'any',
	'SERVICE_LOGIN' => 'Entra ID token',
	'SERVICE_GRAPH' => 'Graph',
	'SERVICE_ARM' => 'ARM',
	'SERVICE_AIVEN' => 'Aiven');
my %status = (
	HTTP_4XX => '4xx',
	HTTP_5XX => '5xx',
	HTTP_ANY => 'any',
	NO_RESPONSE => 'none');
my %retry = (
	REMOTE_RETRY_NEVER => 'no',
	REMOTE_RETRY_TRANSIENT => 'transient',
	REMOTE_RETRY_PROPAGATION => 'replication',
	REMOTE_RETRY_THROTTLING => 'throttling');

# The rules: the initializers of remote_rules[], comments removed.
my ($table) = $remote =~ /static const RemoteRule remote_rules\[\] = \{(.*?)\n\};/s
  or BAIL_OUT('remote_rules[] not found in src/remote.c');
$table =~ s{/\*.*?\*/}{}gs;
my @rules;
while ($table =~ /\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g)
{
	my @tok = map { s/^\s+|\s+$//gr } ($1 =~ /\s*("(?:[^"\\]|\\.)*"|[^,]+)/g);
	my $svc = $service{ shift @tok } // BAIL_OUT("unknown service in rule: $1");
	my $st = shift @tok;
	$st = "$st–" . shift(@tok) if $st =~ /^\d+$/;
	$st = $status{$st} // ($st =~ s/^HTTP\((\d+)\)$/$1/r);
	my ($code, $errcode, undef, undef, $class, $marker) = @tok;
	$code = $code eq 'NULL' ? '—' : '`' . ($code =~ s/^"|"$//gr) . '`';
	$code .= ' with “' . ($marker =~ s/^"\s*|"$//gr) . '”' if $marker && $marker ne 'NULL';
	push @rules,
	  join(' | ', $svc, $st, $code,
		$sqlstate{$errcode} // BAIL_OUT("unknown $errcode"),
		$retry{$class} // BAIL_OUT("unknown $class"));
}
cmp_ok(scalar @rules, '>', 50, scalar(@rules) . ' rules read from src/remote.c');

# The rows of README's table under "## Troubleshooting".
my ($section) = $readme =~ /^## Troubleshooting\n(.*?)^## /ms
  or BAIL_OUT('no Troubleshooting section in README.md');
my @rows;
for my $line (split /\n/, $section)
{
	next unless $line =~ /^\| (?!service |---)/;
	my @cell = split /\s*\|\s*/, $line;
	shift @cell;
	push @rows, join(' | ', @cell[ 0 .. 4 ]);
}

is(scalar @rows, scalar @rules, 'one README row per rule');
for my $i (0 .. $#rules)
{
	is($rows[$i] // '(missing)', $rules[$i], "rule " . ($i + 1) . ": $rules[$i]");
}

done_testing();
