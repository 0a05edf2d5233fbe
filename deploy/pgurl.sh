# shellcheck shell=bash
# Sourced by deploy/backup.sh and deploy/restore.sh: split the bot's DATABASE_URL for the
# PostgreSQL client tools.
#
#   pgurl_split URL   sets PGURL_NOPASS (a libpq URI without the password) and PGURL_PASSWORD
#                     (percent-decoded); returns 1 for a URL that is not PostgreSQL.
#
# postgresql+asyncpg:// becomes postgresql://, asyncpg's ?ssl=... becomes libpq's ?sslmode=...
# The password is kept out of the URI so that it never appears on a command line.

_pgurl_decode() {
  local s="${1//+/%2B}"
  printf '%b' "${s//%/\\x}"
}

pgurl_split() {
  local url="$1" rest auth hostpart query="" user pass="" newq="" kv
  PGURL_NOPASS="" PGURL_PASSWORD=""
  [[ "$url" =~ ^postgres(ql)?(\+[a-z0-9_]+)?://(.*)$ ]] || return 1
  rest="${BASH_REMATCH[3]}"
  if [[ "$rest" == *\?* ]]; then
    query="${rest#*\?}"
    rest="${rest%%\?*}"
  fi
  if [[ "$rest" == *@* ]]; then
    auth="${rest%@*}"
    hostpart="${rest##*@}"
    user="${auth%%:*}"
    if [[ "$auth" == *:* ]]; then
      pass="$(_pgurl_decode "${auth#*:}")"
    fi
    hostpart="$user@$hostpart"
  else
    hostpart="$rest"
  fi
  if [[ -n "$query" ]]; then
    local IFS='&'
    for kv in $query; do
      case "$kv" in
        ssl=true) kv="sslmode=require" ;;
        ssl=false) kv="sslmode=disable" ;;
        ssl=*) kv="sslmode=${kv#ssl=}" ;;
      esac
      newq="${newq:+$newq&}$kv"
    done
  fi
  # shellcheck disable=SC2034  # the outputs, read by the scripts that source this file
  PGURL_NOPASS="postgresql://$hostpart${newq:+?$newq}"
  # shellcheck disable=SC2034
  PGURL_PASSWORD="$pass"
  return 0
}
