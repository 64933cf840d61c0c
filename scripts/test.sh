#!/usr/bin/env bash
# Sets up .venv (scripts/setup_env.sh) and runs the test suite on every core.
#
#   bash scripts/test.sh                      # everything but tests marked slow
#   bash scripts/test.sh -m slow              # only the slow ones; -m "" for all
#   bash scripts/test.sh tests/test_cli.py -n 0 -x
#
# Extra arguments go to pytest after the defaults, so they win (-m, -n).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh
exec python -m pytest -q -n auto -m "not slow" "$@"
