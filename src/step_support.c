/*
 * step_support.c
 *		What every step says and sees: its outcomes (advance, wait, retry,
 *		fail), the deterministic names of the objects steps make, the Aiven
 *		connection and the Azure peering as observed, and whether a peering
 *		is provably ours.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#include "postgres.h"

#include <time.h>

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aiven.h"
#include "arm.h"
#include "auth.h"
#include "catalog.h"
#include "graph.h"
#include "peering.h"
#include "steps.h"
#include "step_internal.h"
#include "remote.h"
#include "util.h"


/* ----------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------- */

/* Is state one of set (NULL-terminated)?  A NULL state is in none. */
bool
step_state_in(const char *state, const char *const *set)
{
	for (; *set; set++)
		if (peering_str_eq(state, *set))
			return true;
	return false;
}

/*
 * The step is done: go on to r->next (preset to the step that follows),
 * with a message formatted as for psprintf().
 */
void
step_advance(StepResult *r, const char *fmt,...)
{
	va_list		ap;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	r->outcome = STEP_ADVANCED;
	r->message = buf.data;
}

/* The step is done: go on to next, not to the step that follows. */
void
step_jump(StepResult *r, PeeringStep next, const char *message)
{
	r->outcome = STEP_ADVANCED;
	r->next = next;
	r->message = pstrdup(message);
}

/*
 * The remote side is busy.  message says what the step waits for, naming
 * the remote state: it becomes the error if peering.wait_budget runs out.
 */
void
step_wait_for(StepResult *r, char *message)
{
	r->outcome = STEP_WAITING;
	r->message = message;
}

/* A wait on Aiven's connection, quoting Aiven's own word on it. */
void
step_wait_for_aiven(StepResult *r, const PeeringConn *c, const char *what)
{
	step_wait_for(r, psprintf("%s; the Aiven connection is in state %s",
						 what, c->state ? c->state : "unknown"));
	if (c->state_message != NULL)
		r->hint = psprintf("Aiven says: \"%s\".", c->state_message);
}

/*
 * Not an error of ours: a remote change has to settle first.  Retried
 * within the time budget of retry's class.
 */
void
step_retry_later(StepResult *r, RemoteRetry retry, char *message)
{
	r->outcome = STEP_RETRY;
	r->retry = retry;
	r->message = message;
}

/* Stops the connection: the user must fix something (hint may be NULL). */
void
step_fail(StepResult *r, char *message, char *hint)
{
	r->outcome = STEP_FAILED;
	r->message = message;
	r->hint = hint;
}

/*
 * A connection given app_credential uses that application: the extension
 * creates, changes and deletes nothing of it (its service principal and
 * secrets included).
 */
bool
step_brings_own_app(const PeeringConn *c)
{
	return c->app_credential != NULL;
}

/*
 * A peering made by hand and taken over by peering_adopt(): no application
 * of ours, none given; what is missing cannot be re-created, only watched.
 */
bool
step_is_adopted(const PeeringConn *c)
{
	return c->adopted;
}

/*
 * The name of a custom role: base_name (ROLE_*) and the subscription.
 * Names and GUIDs are deterministic: a step that runs again, or another
 * connection of the subscription, finds the same objects.
 */
char *
step_custom_role_name(const PeeringConn *c, const char *base_name)
{
	return psprintf("%s %s", base_name, c->subscription_id);
}

/* The GUID of a custom role, from its tenant and name. */
char *
step_custom_role_guid(const PeeringConn *c, const char *role_name)
{
	return peering_uuid_v5(psprintf("role-definition/%s/%s", c->tenant_id, role_name));
}

/* The GUID of a role assignment, from the VNet, role and principal. */
char *
step_role_assignment_guid(const PeeringConn *c, const char *role_id,
						  const char *principal_id)
{
	return peering_uuid_v5(psprintf("role-assignment/%s/%s/%s",
									peering_lower(c->vnet_id), role_id, principal_id));
}

/* The automation identity's token, in the subscription's tenant. */
char *
step_admin_token(PeeringConn *c, AzureAudience aud)
{
	return auth_azure_token(c->attempt.azure_cred, c->tenant_id, aud);
}

/* The ARM id of a role definition of the connection's subscription. */
char *
step_role_definition_path(const PeeringConn *c, const char *guid)
{
	return psprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s",
					c->subscription_id, guid);
}

/* ----------------------------------------------------------------
 * Aiven side: the project VPC, fetched once per cycle
 * ---------------------------------------------------------------- */

/*
 * The connection's Aiven peering connection in vpc (which may be NULL), or
 * NULL.  Aiven knows the Azure names in lower case.
 */
AivenPeering *
step_aiven_peering_in(const PeeringConn *c, const AivenVpc *vpc)
{
	return vpc ? aiven_find_peering(vpc, peering_lower(c->subscription_id),
									peering_lower(c->resource_group),
									peering_lower(c->vnet_name)) : NULL;
}

