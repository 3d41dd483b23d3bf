/*
 * api.h
 *		What the SQL entry points share: the checks of a requested peering,
 *		for peering_create() (api.c), peering_plan() (plan.c) and
 *		peering_adopt() (adopt.c).
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_API_H
#define PEERING_API_H

#include "fmgr.h"

#include "catalog.h"

extern PeeringConn *api_requested_connection(FunctionCallInfo fcinfo, bool create_args,
											 Credential **azure, Credential **aiven);

extern List *api_cidr_list_arg(FunctionCallInfo fcinfo, int argno, const char *name);


extern void api_check_alter(const PeeringConn *c, const PeeringConn *after);

extern void refuse_on_standby(const char *function);

extern void api_preflight(PeeringConn *c, Credential *azure, Credential *aiven);

extern void api_check_connection(PeeringConn *c, Credential *azure, Credential *aiven);

#endif							/* PEERING_API_H */
