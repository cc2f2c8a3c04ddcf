#!/usr/bin/env bash
# Regenerates the tables and figures under docs/eval/ (see docs/evaluation.md).
# Needs: panet data fetch test; pip install -e ".[baselines]"; and, for the network row,
# the short-run PANet-S weights from docs/training.md in runs/short-panet-s-sigma50/.
set -euo pipefail
out=${1:-docs/eval}
short=runs/short-panet-s-sigma50/model.safetensors
panet eval --task demosaic --levels RGGB --models none --figure-image kodim23 --out "$out/demosaic" --quiet
panet eval --task sr --levels 2,3,4 --models none --figure-image monarch --out "$out/sr" --quiet
panet eval --task jpeg --levels 10,20,30,40 --models none --figure-image kodim23 \
    --out "$out/jpeg" --quiet
panet eval --task denoise --levels 30,50 --models none --figure-image kodim23 \
    --out "$out/denoise" --quiet
panet eval --task denoise --levels 50 --crop 128 --figure-image kodim23 \
    --models "PANet-S short run=$short@50" --out "$out/denoise-crops" --quiet