/*
 * The project VPC of c, read (shared, read only) and noted as observed now.
 * While tearing down, a VPC or project that is gone is NULL; otherwise it
 * is an error.
 */
AivenVpc *
step_aiven_vpc(PeeringConn *c)
{
	bool		teardown = c->desired == DESIRED_ABSENT;
	AivenVpc   *vpc = aiven_get_vpc(auth_aiven_token(c->attempt.aiven_cred), c->project,
									c->project_vpc_id, teardown);

	c->attempt.checked = true;
	c->attempt.observed_at = GetCurrentTimestamp();
	if (vpc == NULL && !teardown)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project VPC %s of project \"%s\" no longer exists",
						c->project_vpc_id, c->project)));
	return vpc;
}

/* The Aiven connection of c, NULL if none (see step_aiven_vpc()). */
AivenPeering *
step_aiven_connection(PeeringConn *c)
{
	return step_aiven_peering_in(c, step_aiven_vpc(c));
}

/* Copies what Aiven says of the connection into c; nothing for NULL. */
void
step_observe_aiven(PeeringConn *c, const AivenPeering *p)
{
	if (p == NULL)
		return;
	c->state = pstrdup(p->state);
	c->state_message = p->state_message ? pstrdup(p->state_message) : NULL;
	if (p->to_tenant_id)
		c->to_tenant_id = pstrdup(p->to_tenant_id);
	if (p->to_network_id)
		c->to_network_id = pstrdup(p->to_network_id);
}

/* The flags the user asked for on the Azure peering. */
PeeringOptions *
step_desired_options(const PeeringConn *c)
{
	PeeringOptions *o = palloc(sizeof(PeeringOptions));

	o->allow_forwarded_traffic = c->allow_forwarded_traffic;
	o->allow_gateway_transit = c->allow_gateway_transit;
	o->use_remote_gateways = c->use_remote_gateways;
	return o;
}

/* Do two peerings have the same flags? */
bool
step_options_equal(const PeeringOptions *a, const PeeringOptions *b)
{
	return a->allow_forwarded_traffic == b->allow_forwarded_traffic &&
		a->allow_gateway_transit == b->allow_gateway_transit &&
		a->use_remote_gateways == b->use_remote_gateways;
}

/*
 * Records what ARM says of the Azure peering (NULL: there is none) in c,
 * noted as observed now; returns pe.
 */
ArmPeering *
step_record_azure(PeeringConn *c, ArmPeering *pe)
{
	c->azure_peering_state = pe ? pstrdup(pe->peering_state) : NULL;
	c->azure_sync_level = pe && pe->sync_level ? pstrdup(pe->sync_level) : NULL;
	if (pe)
		c->azure_peering_id = pstrdup(pe->id);
	c->attempt.checked = true;
	c->attempt.observed_at = GetCurrentTimestamp();
	return pe;
}

/*
 * Is pe provably this connection's: a peering to the provider's VNet, the
 * one our own PUT names?  A peering that merely shares the name (say, the
 * customer's peering to a hub) is never changed or deleted.
 */
bool
step_azure_peering_is_ours(const PeeringConn *c, const ArmPeering *pe)
{
	return c->to_network_id != NULL && pe->remote_vnet_id != NULL &&
		pg_strcasecmp(pe->remote_vnet_id, c->to_network_id) == 0;
}

/* Stops before writing a peering of that name that is not ours. */
bool
step_refuse_foreign_peering(PeeringConn *c, const ArmPeering *pe, StepResult *r)
{
	if (pe == NULL || step_azure_peering_is_ours(c, pe))
		return false;
	step_fail(r, psprintf("peering \"%s\" of virtual network \"%s\" connects to %s, not to the provider's virtual network %s: it is not this connection's and is left as it is",
					 pe->name, c->vnet_name,
					 pe->remote_vnet_id ? pe->remote_vnet_id : "an unknown network",
					 c->to_network_id ? c->to_network_id : "(not known yet)"),
		 psprintf("Another peering holds the name; remove this connection with peering_delete(" INT64_FORMAT ") and create it again with another peering_name.",
				  c->id));
	r->error_code = "42710";
	return true;
}

/* Reads the Azure peering (as the automation identity) into c. */
ArmPeering *
step_observe_azure(PeeringConn *c)
{
	return step_record_azure(c, arm_get_peering(step_admin_token(c, AZURE_ARM), c->vnet_id,
										   c->peering_name));
}

/*
 * The same through the list of the VNet's peerings, for re-checks: all the
 * peerings of a VNet due together share one list.
 */
ArmPeering *
step_observe_azure_listed(PeeringConn *c)
{
	return step_record_azure(c, arm_find_listed_peering(step_admin_token(c, AZURE_ARM), c->vnet_id,
												   c->peering_name));
}

