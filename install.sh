#!/usr/bin/env bash
# Installs keras-apalu with everything its application, TFLite export and
# tests need, on a fresh machine. torch 2.13.0 (CPU build) goes first so that
# no later requirement pulls a multi-GB CUDA build of torch.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"
# The tfmot extra's own package, without its absl-py~=1.2 pin (see pyproject).
python -m pip install --quiet --no-deps "tensorflow-model-optimization==0.8.1"
# Build the TFLite APALU kernel now (it is also built on first use).
python -m keras_apalu.tflite build
