#!/usr/bin/env bash
# Regenerates the tables and figures under docs/eval/ (see docs/evaluation.md).
# Needs: panet data fetch test; pip install -e ".[baselines]"; and, for the network row,
# the short-run PANet-S weights from docs/training.md in runs/short-panet-s-sigma50/, and
# for the shipped cards the training runs of docs/training.md under runs/.
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

# The shipped models (docs/models.md). Each model's own tile and overlap, as `panet restore`
# uses them: 48 px overlapping by 8, but 40 by 12 for denoise-color and demosaic and 48 by
# 24 for denoise-gray (docs/restore.md). Whole images where a model has a target in issue
# 6, 256-px centre crops (with the baselines on the same crops) for the others.
shipped="--protocol default --tile 48 --quiet"
w=panet/weights
panet eval --task denoise --levels 30,50 --models shipped=$w/denoise-color.safetensors \
    --baselines input --protocol default --tile 40 --quiet --out "$out/shipped/denoise"
panet eval --task demosaic --levels RGGB --models shipped=$w/demosaic.safetensors \
    --baselines menon,malvar,bilinear --protocol default --tile 40 --quiet \
    --out "$out/shipped/demosaic"
panet eval --task jpeg --levels 10,20 --models shipped=$w/jpeg-y.safetensors \
    --baselines input $shipped --out "$out/shipped/jpeg"
for s in 2 3 4; do
    panet eval --task sr --levels $s --models shipped=$w/sr-x$s.safetensors --baselines bicubic \
        $shipped --out "$out/shipped/sr-x$s"
done
panet eval --task denoise-gray --levels 30,50 --baselines input,cbm3d --crop 256 $shipped \
    --out "$out/shipped/denoise-gray"
panet eval --task jpeg-color --levels 10,20 --baselines input,bm3d-deblock --crop 256 \
    $shipped --out "$out/shipped/jpeg-color"
python scripts/package_weights.py    # copies these results into the weights' cards
