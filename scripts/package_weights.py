"""Write the shipped weight files (panet/weights/*.safetensors) with their model cards.

    python scripts/package_weights.py [--add NAME RUN "MACHINE"]...

Each shipped model comes from one or more training stages; the card in the file's metadata
records the architecture, parameter count, every stage's iterations, wall time and machine,
and the PSNR/SSIM measured by ``panet eval`` (the JSON reports under docs/eval, where
present). ``--add`` ships a new stage (a ``panet train`` run folder, usually warm-started
from the shipped file) and appends it to the card; without it the files are rewritten with
fresh eval results. The cards and the stage records in the docs are then rewritten by
``scripts/model_cards.py``. Tensors are stored in float16 (half the size; models are rebuilt in
float32 on loading).

When to re-ship: replace a shipped weight file only when one of its card levels gains at
least 0.1 dB, or when it reaches its target. Every re-ship stays in the git history for
good and adds about 15 MB to every clone (.git was 155 MB for a 27 MB working tree).
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import yaml

from panet.checkpoints import load_model, save_model
from panet.checkpoints.native import read_metadata
from panet.models import count_parameters

from model_cards import REPORTS, measured, write_pages   # scripts/model_cards.py

#: shipped file -> its configuration; the training stages live in each file's card, the
#: eval reports it is scored by in model_cards.REPORTS
SHIPPED = {f"{name}.safetensors": f"configs/shipped/{name}.yaml" for name in REPORTS}

#: panet restore's default tile and overlap, where they differ from the training crop and
#: the sixth-of-a-tile rule: chosen on the validation crops, within the time of 48-px tiles
#: overlapping by 8 (gray denoising: unbounded) (docs/restore.md, "Which tile and overlap")
RESTORE_TILING = {"denoise-color.safetensors": (40, 12), "denoise-gray.safetensors": (48, 24),
                  "demosaic.safetensors": (40, 12)}


def new_stage(run: str, machine: str, previous: str) -> dict:
    """A training stage from a ``panet train`` run folder, with its validation PSNR and the
    previous weights' score on the same crops (the first ``val_psnr`` of a warm start)."""
    meta = read_metadata(os.path.join(run, "model.safetensors"))
    with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as handle:
        scores = [(r["iteration"], r["val_psnr"]) for r in map(json.loads, handle)
                  if "val_psnr" in r]
    with open(os.path.join(run, "config.yaml"), encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    data = config["data"]
    stage = {"iterations": int(meta["iterations"]), "wall_seconds": int(meta["train_seconds"]),
             "machine": machine, "run": run, "started_from": previous,
             "train_images": data["train"], "validation_images": data["val"]}
    luma = config["model"].get("luma_from")
    if luma:   # trained and validated as the two-part model, this network giving the chroma
        stage["trained_as_pair_with"] = luma
    if scores and scores[0][0] == 0:
        stage["val_psnr_before"] = round(scores[0][1], 3)
    if scores:
        stage["val_psnr_after"] = round(scores[-1][1], 3)
    return stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs=3, action="append", default=[],
                        metavar=("NAME", "RUN", "MACHINE"),
                        help="ship RUN/model.safetensors as NAME, as a new training stage on "
                             "MACHINE (a description: CPU or GPU, cores, what ran beside it)")
    parser.add_argument("--force", metavar="WHY",
                        help="ship an added stage even if it did not beat the previous weights "
                             "on the training's validation crops; WHY (the evidence that it is "
                             "better anyway) goes into its card")
    parser.add_argument("--out", default="panet/weights",
                        help="folder of the shipped files (read and rewritten)")
    args = parser.parse_args()
    added = {name: (run, machine) for name, run, machine in args.add}
    unknown = sorted(set(added) - {os.path.splitext(n)[0] for n in SHIPPED})
    if unknown:
        parser.error(f"unknown shipped model(s): {', '.join(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    for name, config in SHIPPED.items():
        current = os.path.join(args.out, name)
        old = json.loads(read_metadata(current)["card"])
        stages = list(old["stages"])
        weights = old["weights"]
        model = load_model(current)
        if os.path.splitext(name)[0] in added:
            run, machine = added[os.path.splitext(name)[0]]
            model = load_model(os.path.join(run, "model.safetensors"))
            if any(s.get("run") == run for s in stages):
                raise SystemExit(f"{name}: {run} is already a stage of its card")
            stage = new_stage(run, machine, f"the shipped {name} of {len(stages)} stage(s)")
            better = stage.get("val_psnr_after", 0) > stage.get("val_psnr_before", 1e9)
            if not better and not args.force:
                raise SystemExit(f"{name}: {run} did not beat the shipped weights on the "
                                 f"validation crops ({stage.get('val_psnr_before')} -> "
                                 f"{stage.get('val_psnr_after')} dB); --force WHY ships it anyway")
            stages.append(stage)
            decay = read_metadata(os.path.join(run, "model.safetensors")).get("ema")
            what = (f"the moving average of the weights (train.ema {decay}) at the end of the "
                    "last stage" if decay else "the last iteration of the last stage")
            weights = (f"{what}, shipped because it beat the previous weights on the held-out "
                       "validation crops" if better
                       else f"{what}, shipped although it did not beat the previous weights "
                       f"on the training's validation crops: {args.force}")
        card = {"config": config, "parameters": count_parameters(model),
                "training_data": old["training_data"], "stages": stages,
                "iterations": sum(s["iterations"] for s in stages),
                "weights": weights,
                "results_offline_mini": measured(REPORTS[os.path.splitext(name)[0]])}
        # panet restore's default tile: the training crop (patch_size of the last stage),
        # unless RESTORE_TILING names another
        with open(config, encoding="utf-8") as handle:
            patch = yaml.safe_load(handle)["data"]["patch_size"]
        metadata = {"task": model.metadata["task"], "card": json.dumps(card),
                    "restore_tile": str(patch)}
        if name in RESTORE_TILING:
            tile, overlap = RESTORE_TILING[name]
            metadata.update(restore_tile=str(tile), restore_overlap=str(overlap))
        save_model(model.half(), current, metadata)
        print(f"{name}: {card['parameters']:,} parameters, {card['iterations']} iterations, "
              f"{os.path.getsize(current) / 2**20:.1f} MiB")
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(args.out, "*.safetensors")))
    print(f"total {total / 2**20:.1f} MiB")
    write_pages(args.out)     # the cards (docs/models.md) and records (docs/history/models.md)


if __name__ == "__main__":
    main()
