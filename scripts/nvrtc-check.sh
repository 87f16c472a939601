#!/usr/bin/env bash
# Checks the CUDA backend as far as a machine without a GPU can: compiles kernels.cu with NVRTC
# for every named architecture (and the default), checks every kernel's PTX entry against the
# backend's typed launches, and checks the cuBLAS mapping against a reference BLAS
# (engine/src/backend/cuda/tests.rs). NVRTC needs no GPU, only libnvrtc: taken from the CUDA
# toolkit if installed, else from the nvidia wheels of the megatron-core venv that
# scripts/compat/setup.sh creates (CI runs this after the compatibility check).
#
#   scripts/nvrtc-check.sh            # fails if no libnvrtc can be found
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MEGATRON_VENV:-/tmp/megatron-venv}"
lib=$( (ldconfig -p 2>/dev/null | grep -o '/.*/libnvrtc\.so[.0-9]*$'; \
        find /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib "$VENV"/lib/python3*/site-packages/nvidia \
             -name 'libnvrtc.so*' 2>/dev/null) | grep -v builtins | head -1 || true)
if [[ -z "$lib" ]]; then
  echo "nvrtc-check: no libnvrtc found (install the CUDA toolkit, or run scripts/compat/setup.sh first)" >&2
  exit 1
fi
echo "nvrtc-check: using $lib"
export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
TOKENMILL_REQUIRE_NVRTC=1 exec cargo test --locked -p tokenmill-engine --lib backend::cuda -- --nocapture
