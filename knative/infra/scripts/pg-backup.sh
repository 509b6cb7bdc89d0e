#!/bin/sh
# pg-backup.sh — one pg_dump of the phonebill database in custom format,
# written atomically (temp file, then rename) to $BACKUP_DIR, keeping
# $BACKUP_KEEP_DAYS days. The backup CronJob runs it; so can an operator:
#   PGHOST=... PGUSER=... PGPASSWORD=... PGDATABASE=phonebill BACKUP_DIR=./backups pg-backup.sh
# Connection settings are libpq's PG* variables. Prints the file it wrote.
set -eu

: "${PGDATABASE:=phonebill}"
: "${BACKUP_DIR:=/backup}"
: "${BACKUP_KEEP_DAYS:=7}"

mkdir -p "$BACKUP_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$BACKUP_DIR/$PGDATABASE-$stamp.dump"
tmp="$file.partial"

# Custom format: compressed, and pg_restore can pick objects and --clean.
pg_dump --format=custom --no-owner --no-privileges --file="$tmp" "$PGDATABASE"
# A dump that pg_restore cannot list is no backup.
pg_restore --list "$tmp" >/dev/null
mv "$tmp" "$file"

# Keep the newest dumps of the last BACKUP_KEEP_DAYS days (never the one just written).
find "$BACKUP_DIR" -maxdepth 1 -name "$PGDATABASE-*.dump" -mtime +"$BACKUP_KEEP_DAYS" ! -path "$file" -exec rm -f {} +
rm -f "$BACKUP_DIR"/*.partial 2>/dev/null || true
echo "$file"
