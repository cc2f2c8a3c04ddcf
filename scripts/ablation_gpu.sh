#!/usr/bin/env bash
# The ablation study at GPU scale (configs/studies/ablation-gpu.yaml) in one call on a machine
# with one GPU and no network. Prepare where the photos are (docs/ablation.md, "On a GPU"):
#   python scripts/ablation_study.py configs/studies/ablation-gpu.yaml --pack .ablationpack
#   pip download --no-deps --only-binary=:all: -d .whl pypng==0.20220715.0
# then run, carrying .ablationpack and .whl:
#   bash scripts/ablation_gpu.sh [VARIANTS] [JOBS] [more ablation_study.py options]
# VARIANTS defaults to the four of Tables 6 and 7, three seeds each, all at once on the GPU
# (JOBS processes, 12 by default). It resumes from runs/ablation-gpu when called again on the
# same machine ($ABLATION_WORK, runs/ablation-gpu by default). Results, report, curves and
# each run's log land in $OUT (or runs/ablation-gpu-out).
set -euo pipefail
variants=${1:-resnet,nonlocal-pixel,nonlocal-block,pyramid}
jobs=${2:-12}
shift $(( $# > 2 ? 2 : $# ))
work=${ABLATION_WORK:-runs/ablation-gpu}
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
out=${OUT:-runs/ablation-gpu-out}
mkdir -p "$out/ablation"
status=0
python3 scripts/ablation_study.py configs/studies/ablation-gpu.yaml --jobs "$jobs" \
    --variants "$variants" --work "$work" \
    --results "$out/ablation/results-gpu.json" --report "$out/ablation-gpu.md" "$@" || status=$?
for run in "$work"/*-seed*; do
    [ -d "$run" ] || continue
    mkdir -p "$out/runs/$(basename "$run")"
    cp "$run"/train.log "$run"/metrics.jsonl "$out/runs/$(basename "$run")/" 2>/dev/null || true
done
exit $status
