#!/usr/bin/env bash
# Checks tokenmill shards with megatron-core's real IndexedDataset (see megatron_read.py).
#
#   scripts/compat/check.sh DATASET_DIR [EXPECTED_JSON]
#   scripts/compat/check.sh --sample     # writes sample datasets with the shards crate
#                                        # (uint16, int32, shuffled, merged) and checks each
#
# Creates the venv first if needed (scripts/compat/setup.sh; ~4.4 GB, PyPI only, no GPU).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${MEGATRON_VENV:-/tmp/megatron-venv}"
"$HERE/setup.sh" >&2
PY=("$VENV/bin/python" -W ignore "$HERE/megatron_read.py")

if [[ "${1:-}" == "--sample" ]]; then
  ROOT="$(cd "$HERE/../.." && pwd)"
  OUT="$(mktemp -d)"
  trap 'rm -rf "$OUT"' EXIT
  (cd "$ROOT" && cargo run --quiet -p tokenmill-shards --example compat_sample -- "$OUT") >&2
  status=0
  for name in uint16 int32 shuffled merged; do
    "${PY[@]}" "$OUT/$name" || status=1
  done
  exit $status
fi

[[ $# -ge 1 ]] || { echo "usage: $0 DATASET_DIR [EXPECTED_JSON] | --sample" >&2; exit 2; }
if [[ $# -ge 2 ]]; then
  exec "${PY[@]}" "$1" --expected "$2"
fi
exec "${PY[@]}" "$1"
