#!/usr/bin/env bash
# The web page screenshots shown in docs/serving.md come from the browser test, never by hand. From the repository
# root, with Chromium installed (.ci/system-deps.sh):
#
#   bash docs/img/screenshots.sh
#
# runs tests/integration/serving/test_web_browser.py (it saves work/test-artifacts/csm_*.png) and copies the
# screenshots the docs show into docs/img/.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m pytest -q -p no:randomly tests/integration/serving/test_web_browser.py
for name in csm_list csm_account csm_list_phone; do
  cp "work/test-artifacts/$name.png" "docs/img/$name.png"
done
echo "copied into docs/img/: csm_list.png csm_account.png csm_list_phone.png"
