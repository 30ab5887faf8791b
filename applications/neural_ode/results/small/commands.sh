#!/usr/bin/env bash
# The reduced-size first pass committed in this folder (torch backend, run as
# OMP_NUM_THREADS=1 KERAS_BACKEND=torch nice -n 19, the four in parallel).
# Extra arguments are passed on (e.g. --summary-only).
set -euo pipefail
S=applications/neural_ode/results/small
python -m applications.neural_ode gradients --run-dir $S/gradients --set width=8 --set samples=16 --set steps=2,4,8,16 --set reference_steps=64 "$@"
python -m applications.neural_ode resnet --run-dir $S/resnet --seeds 0-2 --set width=8 --set samples=16 --set reference_steps=64 "$@"
python -m applications.neural_ode ntk --run-dir $S/ntk --set widths=8,16,32,64,128 --set samples=12 --set steps=2 --set train_steps=5 "$@"
python -m applications.neural_ode train --run-dir $S/train --set widths=8,32,128 --set samples=100 --set steps=2 --set train_steps=60 "$@"
