/*
 * engine_outcome.h
 *		The engine's handling of a step's outcome (engine_outcome.c), for
 *		engine.c.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_ENGINE_OUTCOME_H
#define PEERING_ENGINE_OUTCOME_H

#include "catalog.h"
#include "steps.h"

extern void engine_apply_outcome(PeeringConn *c, StepResult *r);
extern void engine_classify_error(PeeringConn *c, ErrorData *ed, StepResult *r);

#endif							/* PEERING_ENGINE_OUTCOME_H */
