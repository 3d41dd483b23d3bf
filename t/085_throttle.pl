# ARM throttles per subscription, and so does the engine: a 429 on a write
# of one peering holds every request to that subscription (another
# peering's too) for its Retry-After, while a peering in another
# subscription goes on.
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
my $node = new_node('throttle');

# A second subscription, in another tenant, with a VNet and a credential.
my $sub_b = $w->{other_subscription_id};
fake_seed(
	{
		vnets => [
			{
				subscription => $sub_b,
				tenant => $w->{other_tenant_id},
				resource_group => 'rg-other',
				name => 'vnet-other',
				address_prefixes => ['10.50.0.0/16']
			}
		]
	});
$node->safe_psql('postgres',
	"SELECT peering_credential_set('azure_other', 'azure_client_secret',"
	  . " secret_file => '$w->{admin_secret_file}', tenant_id => '$w->{other_tenant_id}',"
	  . " client_id => '$w->{admin_client_id}')");

my $retry_after = 4;
my $seq = request_seq();
fake_fault(
	{
		method => 'PUT',
		path => "/arm/subscriptions/$w->{subscription_id}/.*/roleAssignments/",
		status => 429,
		retry_after => $retry_after,
		count => 1
	});
# one transaction: the pre-flights (in this session) are over before the
# worker starts at COMMIT, so the log's ARM requests are the worker's
my ($a, $a2, $b) = split /\n/, $node->safe_psql('postgres', join(
		"\n", 'BEGIN;',
		'SELECT id FROM peering_create(' . create_args() . ');',
		'SELECT id FROM peering_create(' . create_args(vnet_name => $w->{second_vnet_name}) . ');',
		'SELECT id FROM peering_create('
		  . create_args(
			subscription_id => $sub_b,
			resource_group => 'rg-other',
			vnet_name => 'vnet-other',
			azure_credential => 'azure_other')
		  . ');',
		'COMMIT;'));
is(wait_for_state($node, $b, 'ACTIVE', 60), 'ACTIVE',
	'the other subscription\'s peering reaches ACTIVE');
is(wait_for_state($node, $_, 'ACTIVE', 60), 'ACTIVE', "the throttled subscription's peering $_ too, later")
  for $a, $a2;

my $log = requests_since($seq);
my ($refused) = grep { ($_->{status} // 0) == 429 } @$log;
ok($refused, 'ARM answered one write with 429');
# requests already on their way when the 429 came are not held back
my $t = $refused->{time} + 0.3;
my @a_during = grep {
	$_->{path} =~ m{^/arm/subscriptions/\Q$w->{subscription_id}\E/}i
	  && $_->{time} > $t && $_->{time} < $t + $retry_after - 0.8
} @$log;
my @a_after = grep { $_->{path} =~ m{^/arm/subscriptions/\Q$w->{subscription_id}\E/}i && $_->{time} > $t } @$log;
my @b_all = grep { $_->{path} =~ m{^/arm/subscriptions/\Q$sub_b\E/}i } @$log;
is(scalar @a_during, 0,
	"no request to the throttled subscription, for either of its peerings, within the Retry-After of $retry_after s")
  or diag(summarize_requests(\@a_during));
ok(@a_after && @b_all && $b_all[-1]{time} < $a_after[0]{time},
	'the other subscription\'s peering went on meanwhile: its last ARM request came before the throttled one resumed');
cmp_ok($a_after[0]{time} - $refused->{time}, '>=', $retry_after - 0.5,
	'the throttled subscription resumed after the Retry-After');

done_testing();
