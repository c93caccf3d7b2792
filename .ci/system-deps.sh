#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's Chromium (browser tests drive it with Playwright's
# executable_path; Playwright never downloads a browser), a Java 17+ runtime (pyspark local mode) and the PostgreSQL
# server binaries (the import tests start a throwaway server) and wrk (the serving benchmark's load generator).
# Installed only when missing; needs root or sudo.
#
# Fails loudly: exit 1, naming what is missing and why, when a package cannot be installed (no root, no apt-get,
# apt-get failing) or is still missing afterwards, so `make test` stops instead of running a suite whose
# browser/Spark/PostgreSQL tests would skip. With CI set, those tests fail rather than skip too
# (tests/support/system.py). Run the suite without them on a laptop with plain `.venv/bin/pytest`.
set -uo pipefail

have_pg() { command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
check() {
  missing=()
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
  command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || missing+=(openjdk-17-jre-headless)
  have_pg || missing+=(postgresql)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
}
fail() { echo "system-deps: $*" >&2; exit 1; }

check
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    fail "missing ${missing[*]} and no root or passwordless sudo to install them; install them by hand"
  fi
fi
command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get; install them by hand"
echo "system-deps: installing ${missing[*]}" >&2
log=$(mktemp)
$SUDO apt-get update -q >"$log" 2>&1 || { tail -5 "$log" >&2; fail "apt-get update failed (output above)"; }
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1 \
  || { tail -20 "$log" >&2; fail "apt-get install ${missing[*]} failed (output above)"; }
rm -f "$log"
check
[ ${#missing[@]} -eq 0 ] || fail "still missing after the install: ${missing[*]}"
echo "system-deps: installed" >&2
