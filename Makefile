# peering: PGXS build.  PG_CONFIG pins PostgreSQL 15 on Debian, where
# /usr/bin/pg_config follows the newest installed major.
#
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

MODULE_big = peering
OBJS = \
	src/peering.o \
	src/guc.o \
	src/http.o \
	src/http_capture.o \
	src/jsonutil.o \
	src/remote.o \
	src/rest.o \
	src/auth.o \
	src/aiven.o \
	src/graph.o \
	src/arm.o \
	src/util.o \
	src/catalog_spi.o \
	src/catalog.o \
	src/catalog_credentials.o \
	src/step_support.o \
	src/steps.o \
	src/step_delete.o \
	src/step_reach.o \
	src/step_table.o \
	src/engine.o \
	src/engine_outcome.o \
	src/worker.o \
	src/api.o \
	src/plan.o \
	src/adopt.o

EXTENSION = peering
DATA = sql/peering--1.0.sql sql/peering--1.0--1.1.sql sql/peering--1.1--1.2.sql
PGFILEDESC = "peering - Azure VNet to Aiven project VPC peering from SQL"

PG_CPPFLAGS = -Iinclude
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
# jansson is linked dynamically (Debian's libjansson.a is not PIC): the postgres
# binary exports json_object(), so our code never calls jansson's (json_pack instead).
SHLIB_LINK = -lcurl -ljansson

# pg_regress starts its own server with the library preloaded
REGRESS = validation privileges catalog
REGRESS_OPTS = --inputdir=test --outputdir=test --temp-instance=./tmp_check \
	--temp-config=test/regress.conf --load-extension=peering
TAP_TESTS = 1

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when a header
# changes (the structs in include/ are shared by every file).
$(OBJS): $(wildcard include/*.h)

# The suites separately (scripts/test.sh runs them as an unprivileged user).
.PHONY: installcheck-regress installcheck-tap
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-tap:
	$(prove_installcheck)
