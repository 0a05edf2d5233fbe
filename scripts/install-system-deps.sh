#!/usr/bin/env bash
# Install the Debian system packages the test suite needs, and only the missing ones.
#
#   postgresql  initdb / pg_ctl / postgres under /usr/lib/postgresql/*/bin, used by
#               tests/postgres.py to start a throw-away server during the test run
#   chromium    /usr/bin/chromium, used by the Playwright tests through
#               executablePath (Playwright never downloads a browser here)
#   fonts       a font with Vietnamese glyphs for screenshots (fonts-noto-core or
#               fonts-dejavu-core; fonts-dejavu-core is installed if neither is there)
#   caddy, nginx-light, shellcheck
#               tests/test_deploy.py checks the deploy/ examples with the real tools
#               (caddy adapt, nginx -t, two web processes behind each proxy, shellcheck)
#   ffmpeg      translators' voice recordings converted to what each channel plays
#               (OGG/Opus for Telegram voice, M4A for Zalo), loudness-normalised
#
# Idempotent: when everything is present it only checks files and exits 0 in well
# under a second, without touching apt. `apt-get update` runs only when something
# has to be installed.
#
# Usage: scripts/install-system-deps.sh [--check]
#   --check   only report what is missing; exit 1 if anything is, install nothing
#
# Environment:
#   LANGSO_SKIP_CHROMIUM=1   do not require chromium (e.g. a CI job without browser tests)
set -euo pipefail

log() { printf 'install-system-deps: %s\n' "$*"; }

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) log "unknown argument: $1 (use --check or nothing)"; exit 2 ;;
esac

have_postgresql() {
  local bindir
  for bindir in /usr/lib/postgresql/*/bin; do
    if [[ -x "$bindir/initdb" && -x "$bindir/pg_ctl" && -x "$bindir/postgres" ]]; then
      return 0
    fi
  done
  return 1
}

have_chromium() { [[ -x /usr/bin/chromium ]]; }

pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

have_vietnamese_font() { pkg_installed fonts-noto-core || pkg_installed fonts-dejavu-core; }

missing=()
for tool in caddy:caddy nginx:nginx-light shellcheck:shellcheck ffmpeg:ffmpeg; do
  if command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${tool%%:*}" ]]; then
    log "${tool%%:*}: present"
  else
    missing+=("${tool#*:}")
  fi
done
if have_postgresql; then
  log "postgresql: present ($(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1))"
else
  missing+=(postgresql)
fi

if [[ "${LANGSO_SKIP_CHROMIUM:-}" == 1 ]]; then
  log "chromium: skipped (LANGSO_SKIP_CHROMIUM=1)"
else
  if have_chromium; then
    log "chromium: present (/usr/bin/chromium)"
  else
    missing+=(chromium)
  fi
  if have_vietnamese_font; then
    log "fonts: present (fonts-noto-core or fonts-dejavu-core)"
  else
    missing+=(fonts-dejavu-core)
  fi
fi

if ((${#missing[@]} == 0)); then
  log "nothing to install"
  exit 0
fi

log "missing: ${missing[*]}"
if ((check_only)); then
  exit 1
fi

if [[ "$(id -u)" != 0 ]]; then
  log "not running as root; install them with:"
  log "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log "running: apt-get update"
apt-get update -q
log "running: apt-get install -y --no-install-recommends ${missing[*]}"
apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}"

# Verify that what we needed is really there now.
status=0
if [[ " ${missing[*]} " == *" postgresql "* ]] && ! have_postgresql; then
  log "ERROR: postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
  status=1
fi
if [[ " ${missing[*]} " == *" chromium "* ]] && ! have_chromium; then
  log "ERROR: chromium installed but /usr/bin/chromium is missing"
  status=1
fi
if ((status == 0)); then
  log "installed: ${missing[*]}"
fi
exit "$status"
