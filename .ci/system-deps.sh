#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's Chromium (browser tests drive it with Playwright's
# executable_path; Playwright never downloads a browser), a Java 17+ runtime (pyspark local mode), the PostgreSQL
# server binaries (the import tests start a throwaway server) and wrk (the serving benchmark's load generator).
# Installed only when missing; needs root or sudo.
# Tests that need one of these skip with a clear reason when it is still absent (e.g. no root on a laptop).
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "system-deps: missing ${missing[*]} and no root; tests needing them will be skipped" >&2; exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${missing[*]} and no apt-get; install them by hand" >&2; exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -q >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
  || echo "system-deps: apt-get install ${missing[*]} failed; tests needing them will be skipped" >&2
exit 0
