#!/usr/bin/env bash
# The engine's GPU check, in one run of about 3-6 minutes on the GPU machine (repo root):
#   1. builds the engine's CUDA test and GPU bench in release with cargo, or, where there is no
#      cargo (or no crates offline), uses binaries staged beforehand by `scripts/gpu-check.sh stage`;
#   2. runs every CUDA-vs-CPU kernel test (engine/tests/cuda.rs) and the half-precision ones
#      (engine/tests/half.rs: the fp16/bf16 rounding kernel, GemmEx) with --nocapture;
#   3. runs the GPU bench (classifier GB/s, GPT tokens/s; engine/benches/gpu.rs);
#   4. runs the PyTorch baseline for the same GPT configs and batches (gpu_torch_baseline.py);
#   5. scores with an encoder classifier (BERT-base, random weights, 512 tokens) on the GPU, ours
#      (engine/examples/encoder_throughput.rs) and PyTorch's (gpu_encoder_baseline.py) on the same
#      model, GPU and batch, in fp32, bf16 and fp16 (PyTorch's model cast to the dtype; ours with
#      the linear layers' products in it, f32 accumulation);
#   6. writes everything, and a summary with our/PyTorch ratios, into $OUT (default ./out/gpu).
#
# Staging (on a machine with cargo, before the GPU run): `scripts/gpu-check.sh stage` builds and
# copies the four binaries, stripped, to out/gpu-bin/ (ignored by git); pass `carry: ["out/gpu-bin"]`
# to the device tool. The binaries need glibc >= 2.34 and load libcuda, libnvrtc and libcublas at
# run time; this script finds the latter two in the CUDA toolkit or in PyTorch's nvidia wheels.
#
# `scripts/gpu-check.sh --smoke` rehearses all of it on a machine without a GPU, at tiny sizes: one
# emulated kernel test (all of them run in every CI run), the benches on the CUDA emulator (the
# encoder a 2-layer, 64-wide one), PyTorch on the CPU ($PYTHON, default python3, must have torch;
# transformers is used when installed), and the summary, so a GPU session does not find a broken
# script. Its figures mean nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=out/gpu-bin
SMOKE=
if [ "${1:-}" = --smoke ]; then
    SMOKE=1
    export TOKENMILL_GPU_BENCH=smoke
fi
PYTHON=${PYTHON:-python3}
FAILED=  # the steps that failed; the script exits 1 when there are any

find_bins() { # newest test/bench binaries of a cargo target dir's profile directory
    local dir=$1
    TEST_BIN=$(ls -t "$dir"/deps/cuda-* 2>/dev/null | grep -v '\.d$' | head -1)
    HALF_BIN=$(ls -t "$dir"/deps/half-* 2>/dev/null | grep -v '\.d$' | head -1)
    BENCH_BIN=$(ls -t "$dir"/deps/gpu-* 2>/dev/null | grep -v '\.d$' | head -1)
    ENC_BIN=$dir/examples/encoder_throughput
    [ -x "$ENC_BIN" ] || ENC_BIN=
}

build() { # cargo build of both binaries; sets TEST_BIN and BENCH_BIN
    local target=${CARGO_TARGET_DIR:-target}
    if [ -n "$SMOKE" ]; then
        # The dev profile, which CI has built already (the engine is optimised in it).
        cargo test -p tokenmill-engine --features emulator --test cuda --test half --no-run "$@" &&
            cargo test -p tokenmill-engine --features emulator --bench gpu --no-run "$@" &&
            cargo build -p tokenmill-engine --features emulator --example encoder_throughput "$@" || return 1
        find_bins "$target/debug"
    else
        cargo test -p tokenmill-engine --features emulator --release --test cuda --test half --no-run "$@" &&
            cargo bench -p tokenmill-engine --features emulator --bench gpu --no-run "$@" &&
            cargo build -p tokenmill-engine --features emulator --release --example encoder_throughput "$@" || return 1
        find_bins "$target/release"
    fi
    [ -n "$TEST_BIN" ] && [ -n "$HALF_BIN" ] && [ -n "$BENCH_BIN" ] && [ -n "$ENC_BIN" ]
}

if [ "${1:-}" = stage ]; then
    command -v cargo >/dev/null || { echo "stage needs cargo"; exit 2; }
    build || { echo "build failed"; exit 1; }
    mkdir -p "$BIN"
    strip -o "$BIN/cuda-tests" "$TEST_BIN" && strip -o "$BIN/half-tests" "$HALF_BIN" &&
        strip -o "$BIN/gpu-bench" "$BENCH_BIN" &&
        strip -o "$BIN/encoder-throughput" "$ENC_BIN" || exit 1
    ls -la "$BIN"
    exit 0
fi

