# peering_plan(): the pre-flight, then one row per step saying what exists,
# what would be created or deleted, and what blocks it.  It makes no
# mutating remote call (the fake's request log shows only reads and token
# requests) and writes no row.
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
my $node = new_node('plan');

# step => "action: detail" of each row (a step may have two rows)
sub plan_of
{
	my (%over) = @_;
	my %rows;
	for (split /\n/,
		$node->safe_psql('postgres',
			'SELECT step, action, detail FROM peering_plan(' . create_args(%over) . ')'))
	{
		my ($step, $action, $detail) = split /\|/, $_, 3;
		push @{ $rows{$step} }, "$action: $detail";
	}
	return \%rows;
}

sub rows_in_table
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM peering.connections');
}

# A first peering: everything is to create.
my $seq = request_seq();
my $plan = plan_of();
like($plan->{app}[0], qr/^create: multi-tenant application peering-/, 'app: create');
like($plan->{app_sp}[0], qr/^create:/, 'app_sp: create');
like($plan->{app_role}[0], qr/^create: custom role "peering VNet peering writer/, 'app_role: create');
like($plan->{provider_sp}[0], qr/^create: service principal of the provider's application/,
	'provider_sp: create (the fake\'s customer tenant has none)');
like($plan->{peer_role}[0], qr/^create:/, 'peer_role: create');
like($plan->{aiven_request}[0], qr/^create: Aiven connection/, 'aiven_request: create');
like($plan->{app_secret}[0], qr/^create: a secret valid for 3600 s/, 'app_secret: a short-lived secret');
like($plan->{azure_peering}[0], qr/^create: peering aiven-/, 'azure_peering: create');
like($plan->{app_secret_remove}[0], qr/^delete:/, 'app_secret_remove: delete');
my @writes = grep {
	$_->{method} ne 'GET' && $_->{path} !~ m{/oauth2/v2\.0/token$}
} @{ requests_since($seq) };
is(scalar @writes, 0, 'peering_plan made no mutating remote call')
  or diag(summarize_requests(\@writes));
is(rows_in_table(), '0', 'and wrote no row');

# Once a peering of the subscription exists, its shared objects exist.
my $id = create_connection($node);
is(wait_for_state($node, $id, 'ACTIVE', 60), 'ACTIVE', 'a first peering is ACTIVE');
$plan = plan_of();
like($plan->{preflight}[0], qr/^blocked: a peering connection of virtual network "vnet-app" with project VPC .* already exists/,
	'the same peering again: blocked by the pre-flight');
$plan = plan_of(vnet_name => $w->{second_vnet_name});
like($plan->{app_role}[0], qr/^exists: custom role "peering VNet peering writer/, 'another VNet: app_role exists');
like($plan->{peer_role}[0], qr/^exists:/, 'peer_role exists');
like($plan->{provider_sp}[0], qr/^exists: service principal/, 'provider_sp exists');
like($plan->{peer_role_assignment}[0], qr/^create:/,
	'the provider\'s role on the other VNet: create');

# Conflicts the pre-flight sees are blocked rows, not errors.
$plan = plan_of(vnet_name => $w->{overlap_vnet_name});
like($plan->{preflight}[0], qr/^blocked: .*overlap/i, 'an overlapping address space: blocked');
$plan = plan_of(vnet_name => 'vnet-missing');
like($plan->{preflight}[0], qr/^blocked: virtual network "vnet-missing" does not exist/,
	'a missing VNet: blocked');

# A soft-deleted application holding the uniqueName would be purged.
$node->safe_psql('postgres', "SELECT peering_delete($id)");
is(wait_for_step($node, $id, 'deleted', 60), 'deleted', 'the first peering is deleted');
my $row = conn($node, $id);
my $app = made_and_deleted_app($row->{app_unique_name});
$plan = plan_of();
like($plan->{app}[0], qr/^delete: permanently delete application $app->{id}, which holds the uniqueName/,
	'a deleted application holding the name: delete it');
like($plan->{app}[1], qr/^create:/, 'then create the application');

done_testing();
