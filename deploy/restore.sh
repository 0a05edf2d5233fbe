#!/usr/bin/env bash
# Restore a Làng Số backup (deploy/backup.sh) into an EMPTY database, bring its schema up to the
# code's migrations and check that the bot accepts it.
#
#   createdb -O langso langso_restored        # or any empty database
#   DATABASE_URL=postgresql://langso:...@127.0.0.1:5432/langso_restored \
#     deploy/restore.sh /var/backups/langso/langso-20261201T020000Z.dump
#
# With docker-compose.yml (stop the bot first: `docker compose stop web-1 web-2 dispatcher`;
# recreate the database empty, see docs/deploy.md):
#   PSQL="docker compose exec -T db psql -U langso -d langso" \
#   PG_RESTORE="docker compose exec -T db pg_restore -U langso -d langso" \
#   BOT="docker compose run --rm -T migrate python -m bot" \
#     deploy/restore.sh ./backups/langso-20261201T020000Z.dump
#
# Steps: refuse a database that already has tables (nothing is overwritten); pg_restore in one
# transaction, stopping at the first error (a failed restore leaves the database empty);
# `python -m bot db upgrade` (a backup from an older release is migrated forward);
# `python -m bot db check` (reachable, at the code's head).
#
# Environment:
#   DATABASE_URL  the target (postgresql:// or postgresql+asyncpg://); the password goes to the
#                 tools in PGPASSWORD, never on a command line
#   PG_BINDIR     directory of psql / pg_restore (default: from PATH)
#   PSQL, PG_RESTORE  the commands (default $PG_BINDIR/psql, $PG_BINDIR/pg_restore)
#   BOT           the bot's command line (default: <repo>/.venv/bin/python -m bot, else python3)
#   BOT_DIR       where config.yml is (default: the directory above deploy/)
# Exit status: 0 when the data is restored and the bot's schema check passes.
set -euo pipefail
umask 077

log() { printf 'restore: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: DATABASE_URL=... $0 BACKUP.dump"
file="$1"
[[ -f "$file" && -r "$file" ]] || die "$file: no such readable file"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/pgurl.sh
source "$here/pgurl.sh"
bot_dir="${BOT_DIR:-$(dirname "$here")}"
bindir="${PG_BINDIR:-}"
psql_cmd="${PSQL:-${bindir:+$bindir/}psql}"
pg_restore_cmd="${PG_RESTORE:-${bindir:+$bindir/}pg_restore}"
if [[ -n "${BOT:-}" ]]; then
  bot_cmd="$BOT"
elif [[ -x "$bot_dir/.venv/bin/python" ]]; then
  bot_cmd="$bot_dir/.venv/bin/python -m bot"
else
  bot_cmd="python3 -m bot"
fi

target=()
if [[ -n "${DATABASE_URL:-}" ]]; then
  pgurl_split "$DATABASE_URL" || die "DATABASE_URL is not a PostgreSQL URL (postgresql://user:password@host:port/db)"
  target=(--dbname "$PGURL_NOPASS")
  if [[ -n "$PGURL_PASSWORD" ]]; then
    export PGPASSWORD="$PGURL_PASSWORD"
  fi
fi

# 1. Only into an empty database: a restore never mixes with or overwrites live data.
# shellcheck disable=SC2086  # PSQL may be a command with arguments
tables="$($psql_cmd -X -q -A -t -v ON_ERROR_STOP=1 "${target[@]}" -c \
  "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'")" \
  || die "cannot connect to the target database"
tables="${tables//[[:space:]]/}"
[[ "$tables" == "0" ]] || die "the target database is not empty ($tables relations): restore into a new, empty database"

# 2. The data, in one transaction.
log "restoring $file"
# shellcheck disable=SC2086  # PG_RESTORE may be a command with arguments
$pg_restore_cmd --exit-on-error --single-transaction --no-owner --no-privileges "${target[@]}" < "$file" \
  || die "pg_restore failed: nothing was restored"

# 3. Migrations the backup's release did not have yet, then the bot's own schema check.
(
  cd "$bot_dir"
  # shellcheck disable=SC2086  # BOT is a command line
  $bot_cmd db upgrade
  # shellcheck disable=SC2086
  $bot_cmd db check
) || die "the restored database did not pass the bot's schema check"
log "done: the database is restored and at the code's migrations"
