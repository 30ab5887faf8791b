#!/usr/bin/env bash
# The committed comparison (docs/implicit_fields.md), on one CPU core at
# nice 19, JAX backend; resumable (rerun to continue an interrupted run).
# Budget: about an hour of wall time on a 2-core machine shared with other
# jobs (the 64x64 Radon matrices, built once into $KERAS_HOME, add about
# 3 and 13 min there, which the run reuses if they exist).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=applications/implicit_fields/results
run() { KERAS_BACKEND=jax taskset -c "${CORE:-1}" nice -n 19 python -m applications.implicit_fields "$@"; }
run image --run-dir "$out"                       # 64x64, 8,000 weights, 300 steps, 3 seeds
run ct --angles 50 100 --run-dir "$out"          # the same, sparse-view CT
run image --size 256 --params 20000 --steps 300 --eval-every 50 \
    --batch-pixels 4096 --seeds 0 --run-dir "$out/256"
