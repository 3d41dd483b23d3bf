/*
 * step_internal.h
 *		What the files of the steps share (step_support.c, steps.c,
 *		step_delete.c, step_table.c): each step's function, and the outcomes
 *		and observations every step uses.  Each function's contract is on its
 *		definition.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_STEP_INTERNAL_H
#define PEERING_STEP_INTERNAL_H

#include "arm.h"
#include "auth.h"
#include "steps.h"

/* The function of each step, step_<name>, made from the table. */
#define STEP_FUNCTION(ID, name, phase, needs, waits_for) \
	extern void step_##name(PeeringConn *c, StepResult *r);
PEERING_STEP_TABLE(STEP_FUNCTION)
#undef STEP_FUNCTION

extern bool step_state_in(const char *state, const char *const *set);
extern void step_advance(StepResult *r, const char *fmt,...) pg_attribute_printf(2, 3);
extern void step_jump(StepResult *r, PeeringStep next, const char *message);
extern void step_wait_for(StepResult *r, char *message);
extern void step_wait_for_aiven(StepResult *r, const PeeringConn *c, const char *what);
extern void step_retry_later(StepResult *r, RemoteRetry retry, char *message);
extern void step_fail(StepResult *r, char *message, char *hint);
extern bool step_brings_own_app(const PeeringConn *c);
extern bool step_is_adopted(const PeeringConn *c);
extern char *step_admin_token(PeeringConn *c, AzureAudience aud);
extern char *step_role_definition_path(const PeeringConn *c, const char *guid);
extern AivenVpc *step_aiven_vpc(PeeringConn *c);
extern AivenPeering *step_aiven_connection(PeeringConn *c);
extern void step_observe_aiven(PeeringConn *c, const AivenPeering *p);
extern PeeringOptions *step_desired_options(const PeeringConn *c);
extern bool step_options_equal(const PeeringOptions *a, const PeeringOptions *b);
extern ArmPeering *step_record_azure(PeeringConn *c, ArmPeering *pe);
extern bool step_azure_peering_is_ours(const PeeringConn *c, const ArmPeering *pe);
extern bool step_refuse_foreign_peering(PeeringConn *c, const ArmPeering *pe, StepResult *r);
extern ArmPeering *step_observe_azure(PeeringConn *c);
extern ArmPeering *step_observe_azure_listed(PeeringConn *c);
extern bool step_check_reachability(PeeringConn *c, bool read_space);

#endif							/* PEERING_STEP_INTERNAL_H */
