#!/usr/bin/env bash
# Creates, idempotently, a Python venv with megatron-core's real IndexedDataset for
# scripts/compat/megatron_read.py. Needs only PyPI; no GPU.
#
# Why this shape: megatron-core imports torch, and PyPI has no CPU-only Linux torch wheel.
# torch 2.15's wheel (539 MB) cannot be imported without its CUDA libraries (libcudart,
# cuBLAS, cuDNN, cuSPARSELt, NCCL, NVSHMEM ... are linked by libtorch_cuda.so; each was
# tried missing and the import fails), but it runs on a machine without a GPU. triton (1 GB)
# is not needed to import, so it is left out. Result: ~4.4 GB, a few minutes on first run.
#
# Usage: scripts/compat/setup.sh       (venv at $MEGATRON_VENV, default /tmp/megatron-venv)
set -euo pipefail

VENV="${MEGATRON_VENV:-/tmp/megatron-venv}"
PY="${PYTHON:-python3}"
# Pinned together: the dependency list below is torch 2.15.0's, less triton.
MEGATRON_CORE="megatron-core==0.16.1"
TORCH="torch==2.15.0"
TORCH_DEPS=(
  filelock "typing-extensions>=4.13.0" "setuptools>=77.0.3" "sympy>=1.13.3" "networkx>=2.5.1" jinja2 "fsspec>=0.8.5"
  "cuda-toolkit[cublas,cudart,cufft,cufile,cupti,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.2.2"
  "cuda-bindings>=13.0.3,<14" nvidia-cudnn-cu13==9.26.0.51 nvidia-cusparselt-cu13==0.8.1
  nvidia-nccl-cu13==2.30.7 nvidia-nvshmem-cu13==3.7.2
)
CHECK='import numpy, torch; from megatron.core.datasets.indexed_dataset import IndexedDataset'

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -W ignore -c "$CHECK" >/dev/null 2>&1; then
  echo "megatron venv ready: $VENV"
  exit 0
fi

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet numpy "packaging>=24.2" "${TORCH_DEPS[@]}"
"$VENV/bin/pip" install --quiet --no-deps "$TORCH" "$MEGATRON_CORE"
"$VENV/bin/python" -W ignore -c "$CHECK; print('torch', torch.__version__, 'cuda available:', torch.cuda.is_available())"
echo "megatron venv ready: $VENV ($(du -sh "$VENV" | cut -f1))"
