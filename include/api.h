/*
 * api.h
 *		What the SQL entry points share: the checks of a requested peering,
 *		for peering_create() (api.c) and peering_plan() (plan.c).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_API_H
#define PEERING_API_H

#include "fmgr.h"

#include "catalog.h"

/*
 * The arguments of peering_create() and peering_plan() (create_args), or
 * the fewer of peering_adopt(), checked locally, with the credentials.
 */
extern PeeringConn *api_requested_connection(FunctionCallInfo fcinfo, bool create_args,
											 Credential **azure, Credential **aiven);

/* Refuses a function that writes on a hot standby (25006). */
extern void refuse_on_standby(const char *function);

/*
 * No live duplicate, and the read-only remote checks of the subscription,
 * the VNet and the project VPC (peering_create() and peering_adopt()).
 */
extern void api_preflight(PeeringConn *c, Credential *azure, Credential *aiven);

/* The pre-flight: api_preflight(), and an own application's checks. */
extern void api_check_connection(PeeringConn *c, Credential *azure, Credential *aiven);

#endif							/* PEERING_API_H */
