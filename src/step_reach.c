/*
 * step_reach.c
 *		Whether the customer's VNet reaches the services of the project VPC
 *		(docs/architecture.md §2): their IP filters, which drop a peered
 *		network's traffic unless they admit it; opening them on request
 *		(open_ip_filter) and closing again exactly what was opened; and the
 *		provider's side of a VNet that grew.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 *
 * One cycle reads a project's service list once for all its connections
 * (the engine shares the GET); a service is written only when its filter
 * must change, and only the entries this connection added (marked by their
 * description) are ever removed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "aiven.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "peering.h"
#include "steps.h"
#include "step_internal.h"
#include "util.h"


/* The description that marks the IP filter entries this connection added. */
static char *
our_description(const PeeringConn *c)
{
	return psprintf("peering connection " INT64_FORMAT, c->id);
}

static bool
entry_is_ours(const PeeringConn *c, const AivenIpFilterEntry *e)
{
	return e->description != NULL && strcmp(e->description, our_description(c)) == 0;
}

/*
 * Does an IP filter admit prefix: is prefix inside one of its networks (an
 * address or a CIDR, host bits allowed, as Aiven takes them)?
 */
static bool
filter_admits(const List *filter, const char *prefix)
{
	ListCell   *lc;

	foreach(lc, filter)
		if (peering_network_within(prefix, ((AivenIpFilterEntry *) lfirst(lc))->network))
			return true;
	return false;
}

/* Does the filter admit any of the prefixes? */
static bool
filter_admits_any(const List *filter, const List *prefixes)
{
	ListCell   *lc;

	foreach(lc, prefixes)
		if (filter_admits(filter, lfirst(lc)))
			return true;
	return false;
}

/* A prefix in cidr's text form, so that ours compare as strings. */
static char *
canonical_cidr(const char *prefix)
{
	return DatumGetCString(DirectFunctionCall1(cidr_out,
											   DirectFunctionCall1(cidr_in, CStringGetDatum(prefix))));
}

/* The networks an open filter admits: the VNet's and the routed ones. */
static List *
networks_to_admit(const PeeringConn *c)
{
	List	   *wanted = NIL;
	ListCell   *lc;

	foreach(lc, list_concat_copy(c->vnet_address_space, c->user_peer_network_cidrs))
	{
		char	   *cidr = canonical_cidr(lfirst(lc));

		if (!peering_string_list_member(wanted, cidr))
			wanted = lappend(wanted, cidr);
	}
	return wanted;
}

/*
 * The filter as it should be: without those entries of ours that are no
 * longer wanted (all of them when open is false), and, when open, with an
 * entry of ours for each wanted network it does not admit.  Every other
 * entry is kept as it is, in its place.  *changed says whether it differs.
 */
static List *
desired_filter(const PeeringConn *c, const List *filter, bool open, bool *changed)
{
	List	   *wanted = open ? networks_to_admit(c) : NIL;
	List	   *result = NIL;
	ListCell   *lc;

	*changed = false;
	foreach(lc, filter)
	{
		AivenIpFilterEntry *e = lfirst(lc);

		if (entry_is_ours(c, e) && !peering_string_list_member(wanted, e->network))
			*changed = true;
		else
			result = lappend(result, e);
	}
	foreach(lc, wanted)
	{
		if (filter_admits(result, lfirst(lc)))
			continue;
		result = lappend(result, aiven_ip_filter_entry(lfirst(lc), our_description(c)));
		*changed = true;
	}
	return result;
}

/*
 * The services of c's project in c's project VPC (the others are never
 * looked at), from the list every connection of the project shares; NIL
 * with the project gone while tearing down.
 */
static List *
vpc_services(PeeringConn *c)
{
	List	   *services = aiven_list_services(auth_aiven_token(c->attempt.aiven_cred),
											   c->project, c->desired == DESIRED_ABSENT);
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, services)
	{
		AivenService *s = lfirst(lc);

		if (s->project_vpc_id != NULL && pg_strcasecmp(s->project_vpc_id, c->project_vpc_id) == 0)
			result = lappend(result, s);
	}
	return result;
}

/*
 * Writes each service's filter as it should be (open or closed), only
 * where it changes; returns the filters as they are now, in the order of
 * services.
 */
