#!/usr/bin/env bash
# Sets up .venv (scripts/setup_env.sh) and runs the demo: a GEMM built with a naive and a hand-tuned
# schedule, its lowered loop nest, and GFLOP/s next to numpy; a short tuning run; a whole ONNX model next to
# onnxruntime. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh
exec python -m tex.demo "$@"
