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
# Optional: ARM cross compilers and qemu-user for the kernel's ARM tests
# (tests/tflite/test_kernel_arm.py), and arm-none-eabi-gcc with newlib and
# qemu-system-arm for TFLite Micro on an emulated Cortex-M4
# (tests/tflite/test_micro.py), and libstdc++ for aarch64 (the LiteRT 2 C API
# under qemu-aarch64, tests/tflite/test_litert_c.py); skipped without them,
# except in CI. Without
# apt, root or network the rest of the install goes on.
arm_tools="aarch64-linux-gnu-gcc arm-linux-gnueabihf-gcc qemu-aarch64 qemu-arm
  arm-none-eabi-g++ qemu-system-arm"
if [ "$(command -v $arm_tools | wc -l)" != 6 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
        -y -qq --no-install-recommends gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross libstdc++6-arm64-cross gcc-arm-linux-gnueabihf \
        libc6-dev-armhf-cross \
        qemu-user gcc-arm-none-eabi libnewlib-arm-none-eabi \
        libstdc++-arm-none-eabi-newlib qemu-system-arm; } >/dev/null 2>&1 ||
      echo "install.sh: ARM cross compilers / qemu not installed" >&2
  fi
fi
# The sign-language web page (python -m applications.sign_language web):
# LiteRT.js and ONNX Runtime Web from npm, exactly as package-lock.json pins
# them (served locally, never from a CDN), and headless Chromium with its
# driver for `web --selftest` (selenium comes with the test extra). Skipped
# without npm / apt / root; the tests that need them are then skipped, except
# in CI (CI=true), where they fail.
missing=""
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
      -y -qq --no-install-recommends $missing; } >/dev/null 2>&1 ||
    echo "install.sh: could not install$missing with apt-get" >&2
fi
if command -v npm >/dev/null 2>&1; then
  (cd applications/sign_language/web && npm ci --no-audit --no-fund --silent) ||
    echo "install.sh: npm ci failed: the web page has no runtimes" >&2
else
  echo "install.sh: npm not found: the web page has no runtimes (apt-get install npm)" >&2
fi
# Build the TFLite APALU kernel now (it is also built on first use).
python -m keras_apalu.tflite build