static List *
apply_filters(PeeringConn *c, const List *services, bool open)
{
	List	   *filters = NIL;
	ListCell   *lc;

	foreach(lc, services)
	{
		AivenService *s = lfirst(lc);
		bool		changed;
		List	   *filter = desired_filter(c, s->ip_filter, open, &changed);

		if (changed)
		{
			aiven_update_ip_filter(auth_aiven_token(c->attempt.aiven_cred), c->project,
								   s->service_name, filter);
			conn_event(c, EVENT_STEP,
					   psprintf(open ? "opened the IP filter of service %s to VNet %s"
								: "removed the entries this peering added to the IP filter of service %s (VNet %s)",
								s->service_name, c->vnet_name),
					   NULL, NULL);
		}
		filters = lappend(filters, filter);
	}
	return filters;
}

/*
 * Reads the VNet's address prefixes into c->vnet_address_space; true when
 * they differ from those known before.  A VNet that is gone leaves them.
 */
static bool
observe_address_space(PeeringConn *c)
{
	ArmVnet    *vnet = arm_get_vnet(step_admin_token(c, AZURE_ARM), c->subscription_id,
									c->resource_group, c->vnet_name);
	List	   *prefixes = NIL;
	ListCell   *lc;
	bool		changed;

	if (vnet == NULL)
		return false;
	foreach(lc, vnet->address_prefixes)
		prefixes = lappend(prefixes, canonical_cidr(lfirst(lc)));
	changed = list_length(prefixes) != list_length(c->vnet_address_space);
	foreach(lc, c->vnet_address_space)
		changed |= !peering_string_list_member(prefixes, canonical_cidr(lfirst(lc)));
	c->vnet_address_space = prefixes;
	return changed;
}

/* The names, comma-separated. */
static char *
names_text(const List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 (char *) lfirst(lc));
	return buf.data;
}

/* Records the unreachable services, with an event when they changed. */
static void
record_unreachable(PeeringConn *c, List *names)
{
	ConnTextArray was = c->unreachable_services;

	c->unreachable_services.known = true;
	c->unreachable_services.items = names;
	if (was.known ? peering_string_lists_same(was.items, names) : names == NIL)
		return;
	if (names == NIL)
		conn_event(c, EVENT_REACHABILITY,
				   psprintf("every service of project VPC %s admits VNet %s in its IP filter",
							c->project_vpc_id, c->vnet_name),
				   NULL, NULL);
	else
		conn_event(c, EVENT_REACHABILITY,
				   psprintf("the IP filter of service(s) %s admits none of the address prefixes of VNet %s: their traffic from the VNet is dropped although the peering is ACTIVE; set open_ip_filter or add the prefixes to the services' IP filters",
							names_text(names), c->vnet_name),
				   NULL, NULL);
}

/*
 * The re-check of what the VNet reaches (and the end of creation): opens
 * or closes the IP filters of the project VPC's services as open_ip_filter
 * says, then records the services whose filter admits none of the VNet's
 * prefixes.  Reads the VNet's address space when a service needs it, or
 * when read_space (the address space may have changed); returns whether
 * that space changed since it was last known.
 */
bool
step_check_reachability(PeeringConn *c, bool read_space)
{
	List	   *services = vpc_services(c);
	List	   *filters;
	List	   *unreachable = NIL;
	bool		space_changed = false;
	ListCell   *ls;
	ListCell   *lf;

	if (services != NIL || read_space)
		space_changed = observe_address_space(c);
	filters = apply_filters(c, services, c->open_ip_filter);
	forboth(ls, services, lf, filters)
	{
		if (!filter_admits_any(lfirst(lf), c->vnet_address_space))
			unreachable = lappend(unreachable, pstrdup(((AivenService *) lfirst(ls))->service_name));
	}
	record_unreachable(c, unreachable);
	return space_changed;
}

/*
 * Teardown, before the Aiven connection goes: removes exactly the entries
 * this connection added to the services' IP filters.
 */
void
step_ip_filter_close(PeeringConn *c, StepResult *r)
{
	apply_filters(c, vpc_services(c), false);
	step_advance(r, "no IP filter holds an entry of this peering");
}
