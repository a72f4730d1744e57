#!/usr/bin/env bash
# The GPU evidence of README "Running on a GPU": CUDA tests, training throughput against the textbook
# step, and the standard sweep packed onto one GPU. Run from the repository root on a CUDA machine:
#
#   bash benchmarks/cuda_evidence.sh bench OUTDIR     # throughput table -> OUTDIR/throughput.txt
#   bash benchmarks/cuda_evidence.sh tests OUTDIR     # pytest -m cuda    -> OUTDIR/cuda_tests.txt
#   bash benchmarks/cuda_evidence.sh sweep JOBS       # standard sweep in the background (resumable)
#   bash benchmarks/cuda_evidence.sh wait SECONDS     # wait for the sweep (at most SECONDS)
#   bash benchmarks/cuda_evidence.sh collect OUTDIR   # finished runs without checkpoints -> OUTDIR/gpu_runs.tgz
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
    setsid nohup bash -c "python3 -m experiments.cli reproduce --preset ${PRESET:-standard} --jobs ${2:-12} --device ${DEVICE:-cuda} \
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
*)
    sed -n 2,13p "$0"; exit 2
    ;;
esac
