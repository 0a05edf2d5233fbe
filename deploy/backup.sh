#!/usr/bin/env bash
# Back up the Làng Số PostgreSQL database: one `pg_dump -Fc` file named with the date (UTC),
# checked with `pg_restore --list`, and only the newest BACKUP_KEEP files kept.
#
#   DATABASE_URL=postgresql://langso:...@127.0.0.1:5432/langso deploy/backup.sh [DIR]
#
# With docker-compose.yml (pg_dump runs inside the db container, no password needed):
#   PG_DUMP="docker compose exec -T db pg_dump -U langso -d langso" deploy/backup.sh ./backups
#
# Environment:
#   DATABASE_URL  the bot's URL (postgresql:// or postgresql+asyncpg://); without it pg_dump
#                 uses the libpq variables (PGHOST, PGUSER, PGDATABASE, ~/.pgpass ...) or what
#                 PG_DUMP names. The password never goes on a command line (other local users
#                 can read those): it is handed over in PGPASSWORD.
#   BACKUP_DIR    where the files go (default /var/backups/langso; the argument wins)
#   BACKUP_KEEP   how many backups to keep (default 14); older langso-*.dump files are deleted
#   PG_BINDIR     directory of pg_dump / pg_restore (default: from PATH)
#   PG_DUMP       the pg_dump command (default $PG_BINDIR/pg_dump)
#
# A dump holds personal data: files are created mode 0600, keep the directory private, copy it
# off the server (encrypted) and test a restore regularly (deploy/restore.sh, docs/deploy.md).
# Exit status: 0 when the new backup is written and readable.
set -euo pipefail
umask 077

log() { printf 'backup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

dir="${1:-${BACKUP_DIR:-/var/backups/langso}}"
keep="${BACKUP_KEEP:-14}"
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP must be a whole number >= 1, got '$keep'"
bindir="${PG_BINDIR:-}"
pg_dump_cmd="${PG_DUMP:-${bindir:+$bindir/}pg_dump}"
pg_restore_cmd="${bindir:+$bindir/}pg_restore"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/pgurl.sh
source "$here/pgurl.sh"

target=()
if [[ -n "${DATABASE_URL:-}" ]]; then
  pgurl_split "$DATABASE_URL" || die "DATABASE_URL is not a PostgreSQL URL (postgresql://user:password@host:port/db)"
  target=(--dbname "$PGURL_NOPASS")
  if [[ -n "$PGURL_PASSWORD" ]]; then
    export PGPASSWORD="$PGURL_PASSWORD"
  fi
fi

mkdir -p "$dir"
chmod 700 "$dir" 2>/dev/null || true
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="$dir/langso-$stamp.dump"
while [[ -e "$file" ]]; do  # two backups in one second: names must stay unique and sorted
  sleep 1
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  file="$dir/langso-$stamp.dump"
done
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

# Custom format (-Fc): compressed, restored with pg_restore, table by table. No owners or
# grants: the restore target may have other role names.
# shellcheck disable=SC2086  # PG_DUMP may be a command with arguments
$pg_dump_cmd --format=custom --no-owner --no-privileges "${target[@]}" > "$partial" \
  || die "pg_dump failed; nothing written"
[[ -s "$partial" ]] || die "pg_dump wrote nothing"
# A dump that pg_restore cannot list is no backup.
if command -v "$pg_restore_cmd" > /dev/null 2>&1; then
  "$pg_restore_cmd" --list "$partial" > /dev/null || die "pg_restore cannot read the new dump"
else
  log "($pg_restore_cmd not found: the dump was not checked)"
fi
mv "$partial" "$file"
trap - EXIT
log "wrote $file ($(wc -c < "$file") bytes)"

# Retention: the names sort by date; keep the newest $keep.
mapfile -t all < <(find "$dir" -maxdepth 1 -type f -name 'langso-*.dump' -printf '%f\n' | LC_ALL=C sort)
excess=$(( ${#all[@]} - keep ))
for (( i = 0; i < excess; i++ )); do
  rm -f -- "$dir/${all[$i]}"
  log "deleted old backup ${all[$i]}"
done
printf '%s\n' "$file"
