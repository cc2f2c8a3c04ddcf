#!/usr/bin/env bash
# The first thing a session with a lent GPU runs (DEVELOPERS.md): train the shipped models
# on the device for BUDGET seconds, most-behind first, and leave tar files of the results
# in $OUT. Prepare here first (docs/training.md, "On a lent GPU"):
#   python scripts/pack_train_crops.py .devpack
#   pip download --no-deps --only-binary=:all: -d .whl pypng==0.20220715.0
# then call the device tool with carry [".devpack", ".whl"], timeout_s 600 and the command
#   bash scripts/device_lease.sh 500
set -euo pipefail
budget=${1:-500}
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
nproc
python3 scripts/train_on_device.py --budget "$budget" --out /tmp/device-runs \
    --train .devpack/train --val .devpack/val --bundle "${OUT:-runs/device-bundle}"
