#!/bin/sh
# pg-restore.sh <dump> — restore a pg-backup.sh dump into $PGDATABASE in ONE
# transaction: every schema object in the dump is dropped and recreated and
# its rows reloaded, or (on any error) nothing changes. Objects created after
# the dump and not in it are left alone.
#
# Stop writers first (docs/operations.md: scale the functions to zero and
# PAUSE PgBouncer), then:
#   PGHOST=... PGUSER=... PGPASSWORD=... PGDATABASE=phonebill pg-restore.sh /backup/phonebill-....dump
set -eu

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	echo "usage: pg-restore.sh <dump file>" >&2
	exit 2
fi
: "${PGDATABASE:=phonebill}"

pg_restore --list "$1" >/dev/null
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
	--exit-on-error --dbname="$PGDATABASE" "$1"
echo "restored $1 into $PGDATABASE"
