
# Shared set-up of the peering integration tests: the fake cloud
# (test/fakecloud/fakecloud.py) and a cluster configured against it.
#
#   my $w = start_fake();                # starts the fake, returns world.json
#   my $node = new_node('main');         # cluster + extension + credentials
#   my $id = create_connection($node);   # peering_create(...) committed
#   wait_for_state($node, $id, 'ACTIVE', 60);
#
# The fake is stopped in an END block, pass or fail.  Nothing here sleeps a
# fixed time: every wait polls with a deadline.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).

package PeeringTest;

use strict;
use warnings FATAL => 'all';

use Carp;
use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(
  start_fake world fake_get fake_post fake_delete fake_world fake_seed
  cloud_http admin_token made_and_deleted_app
  fake_fault fake_clear_faults request_seq requests_since mutating_requests
  summarize_requests wait_for_request
  new_node set_credentials sql_error query_json conn create_args
  create_connection wait_for_state wait_for_step wait_for_setting
  reload_with poll_until events_of
  our_apps sps_of_app role_assignments_on customer_peerings aiven_connections
  custom_roles make_ca_file vnet_of grow_vnet remove_customer_peering
);

my $json = JSON::PP->new->canonical->allow_nonref;

my ($fake_h, $fake_out, $fake_err, $fake_dir);
my %world;

# ------------------------------------------------------------------
# The fake cloud
# ------------------------------------------------------------------

# Starts fakecloud.py in a temporary directory; returns world.json as a
# hash ref.  Dies if it is not ready within 60 s.
sub start_fake
{
	my (%opts) = @_;
	croak 'the fake cloud is already running' if $fake_h;

	my $script =
	  abs_path(dirname(__FILE__) . '/../test/fakecloud/fakecloud.py');
	$fake_dir = PostgreSQL::Test::Utils::tempdir('fakecloud');
	my @cmd = ('/usr/bin/python3', $script, '--dir', $fake_dir,
		'--port', '0');
	push @cmd, '--scenario', $opts{scenario} if $opts{scenario};
	$fake_out = '';
	$fake_err = '';
	$fake_h = IPC::Run::start(\@cmd, '<', \undef, '>', \$fake_out, '2>',
		\$fake_err);

	my $deadline = time + 60;
	while (1)
	{
		$fake_h->pump_nb;
		last
		  if $fake_out =~ /^fakecloud listening on (\S+)$/m
		  && -f "$fake_dir/world.json";
		die "fake cloud exited early:\n$fake_out\n$fake_err"
		  unless $fake_h->pumpable;
		die "fake cloud not ready after 60 s:\n$fake_out\n$fake_err"
		  if time > $deadline;
		usleep(50_000);
	}
	%world = %{ $json->decode(slurp_file("$fake_dir/world.json")) };
	note "fake cloud at $world{base_url}";
	return \%world;
}

END
{
	if ($fake_h)
	{
		# SIGTERM, then SIGKILL after 5 s: never leave it behind
		eval { $fake_h->kill_kill(grace => 5); };
		$fake_h = undef;
	}
}

sub world
{
	croak 'start_fake() first' unless %world;
	return \%world;
}

