/*
 * connbool.h
 *		The three-valued boolean of peering.connections columns.
 *
 * Copyright (c) 2026, peering developers
 * Released under the PostgreSQL License (see LICENSE).
 */
#ifndef PEERING_CONNBOOL_H
#define PEERING_CONNBOOL_H

/*
 * A boolean column that is NULL until the step that learns it has run
 * (app_role_owned, provider_sp_created, peer_role_owned), so that the row
 * tells "not looked at yet" from "not ours".  Steps treat NULL as false.
 */
typedef enum ConnBool
{
	CONN_BOOL_NULL = 0,
	CONN_BOOL_FALSE,
	CONN_BOOL_TRUE
} ConnBool;

#endif							/* PEERING_CONNBOOL_H */