OUT=${OUT:-./out/gpu}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "[gpu-check $(date +%T)] $*" | tee -a "$SUMMARY"; }

# The CUDA libraries: libcuda from the driver; libnvrtc and libcublas from a toolkit or from the
# nvidia-* Python wheels PyTorch ships (not on the loader's path by default).
for d in /usr/local/nvidia/lib64 /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
lib_paths() { # where the loader would find $1: ldconfig's cache, then LD_LIBRARY_PATH
    ldconfig -p 2>/dev/null | grep -o "/.*/$1[.0-9]*\$"
    local d
    local IFS=:
    for d in ${LD_LIBRARY_PATH:-}; do ls "$d/$1"* 2>/dev/null; done
}
for lib in libnvrtc.so libcublas.so; do
    if [ -z "$(lib_paths $lib)" ]; then
        site=$("$PYTHON" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
        hit=$(find $site /usr/local/cuda* /opt -name "$lib*" 2>/dev/null | head -1)
        [ -n "$hit" ] && LD_LIBRARY_PATH="$(dirname "$hit")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
done
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
{
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    for lib in libcuda.so libnvrtc.so libcublas.so; do
        echo "$lib: $(lib_paths $lib | head -3 | tr '\n' ' ')"
    done
} >"$OUT/env.txt" 2>&1
say "environment: $(tr '\n' ' ' <"$OUT/env.txt" | cut -c1-400)"

# 1. Binaries: build here if cargo can, else the staged ones.
TEST_BIN= HALF_BIN= BENCH_BIN= ENC_BIN=
if command -v cargo >/dev/null 2>&1; then
    say "building with $(cargo --version 2>&1)"
    build --offline >"$OUT/build.log" 2>&1 || { say "cargo build failed (see build.log); trying staged binaries"; TEST_BIN= HALF_BIN= BENCH_BIN= ENC_BIN=; }
else
    say "no cargo here (install: curl https://sh.rustup.rs -sSf | sh -s -- -y --profile minimal; then rerun), using staged binaries"
fi
if [ -z "$TEST_BIN" ]; then
    TEST_BIN=$BIN/cuda-tests HALF_BIN=$BIN/half-tests BENCH_BIN=$BIN/gpu-bench ENC_BIN=$BIN/encoder-throughput
    if [ ! -x "$TEST_BIN" ] || [ ! -x "$HALF_BIN" ] || [ ! -x "$BENCH_BIN" ] || [ ! -x "$ENC_BIN" ]; then
        say "FAIL: no binaries: run 'scripts/gpu-check.sh stage' on a machine with cargo and carry out/gpu-bin"
        exit 1
    fi
fi
say "test binaries $TEST_BIN $HALF_BIN, bench binary $BENCH_BIN, encoder binary $ENC_BIN"

# 2. Kernel tests (each compares CUDA with the CPU reference).
# Only the GPU half: the emulated half runs in every CI run (and needs a C++ compiler).
HALF=on_gpu::
[ -n "$SMOKE" ] && HALF=emulated::classifier
timeout 240 "$TEST_BIN" --nocapture --test-threads 1 "$HALF" device_resolution >"$OUT/cuda-tests.log" 2>&1
rc=$?
[ $rc = 0 ] || FAILED="$FAILED cuda-tests"
say "cuda tests: exit $rc; $(grep -c 'values within rtol' "$OUT/cuda-tests.log") comparisons ok, $(grep -c SKIPPED "$OUT/cuda-tests.log") skipped; $(grep 'test result' "$OUT/cuda-tests.log")"
grep -E "panicked|FAILED|out of tolerance" "$OUT/cuda-tests.log" | head -20 | tee -a "$SUMMARY"
# The half-precision kernel and products (GPU half; --smoke: the emulated rounding test).
PRECISION_TESTS=on_gpu::
[ -n "$SMOKE" ] && PRECISION_TESTS=emulated::rounding
timeout 120 "$HALF_BIN" --nocapture --test-threads 1 "$PRECISION_TESTS" >"$OUT/half-tests.log" 2>&1
rc=$?
[ $rc = 0 ] || FAILED="$FAILED half-tests"
say "half tests: exit $rc; $(grep -oE 'ok (fp16|bf16) rounding.*|ok matmul_bt_half.*' "$OUT/half-tests.log" | tr '\n' ' '); $(grep 'test result' "$OUT/half-tests.log")"
grep -E "panicked|FAILED" -A 3 "$OUT/half-tests.log" | head -20 | tee -a "$SUMMARY"

# 3. The GPU bench (JSON on stdout, errors in the log).
timeout 240 "$BENCH_BIN" >"$OUT/gpu-bench.json" 2>"$OUT/gpu-bench.log"
rc=$?
[ $rc = 0 ] || FAILED="$FAILED gpu-bench"
say "gpu bench: exit $rc; $(head -c 1500 "$OUT/gpu-bench.json")"

# 4. PyTorch for the same GPT configs.
PYTHONUNBUFFERED=1 timeout 200 "$PYTHON" -W ignore scripts/gpu_torch_baseline.py ${SMOKE:+--smoke} >"$OUT/torch-baseline.json" 2>>"$OUT/gpu-bench.log"
rc=$?
[ $rc = 0 ] || FAILED="$FAILED torch-baseline"
say "torch baseline: exit $rc; $(head -c 800 "$OUT/torch-baseline.json")"

# 5. The encoder classifier: the same random-weight model, GPU and batch for both, in each
# precision (ours: the linear layers' products; PyTorch: the whole model cast).
# The model (440 MB for BERT-base) goes to a temporary directory, not into $OUT.
if [ -n "$SMOKE" ]; then ENC_ARGS="8 64 4" ENC_DEV=emulator TORCH_DEV=cpu SMALL=--small; else ENC_ARGS="512 512 32" ENC_DEV=cuda TORCH_DEV=cuda SMALL=; fi
ENC_MODEL=${TMPDIR:-/tmp}/tokenmill-gpu-check-encoder${SMALL:+-small}
timeout 120 "$PYTHON" scripts/gpu_encoder_baseline.py make "$ENC_MODEL" $SMALL >>"$OUT/gpu-bench.log" 2>&1 ||
    FAILED="$FAILED encoder-model"
for P in fp32 bf16 fp16; do
    timeout 200 "$PYTHON" -W ignore scripts/gpu_encoder_baseline.py time "$ENC_MODEL" $ENC_ARGS $TORCH_DEV $P >"$OUT/torch-encoder-$P.json" 2>>"$OUT/gpu-bench.log"
    rc=$?
    [ $rc = 0 ] || FAILED="$FAILED torch-encoder-$P"
    say "torch encoder $P: exit $rc; $(head -c 400 "$OUT/torch-encoder-$P.json")"
    timeout 240 "$ENC_BIN" "$ENC_MODEL" $ENC_ARGS $ENC_DEV $P >"$OUT/encoder-$P.json" 2>>"$OUT/gpu-bench.log"
    rc=$?
    [ $rc = 0 ] || FAILED="$FAILED encoder-$P"
    say "encoder $P: exit $rc; $(head -c 400 "$OUT/encoder-$P.json")"
done

# 6. Ratios against the issue's targets.
"$PYTHON" - "$OUT" <<'EOF' 2>&1 | tee -a "$SUMMARY" || FAILED="$FAILED summary"
import json, sys
out = sys.argv[1]
for p in ("fp32", "bf16", "fp16"):
    try:
        e, t = json.load(open(f"{out}/encoder-{p}.json")), json.load(open(f"{out}/torch-encoder-{p}.json"))
        print(f"encoder classifier {p} ({e['device']} vs PyTorch on {t['device']}, batch {e['batch']} x {e['tokens_per_doc']} tokens): "
              f"{e['docs_per_s']:.1f} docs/s vs {t['docs_per_s']:.1f} ({t['engine']}): {e['docs_per_s'] / t['docs_per_s']:.2f}x (target >= 1x)")
    except Exception as ex:
        print(f"no encoder {p} figures: {ex}")
try:
    ours = json.load(open(f"{out}/gpu-bench.json"))
except Exception as e:
    sys.exit(f"no bench JSON: {e}")
c = ours["classifier"]
print(f"classifier scoring: {c['gpu_device_only_gb_per_s']} GB/s on the GPU given features on the device, "
      f"{c['gpu_with_copies_gb_per_s']} GB/s with copies (target >= 1 GB/s); CPU {c['cpu_score_batch_gb_per_s']} GB/s; "
      f"max |diff| vs CPU {c['max_abs_diff_vs_cpu']}")
try:
    torch = {g["name"]: g for g in json.load(open(f"{out}/torch-baseline.json"))["gpt"]}
except Exception as e:
    torch = {}
    print(f"no torch baseline: {e}")
for g in ours["gpt"]:
    t = torch.get(g["name"], {}).get("torch_tokens_per_s")
    ratio = f"{g['gpu_tokens_per_s'] / t:.2f}x PyTorch ({t:.0f} tok/s; target >= 0.5x)" if t else "no PyTorch figure"
    print(f"gpt {g['name']}: {g['gpu_tokens_per_s']:.0f} tok/s on the GPU, {g['cpu_tokens_per_s']:.0f} on the CPU, {ratio}; "
          f"loss {g['first_loss']} -> {g['final_loss']}")
EOF
if [ -n "$FAILED" ]; then
    say "FAILED:$FAILED; files in $OUT"
    exit 1
fi
say "done; files in $OUT"
