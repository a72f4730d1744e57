#!/usr/bin/env bash
# The GPU evidence of docs/scaling.md ("On one GPU"): CUDA tests, training throughput against the textbook
# step, and the standard sweep packed onto one GPU. Run from the repository root on a CUDA machine:
#
#   bash benchmarks/cuda_evidence.sh bench OUTDIR     # throughput table -> OUTDIR/throughput.txt
#   bash benchmarks/cuda_evidence.sh tests OUTDIR     # pytest -m cuda    -> OUTDIR/cuda_tests.txt
#   bash benchmarks/cuda_evidence.sh sweep JOBS       # standard sweep in the background (resumable)
#   bash benchmarks/cuda_evidence.sh wait SECONDS     # wait for the sweep (at most SECONDS)
#   bash benchmarks/cuda_evidence.sh collect OUTDIR   # finished runs without checkpoints -> OUTDIR/gpu_runs.tgz
#   bash benchmarks/cuda_evidence.sh all OUTDIR       # ONE call, <= ~9 min: the confirmatory GPU sweep (preset
#                                                     # gpu: 128² crops, ngf 32; the detail and abstraction
#                                                     # primaries + confound ablations on denoising, 3 seeds,
#                                                     # packed) with the CUDA tests beside it, stopped at its
#                                                     # deadline; then the throughput table on the quiet GPU.
#                                                     # Finished runs -> OUTDIR/gpu_runs.tgz (no checkpoints);
#                                                     # report them with `infoflow report` where they land.
#
# `all` budgets (seconds from its start, environment): TESTS_S (300), SWEEP_S (330: the sweep's deadline),
# BENCH_S (100), COMPILE_S (70); SKIP_TESTS=1 / SKIP_BENCH=1 skip a part; CONFIGS the configurations, TASKS
# (denoise) and PROBLEMS (detail abstraction) the grid, JOBS the runs at once (15); SWEEP an existing sweep
# folder resumes. Dry run on CPU (tiny has no depth2-wide):
#   PRESET=tiny DEVICE=cpu SKIP_TESTS=1 SKIP_BENCH=1 CONFIGS="baseline detail-branch" bash benchmarks/cuda_evidence.sh all /tmp/o
#
# The sweep runs under CUDA MPS when the daemon starts (kernels of the packed runs then overlap);
# otherwise the runs time-slice the GPU. SWEEP (default /tmp/gpusweep) is the sweep folder; PRESET
# (standard for `sweep`, gpu for `all`) and DEVICE (cuda) can be changed for a dry run on CPU.
set -uo pipefail
SWEEP=${SWEEP:-/tmp/gpusweep}
export PYTHONUNBUFFERED=1
# only the CUDA test modules are collected: collecting all of tests/ imports the dev extras (nbmake, npeet...)
CUDA_TESTS=${CUDA_TESTS:-"tests/experiments/test_cuda.py tests/infotheory/test_cuda_estimators.py"}
py() { python3 "$@"; }

# CUDA MPS (kernels of the packed runs overlap) when its daemon starts; else the runs time-slice the GPU
mps_start() {
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d \
        && timeout 60 python3 -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
        echo "MPS on"
    else
        command -v nvidia-cuda-mps-control >/dev/null && echo quit | nvidia-cuda-mps-control 2>/dev/null
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
        echo "MPS off (time-sliced)"
    fi
}

case "${1:-}" in
bench)
    mkdir -p "$2"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$2/gpu.txt"
    py benchmarks/train_throughput.py --device cuda --steps "${STEPS:-30}" --repeats 3 2>&1 | tee "$2/throughput.txt"
    ;;
tests)
    mkdir -p "$2"
    py -m pytest -q -m cuda -p no:cacheprovider $CUDA_TESTS 2>&1 | tee "$2/cuda_tests.txt"
    ;;
sweep)
    mkdir -p "$SWEEP"
    if [ "${DEVICE:-cuda}" = cuda ]; then mps_start > "$SWEEP/mps.txt"; cat "$SWEEP/mps.txt"; fi
    date +%s > "$SWEEP/started"
    setsid nohup bash -c "python3 -m infoflow.experiments.cli reproduce --preset ${PRESET:-standard} --jobs ${2:-12} --device ${DEVICE:-cuda} \
        --out $SWEEP --no-report --no-classical --no-progress; date +%s > $SWEEP/finished" \
        > "$SWEEP/sweep.log" 2>&1 < /dev/null &
    ;;
