#!/usr/bin/env bash
# Sets everything up, then runs the test suite; exits with pytest's status.
# In CI (CI=true, or ACTIVELEARN_REQUIRE_SERVICES=1) PostgreSQL and Chromium are required: if they are
# missing and cannot be installed, this stops with an error, and the tests that need them fail instead of
# skipping. Elsewhere those tests skip, with the reason printed at the end (pytest -rs).
set -euo pipefail
cd "$(dirname "$0")/.."

is_true() { case "$(printf '%s' "${1:-}" | tr '[:upper:]' '[:lower:]')" in 1|true|yes|on) return 0;; esac; return 1; }
required=0
if is_true "${ACTIVELEARN_REQUIRE_SERVICES:-}" || is_true "${CI:-}"; then required=1; fi
die() { echo "scripts/test.sh: error: $*" >&2; exit 1; }

bash scripts/setup.sh dev

# The real-browser tests drive Debian's Chromium (never a downloaded browser); the team-store tests
# start their own PostgreSQL server from Debian's package (the tests start and stop it themselves).
missing() {
  local need=""
  [ -x "${ACTIVELEARN_CHROMIUM:-/usr/bin/chromium}" ] || need="$need chromium"
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need="$need postgresql"
  echo "${need# }"
}
need=$(missing)
if [ -n "$need" ]; then
  hint="install them (apt-get install -y $need), then run bash scripts/test.sh again"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "missing: $need; not root and no sudo to run apt-get: $hint."
      SUDO="sudo"
    fi
    echo "scripts/test.sh: installing $need with apt-get" >&2
    $SUDO apt-get update -qq || die "apt-get update failed while installing: $need; $hint."
    # shellcheck disable=SC2086  # $need is a list of package names
    $SUDO apt-get install -y -qq $need >/dev/null || die "apt-get install -y $need failed; $hint."
    need=$(missing)
    [ -z "$need" ] || die "apt-get install ran but still missing: $need; $hint."
  elif [ "$required" = 1 ]; then
    die "missing: $need, required in CI (CI=true / ACTIVELEARN_REQUIRE_SERVICES=1), and no apt-get here: $hint."
  else
    echo "scripts/test.sh: warning: missing: $need and no apt-get here; the tests that need them will be" \
         "SKIPPED (reasons listed at the end). To run them: $hint." >&2
  fi
fi

# -rfEs: list failures, errors and skip reasons at the end. exec: this script's status is pytest's.
exec .venv/bin/python -m pytest -q -rfEs "$@"
