# peering: PGXS build.  PG_CONFIG pins PostgreSQL 15 on Debian, where
# /usr/bin/pg_config follows the newest installed major.
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

MODULE_big = peering
OBJS = \
	src/peering.o \
	src/guc.o \
	src/http.o \
	src/jsonutil.o \
	src/remote.o \
	src/auth.o \
	src/aiven.o \
	src/graph.o \
	src/arm.o \
	src/util.o \
	src/catalog.o \
	src/reconcile.o \
	src/worker.o \
	src/api.o

EXTENSION = peering
DATA = sql/peering--1.0.sql
PGFILEDESC = "peering - Azure VNet to Aiven project VPC peering from SQL"

PG_CPPFLAGS = -Iinclude
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
# jansson is linked statically with its symbols hidden: the postgres binary
# exports json_object(), which would otherwise capture jansson's.
SHLIB_LINK = -lcurl -Wl,--exclude-libs,libjansson.a -l:libjansson.a

REGRESS = preflight_offline privileges catalog
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=peering

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