wait)
    end=$((SECONDS + ${2:-60}))
    while [ ! -f "$SWEEP/finished" ] && [ $SECONDS -lt $end ]; do sleep 5; done
    echo "runs done: $(ls "$SWEEP"/*/*/seed*/DONE 2>/dev/null | wc -l)"
    ;;
collect)
    mkdir -p "$2"
    (cd "$SWEEP" && tar czf "$2/gpu_runs.tgz" --exclude=checkpoints --exclude=samples --exclude='*.pt' .)
    cp "$SWEEP/sweep.log" "$2/sweep.log" 2>/dev/null
    ls -la "$2"
    ;;
all)
    # One call on a lent GPU: the sweep starts first (in its own process group) and the CUDA tests run
    # beside it; at the sweep's deadline what still runs is stopped, then the throughput table is taken
    # on the quiet GPU; finished runs come back as one archive (report them where they land).
    out="$2"; mkdir -p "$out"; t0=$SECONDS
    CONFIGS=${CONFIGS:-"baseline baseline+global-residual detail-branch fix-sampling depth2-wide"}
    { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"; \
      python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda); print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"; \
      nproc; } | tee "$out/gpu.txt"
    echo "command: bash benchmarks/cuda_evidence.sh all $out (PRESET=${PRESET:-gpu} DEVICE=${DEVICE:-cuda} CONFIGS=$CONFIGS)" >> "$out/gpu.txt"
    [ "${DEVICE:-cuda}" = cuda ] && mps_start >> "$out/gpu.txt"
    mkdir -p "$SWEEP"
    # shellcheck disable=SC2086
    setsid bash -c "python3 -m infoflow.experiments.cli reproduce --preset ${PRESET:-gpu} --tasks ${TASKS:-denoise} \
        --problems ${PROBLEMS:-detail abstraction} --configs $CONFIGS --jobs ${JOBS:-15} --device ${DEVICE:-cuda} \
        --out $SWEEP --no-report --no-classical --no-progress" > "$out/sweep.log" 2>&1 < /dev/null &
    sweep_pid=$!
    if [ "${SKIP_TESTS:-0}" != 1 ]; then
        timeout "${TESTS_S:-300}" python3 -m pytest -v -m cuda -p no:cacheprovider $CUDA_TESTS > "$out/cuda_tests.txt" 2>&1
        echo "tests done at $((SECONDS - t0)) s" >> "$out/gpu.txt"
    fi
    while kill -0 "$sweep_pid" 2>/dev/null && [ $((SECONDS - t0)) -lt "${SWEEP_S:-330}" ]; do sleep 2; done
    kill -TERM -- -"$sweep_pid" 2>/dev/null; sleep 3; kill -KILL -- -"$sweep_pid" 2>/dev/null
    echo "sweep: $(ls "$SWEEP"/*/*/seed*/DONE 2>/dev/null | wc -l) runs done at $((SECONDS - t0)) s" | tee -a "$out/gpu.txt"
    (cd "$SWEEP" && tar czf "$out/gpu_runs.tgz" --exclude=checkpoints --exclude=samples --exclude=tensorboard \
        --exclude='*.pt' .)
    if [ "${SKIP_BENCH:-0}" != 1 ]; then
        timeout "${BENCH_S:-100}" python3 benchmarks/train_throughput.py --device "${DEVICE:-cuda}" \
            --steps "${STEPS:-30}" --repeats 2 --modes fp32 bf16 bf16+cl > "$out/throughput.txt" 2>&1
        timeout "${COMPILE_S:-70}" python3 benchmarks/train_throughput.py --device "${DEVICE:-cuda}" \
            --steps "${STEPS:-30}" --repeats 2 --presets pix2pix --modes bf16+cl+compile > "$out/throughput_compile.txt" 2>&1
    fi
    echo "all done at $((SECONDS - t0)) s" >> "$out/gpu.txt"
    ls -la "$out"
    ;;
*)
    sed -n 2,22p "$0"; exit 2
    ;;
esac
