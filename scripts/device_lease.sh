#!/usr/bin/env bash
# The first thing a session with a lent GPU runs (DEVELOPERS.md): train the shipped models
# on the device for BUDGET seconds, most-behind first, and leave tar files of the results
# in $OUT. Prepare here first (docs/training.md, "On a lent GPU"):
#   python scripts/pack_train_crops.py .devpack
#   pip download --no-deps --only-binary=:all: -d .whl pypng==0.20220715.0
# then call the device tool with carry [".devpack", ".whl"], timeout_s 600 and the command
#   bash scripts/device_lease.sh 520
# and, at once (the machine stays warm for 30 s only), a second call that goes on from the
# first call's weights, still on the machine, with what is left (timeout_s 270):
#   bash scripts/device_lease.sh 225 --init /tmp/device-runs
# Arguments after the budget go to train_on_device.py. Each call writes its runs to a new
# folder (/tmp/device-runs, then /tmp/device-runs-2, ...). The first call first times a
# training step in float32, TF32 and bfloat16 (benchmarks/train_throughput.py, expected to
# take about 20 s, which come off the budget; $OUT/throughput.txt): the runs train in TF32
# on the block kernel unless told otherwise (--precision, --attention-kernel).
set -euo pipefail
budget=${1:-500}
shift || true
if ! [[ "$budget" =~ ^[0-9]+$ ]]; then
    echo "error: the budget is whole seconds, got '$budget'" >&2
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
nproc
out=/tmp/device-runs
n=1
while [ -e "$out" ]; do n=$((n + 1)); out=/tmp/device-runs-$n; done
bundle=${OUT:-runs/device-bundle}
mkdir -p "$bundle"
if [ "$n" = 1 ]; then
    start=$SECONDS
    timeout -k 5 60 python3 benchmarks/train_throughput.py --device cuda --shipped --batch 32 \
        --steps 20 --precisions fp32 tf32 bf16 --attention-kernel blockwise 2>&1 | tee "$bundle/throughput.txt" || true
    spent=$((SECONDS - start))
    budget=$((budget > spent ? budget - spent : 0))
fi
python3 scripts/train_on_device.py --budget "$budget" --out "$out" \
    --train .devpack/train --val .devpack/val --bundle "$bundle" "$@"
