#!/usr/bin/env bash
# Serves adrec and checks its /docs page in headless Chromium (scripts/docs-check.sh): the page
# must render every path of /openapi.json with no internet access. Usage: docs-serve-check.sh BIN
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export ADREC_BIN="$1"
source "$here/scripts/lib.sh"
work=$(mktemp -d /tmp/adrec-docs.XXXXXX)
trap 'stop_adrec; rm -rf "$work"' EXIT
start_adrec "$(fresh_db adrec_docs)" "$work" "$work/work"
out="${ADREC_CACHE:-$HOME/.cache/adrec}/docs.png"
"$here/scripts/docs-check.sh" "$ADREC_BASE" "$out"
