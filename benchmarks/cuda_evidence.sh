#!/usr/bin/env bash
# The GPU evidence of README "Running on a GPU": CUDA tests, training throughput against the textbook
# step, and the standard sweep packed onto one GPU. Run from the repository root on a CUDA machine:
#
#   bash benchmarks/cuda_evidence.sh bench OUTDIR     # throughput table -> OUTDIR/throughput.txt
#   bash benchmarks/cuda_evidence.sh tests OUTDIR     # pytest -m cuda    -> OUTDIR/cuda_tests.txt
#   bash benchmarks/cuda_evidence.sh sweep JOBS       # standard sweep in the background (resumable)
#   bash benchmarks/cuda_evidence.sh wait SECONDS     # wait for the sweep (at most SECONDS)
#   bash benchmarks/cuda_evidence.sh collect OUTDIR   # finished runs without checkpoints -> OUTDIR/gpu_runs.tgz
#   bash benchmarks/cuda_evidence.sh all OUTDIR       # ONE call, <= ~9 min: tests, bench, then the confirmatory
#                                                     # GPU sweep (preset gpu: 128² crops, ngf 32; the detail and
#                                                     # abstraction primaries + confound ablations on denoising,
#                                                     # 3 seeds, packed), stopped at its deadline, reported into
#                                                     # OUTDIR/results (tables, verdicts.json, figures)
#
# `all` budgets (seconds, environment): TESTS_S (150), BENCH_S (120), SWEEP_S (300); SKIP_TESTS=1 /
# SKIP_BENCH=1 skip a part; CONFIGS the configurations. Dry run on CPU (tiny has no depth2-wide):
#   PRESET=tiny DEVICE=cpu SKIP_TESTS=1 SKIP_BENCH=1 CONFIGS="baseline detail-branch" bash benchmarks/cuda_evidence.sh all /tmp/o
#
# The sweep runs under CUDA MPS when the daemon starts (kernels of the packed runs then overlap);
# otherwise the runs time-slice the GPU. SWEEP (default /tmp/gpusweep) is the sweep folder; PRESET
# (standard) and DEVICE (cuda) can be changed for a dry run on CPU: PRESET=tiny DEVICE=cpu.
set -uo pipefail
SWEEP=${SWEEP:-/tmp/gpusweep}
export PYTHONUNBUFFERED=1
py() { python3 "$@"; }

case "${1:-}" in
bench)
    mkdir -p "$2"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$2/gpu.txt"
    py benchmarks/train_throughput.py --device cuda --steps "${STEPS:-30}" --repeats 3 2>&1 | tee "$2/throughput.txt"
    ;;
tests)
    mkdir -p "$2"
    py -m pytest -q -m cuda -p no:cacheprovider tests 2>&1 | tee "$2/cuda_tests.txt"
    ;;
sweep)
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY" "$SWEEP"
    if [ "${DEVICE:-cuda}" = cuda ] && command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d \
        && timeout 60 python3 -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
        echo "MPS on" | tee "$SWEEP/mps.txt"
    else
        command -v nvidia-cuda-mps-control >/dev/null && echo quit | nvidia-cuda-mps-control 2>/dev/null
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
        echo "MPS off (time-sliced)" | tee "$SWEEP/mps.txt"
    fi
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
    out="$2"; mkdir -p "$out"
    CONFIGS=${CONFIGS:-"baseline baseline+global-residual detail-branch no-skip fix-sampling depth2-wide"}
    { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"; \
      python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$out/gpu.txt"
    echo "command: bash benchmarks/cuda_evidence.sh all $out (PRESET=${PRESET:-gpu} DEVICE=${DEVICE:-cuda})" >> "$out/gpu.txt"
    [ "${SKIP_TESTS:-0}" = 1 ] || timeout "${TESTS_S:-150}" python3 -m pytest -q -m cuda -p no:cacheprovider tests \
        > "$out/cuda_tests.txt" 2>&1
    [ "${SKIP_BENCH:-0}" = 1 ] || timeout "${BENCH_S:-120}" python3 benchmarks/train_throughput.py --device "${DEVICE:-cuda}" \
        --steps "${STEPS:-30}" --repeats 2 > "$out/throughput.txt" 2>&1
    # shellcheck disable=SC2086
    timeout "${SWEEP_S:-300}" python3 -m infoflow.experiments.cli reproduce --preset "${PRESET:-gpu}" --tasks denoise \
        --problems detail abstraction --configs $CONFIGS --jobs "${JOBS:-18}" --device "${DEVICE:-cuda}" \
        --out "$SWEEP" --no-report --no-classical --no-progress > "$out/sweep.log" 2>&1
    echo "sweep: $(ls "$SWEEP"/*/*/seed*/DONE 2>/dev/null | wc -l) runs done within ${SWEEP_S:-300} s" | tee -a "$out/gpu.txt"
    python3 -m infoflow.experiments.cli report "$SWEEP" --publish "$out/results" > "$out/report.log" 2>&1
    ls -la "$out" "$out/results" 2>/dev/null
    ;;
*)
    sed -n 2,22p "$0"; exit 2
    ;;
esac