# One HTTP call to the fake (control API or a simulated service): curl,
# CA-verified.  Options: token (Authorization: Bearer), headers (array of
# "Name: value"), body (sent as JSON), form (hash, sent url-encoded).  Returns (status, decoded body or undef).
sub cloud_http
{
	my ($method, $path, %opts) = @_;
	my $w = world();
	my @cmd = (
		'curl', '-sS', '--max-time', '60', '--cacert', $w->{ca_file},
		'-X', $method);
	push @cmd, '-H', "Authorization: Bearer $opts{token}" if $opts{token};
	push @cmd, map { ('-H', $_) } @{ $opts{headers} // [] };
	if (defined $opts{body})
	{
		push @cmd, '-H', 'Content-Type: application/json', '--data-binary',
		  $json->encode($opts{body});
	}
	for my $k (sort keys %{ $opts{form} // {} })
	{
		push @cmd, '--data-urlencode', "$k=$opts{form}{$k}";
	}
	push @cmd, '-w', '\n%{http_code}', "$w->{base_url}$path";
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err)
	  or die "curl $method $path failed: $err";
	$out =~ s/\n(\d{3})\z//s or die "no HTTP status from curl: $out";
	return ($1, $out eq '' ? undef : $json->decode($out));
}

sub _fake_http
{
	my ($method, $path, $body) = @_;
	my ($status, $out) = cloud_http($method, $path, body => $body);
	die "$method $path: HTTP $status: " . $json->encode($out // '')
	  if $status >= 400;
	return $out;
}

# A multi-tenant application of that uniqueName made and deleted by hand
# as the admin would: it stays in the recycle bin, holding the name.
# Returns the application as Graph answered its creation.
sub made_and_deleted_app
{
	my ($unique_name) = @_;
	my $graph = admin_token('graph');
	my ($status, $app) = cloud_http(
		'PATCH',
		"/graph/v1.0/applications(uniqueName='$unique_name')",
		token => $graph,
		headers => ['Prefer: create-if-missing'],
		body => { displayName => 'made by hand', signInAudience => 'AzureADMultipleOrgs' });
	die "application made by hand: HTTP $status" unless $status == 201;
	($status) = cloud_http('DELETE', "/graph/v1.0/applications/$app->{id}", token => $graph);
	die "application deleted by hand: HTTP $status" unless $status == 204;
	return $app;
}

# An access token of the seeded admin principal for 'graph' or 'arm', as an
# operator working by hand would get one.
sub admin_token
{
	my ($api) = @_;
	my $w = world();
	my %scope = (
		graph => 'https://graph.microsoft.com/.default',
		arm => 'https://management.azure.com/.default');
	my ($status, $out) = cloud_http(
		'POST',
		"/login/$w->{tenant_id}/oauth2/v2.0/token",
		form => {
			grant_type => 'client_credentials',
			client_id => $w->{admin_client_id},
			client_secret => slurp_file($w->{admin_secret_file}),
			scope => $scope{$api} });
	die "admin token for $api: HTTP $status" if $status != 200;
	return $out->{access_token};
}

sub fake_get    { return _fake_http('GET',    $_[0]); }
sub fake_post   { return _fake_http('POST',   $_[0], $_[1] // {}); }
sub fake_delete { return _fake_http('DELETE', $_[0]); }

sub fake_world { return fake_get('/_fake/world'); }
sub fake_seed  { return fake_post('/_fake/seed', $_[0]); }

# Injects a fault ({method, path, status, retry_after, delay_ms, ...});
# returns its id.
sub fake_fault        { return fake_post('/_fake/faults', $_[0])->{id}; }
sub fake_clear_faults { fake_delete('/_fake/faults'); return; }

# The request log, seq of its last entry (0 when empty).
sub request_seq
{
	my $r = fake_get('/_fake/requests')->{requests};
	return @$r ? $r->[-1]{seq} : 0;
}

sub requests_since
{
	my ($seq) = @_;
	return fake_get('/_fake/requests?since=' . ($seq // 0))->{requests};
}

# Requests that change something remotely: anything but reads and token
# requests.
sub mutating_requests
{
	my ($reqs) = @_;
	return [
		grep {
			my $m = $_->{method};
			!($m eq 'GET' || $m eq 'HEAD'
				|| ($m eq 'POST' && $_->{path} =~ m{/oauth2/v2\.0/token$}))
		} @$reqs
	];
}

# "METHOD /path" with ids replaced, counted: for diag().
sub summarize_requests
{
	my ($reqs) = @_;
	my %count;
	for my $r (@$reqs)
	{
		my $p = $r->{path};
		$p =~ s/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/{id}/g;
		$p =~ s{(uniqueName=')[^']*'}{$1...'}g;
		$p =~ s{/login/[^/]+/}{/login/{tenant}/};
		$count{"$r->{method} $p -> " . ($r->{status} // 'pending')}++;
	}
	return join("\n",
		map { sprintf('%4d  %s', $count{$_}, $_) } sort keys %count);
}

# Waits until a request matching $match (a sub on the entry) has arrived
# (status may still be null: the fake logs on arrival); returns it.
sub wait_for_request
{
	my ($since, $match, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
	while (time < $deadline)
	{
		for my $r (@{ requests_since($since) })
		{
			return $r if $match->($r);
		}
		usleep(50_000);
	}
	return undef;
}

# ------------------------------------------------------------------
# World queries (on a /_fake/world dump)
# ------------------------------------------------------------------

# Applications this extension created (uniqueName peering-...).
sub our_apps
{
	my ($w) = @_;
	return [ grep { ($_->{uniqueName} // '') =~ /^peering-/ }
		  @{ $w->{applications} } ];
}

sub sps_of_app
{
	my ($w, $app_id, $tenant) = @_;
	return [
		grep {
			lc($_->{appId}) eq lc($app_id)
			  && (!defined $tenant || lc($_->{tenant}) eq lc($tenant))
		} @{ $w->{servicePrincipals} }
	];
}

sub role_assignments_on
{
	my ($w, $scope) = @_;
	return [ grep { lc($_->{scope}) eq lc($scope) }
		  @{ $w->{roleAssignments} } ];
}

sub custom_roles
{
	my ($w) = @_;
	return [ grep { $_->{type} eq 'CustomRole' } @{ $w->{roleDefinitions} } ];
}

# Peerings created on a customer VNet (by us, not the provider's reverse).
sub customer_peerings
{
	my ($w, $vnet_name) = @_;
	my $sub = world()->{subscription_id};
	my @p;
	for my $v (@{ $w->{virtualNetworks} })
	{
		next unless lc($v->{name}) eq lc($vnet_name)
		  && lc($v->{subscription}) eq lc($sub);
		push @p, grep { ($_->{owner} // 'customer') eq 'customer' }
		  @{ $v->{peerings} };
	}
	return \@p;
}

# The customer's Azure peering of that name goes away behind the
# extension's back, as an admin can delete it.
sub remove_customer_peering
{
	my ($name) = @_;
	my $w = world();
	fake_seed(
		{
			remove_peerings => [
				{
					subscription => $w->{subscription_id},
					resource_group => $w->{resource_group},
					vnet => $w->{vnet_name},
					name => $name
				}
			]
		});
	return;
}

# The VNet of that ARM id in a /_fake/world dump.
sub vnet_of
{
	my ($w, $vid) = @_;
	my ($v) = grep { lc $_->{id} eq lc $vid } @{ $w->{virtualNetworks} };
	return $v;
}

# The VNet of that ARM id gets one more address prefix, as its admin can
# do while it is peered.
sub grow_vnet
{
	my ($vid, $prefix) = @_;
	my ($sub, $rg, $name) = $vid =~
	  m{^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/virtualNetworks/([^/]+)$}i
	  or croak "not a VNet id: $vid";
	fake_seed(
		{
			address_spaces => [
				{
					subscription => $sub,
					resource_group => $rg,
					name => $name,
					address_prefixes =>
					  [ @{ vnet_of(fake_world(), $vid)->{address_prefixes} }, $prefix ]
				}
			]
		});
	return;
}

# Aiven connections of the project VPC to a VNet (all states unless
# $live: then without DELETED).
sub aiven_connections
{
	my ($w, $vnet_name, $live) = @_;
	my $W = world();
	my @c;
	for my $p (@{ $w->{aiven}{projects} })
	{
		next unless $p->{name} eq $W->{project};
		for my $v (@{ $p->{vpcs} })
		{
			next unless $v->{project_vpc_id} eq $W->{project_vpc_id};
			push @c, grep {
				(!defined $vnet_name || lc($_->{peer_vpc}) eq lc($vnet_name))
				  && (!$live || $_->{state} ne 'DELETED')
			} @{ $v->{peering_connections} // [] };
		}
	}
	return \@c;
}

# ------------------------------------------------------------------
# Clusters
# ------------------------------------------------------------------

# A started cluster with the worker, pointed at the fake, the extension
# created and the credentials 'azure' and 'aiven' set.
# Options: allows_streaming, restart_after_crash, debug5, conf (extra
# postgresql.conf text), no_extension.
sub new_node
{
	my ($name, %opts) = @_;
	my $w = world();
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opts{allows_streaming} ? 1 : 0);
	my $conf = <<"CONF";
shared_preload_libraries = 'peering'
peering.database = 'postgres'
peering.login_url = '$w->{base_url}/login'
peering.graph_url = '$w->{base_url}/graph'
peering.arm_url = '$w->{base_url}/arm'
peering.aiven_url = '$w->{base_url}/aiven'
peering.ca_file = '$w->{ca_file}'
peering.poll_interval = '1s'
CONF
	$conf .= "restart_after_crash = on\n" if $opts{restart_after_crash};
	$conf .= "log_min_messages = debug5\n" if $opts{debug5};
	$conf .= $opts{conf} if $opts{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	unless ($opts{no_extension})
	{
		$node->safe_psql('postgres', 'CREATE EXTENSION peering');
		set_credentials($node);
	}
	return $node;
}

sub set_credentials
{
	my ($node) = @_;
	my $w = world();
	$node->safe_psql(
		'postgres', qq{
SELECT peering_credential_set('azure', 'azure_client_secret',
	secret_file => '$w->{admin_secret_file}',
	tenant_id => '$w->{tenant_id}', client_id => '$w->{admin_client_id}');
SELECT peering_credential_set('aiven', 'aiven_token',
	secret_file => '$w->{aiven_token_file}');
});
	return;
}

# Runs $sql expecting an error; returns (SQLSTATE, stderr).  SQLSTATE is
# undef when the statement succeeded.
sub sql_error
{
	my ($node, $sql, $db) = @_;
	my ($out, $err) = ('', '');
	$node->psql(
		$db // 'postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1);
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($state, $err);
}

# A query returning one json value per row, decoded.
sub query_json
{
	my ($node, $sql) = @_;
	my $out = $node->safe_psql('postgres', $sql);
	return [ map { $json->decode($_) } grep { length } split /\n/, $out ];
}

# The connection row as a hash ref (no refresh).
sub conn
{
	my ($node, $id) = @_;
	my $r = query_json($node,
		"SELECT row_to_json(c) FROM peering.connections c WHERE id = $id");
	return $r->[0];
}

sub events_of
{
	my ($node, $id) = @_;
	return query_json($node,
		"SELECT row_to_json(e) FROM peering.events e WHERE connection_id = $id ORDER BY id"
	);
}

# SQL argument list of peering_create for a VNet of the seeded world;
# %over replaces named arguments.
sub create_args
{
	my (%over) = @_;
	my $w = world();
	my %a = (
		project => $w->{project},
		project_vpc_id => $w->{project_vpc_id},
		subscription_id => $w->{subscription_id},
		resource_group => $w->{resource_group},
		vnet_name => $w->{vnet_name},
		%over);
	return join(', ',
		map { "$_ => " . (defined $a{$_} ? "'$a{$_}'" : 'NULL') }
		  grep { exists $a{$_} }
		  qw(project project_vpc_id subscription_id resource_group vnet_name
		  peering_name azure_credential aiven_credential app_role));
}

# peering_create(...) committed; returns the id.
sub create_connection
{
	my ($node, %over) = @_;
	return $node->safe_psql('postgres',
		'SELECT id FROM peering_create(' . create_args(%over) . ')');
}

sub _diag_conn
{
	my ($node, $id) = @_;
	my $row = conn($node, $id);
	diag('connection: ' . $json->encode($row));
	diag(join("\n",
			map { "event: $_->{at} $_->{kind} [$_->{step}] "
				  . ($_->{message} // '') }
			  @{ events_of($node, $id) }));
	return;
}

# Polls (poll_query_until) until the connection's state is $state or it
# failed; returns the state reached (diagnostics when not $state).
sub wait_for_state
{
	my ($node, $id, $state, $timeout) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $timeout // 60;
	$node->poll_query_until('postgres',
		"SELECT state IS NOT DISTINCT FROM '$state' OR failed FROM peering.connections WHERE id = $id"
	);
	my $row = conn($node, $id);
	_diag_conn($node, $id) if ($row->{state} // '') ne $state;
	return $row->{state};
}

# Same for a step (e.g. 'deleted').
sub wait_for_step
{
	my ($node, $id, $step, $timeout) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $timeout // 60;
	$node->poll_query_until('postgres',
		"SELECT step = '$step' OR failed FROM peering.connections WHERE id = $id"
	);
	my $row = conn($node, $id);
	_diag_conn($node, $id) if $row->{step} ne $step;
	return $row->{step};
}

# Waits until new sessions see a setting's value (after a reload).
sub wait_for_setting
{
	my ($node, $name, $value, $timeout) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $timeout // 30;
	return $node->poll_query_until('postgres',
		"SELECT current_setting('$name') = '$value'");
}

# ALTER SYSTEM SET (or RESET when $value is undef) + reload, then waits
# until new sessions see $expect.
sub reload_with
{
	my ($node, $name, $value, $expect) = @_;
	if (defined $value)
	{
		$node->safe_psql('postgres',
			"ALTER SYSTEM SET $name = '$value'; SELECT pg_reload_conf();");
	}
	else
	{
		$node->safe_psql('postgres',
			"ALTER SYSTEM RESET $name; SELECT pg_reload_conf();");
	}
	return wait_for_setting($node, $name, $expect // $value);
}

# Calls $check until it returns true or $timeout seconds pass; returns the
# last value.
sub poll_until
{
	my ($timeout, $check, $interval) = @_;
	my $deadline = time + $timeout;
	my $v;
	while (1)
	{
		$v = $check->();
		return $v if $v || time > $deadline;
		usleep($interval // 100_000);
	}
}

# A CA certificate unrelated to the fake's (for the wrong-CA test).
sub make_ca_file
{
	my ($dir) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
			'-keyout', "$dir/wrong-ca.key", '-out', "$dir/wrong-ca.crt",
			'-days', '1', '-subj', '/CN=peering wrong test CA'
		],
		'<', \undef, '>', \$out, '2>', \$err)
	  or die "openssl failed: $err";
	return "$dir/wrong-ca.crt";
}

1;
