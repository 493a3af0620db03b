#!/usr/bin/env bash
# The layout rules of DESIGN.md ("Architecture"), checked: see .ci/check-layout.py.
# Usage: .ci/check-layout.sh [REPO_ROOT]
set -euo pipefail
command -v python3 >/dev/null 2>&1 || { echo "check-layout: python3 is missing" >&2; exit 2; }
exec python3 "$(dirname "$0")/check-layout.py" "$@"
