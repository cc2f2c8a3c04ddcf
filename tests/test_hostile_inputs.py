"""Bad and odd inputs to every command, as a table (docs/restore.md, "Bad input").

For each row: no traceback; the expected exit status; when the command fails, exactly one
error line, naming the file or option; the inputs byte-identical afterwards; no partial or
temporary file left anywhere; no output where nothing was done; and no code run from a
checkpoint. Valid but unusual images are restored with their size, mode and bit depth.
"""

import contextlib
import hashlib
import io
import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from panet import create_model, load_model, save_model
from panet.checkpoints.onnx_file import MIN_SIDE
from panet.cli import main
from panet.io import load_image, save_image
from test_restore_cli import _png_header_only

MARKER = "CODE-FROM-A-CHECKPOINT-RAN"


class _Payload:
    """What a malicious pickle holds: unpickling it runs a command that leaves a marker."""

    def __init__(self, folder):
        self.folder = folder

    def __reduce__(self):
        return (os.system, (f"touch {os.path.join(self.folder, MARKER)}",))


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """The workspace: every input the table refers to, by name."""
    root = tmp_path_factory.mktemp("hostile")
    path = lambda *parts: str(root.joinpath(*parts))   # noqa: E731
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8), path("tiny.safetensors"))
    save_model(create_model("pa-edsr-x2", n_resblocks=2, n_feats=8, reduction=2),
               path("x2.safetensors"))
    levels = lambda *shape: (rng.random(shape) * 255).astype(np.uint8)   # noqa: E731
    save_image(path("ok.png"), rng.random((20, 24, 3)))
    open(path("empty.png"), "wb").close()
    whole = open(path("ok.png"), "rb").read()
    open(path("truncated.png"), "wb").write(whole[:len(whole) // 2])
    open(path("random.png"), "wb").write(rng.bytes(3000))
    Image.fromarray(levels(20, 24, 3)).save(path("jpeg-named.png"), format="JPEG")
    open(path("text.jpg"), "w").write("not an image")
    save_image(path("one.png"), rng.random((1, 1, 3)))
    save_image(path("row.png"), rng.random((1, 50, 3)))
    save_image(path("column.png"), rng.random((40, 1, 1)))
    save_image(path("gray16.png"), rng.random((20, 24, 1)), bit_depth=16)
    save_image(path("rgb16.tif"), rng.random((20, 24, 3)), bit_depth=16)
    Image.fromarray(levels(20, 24, 3)).convert("P").save(path("palette.png"))
    Image.fromarray(levels(20, 24, 2), "LA").save(path("la.png"))
    Image.fromarray(levels(20, 24, 4), "RGBA").save(path("rgba.png"))
    Image.fromarray(levels(20, 24, 3)).convert("CMYK").save(path("cmyk.jpg"))
    Image.fromarray(levels(20, 24, 3)).convert("1").save(path("bilevel.png"))
    frames = [Image.fromarray(levels(20, 24, 3)) for _ in range(3)]
    frames[0].save(path("animated.png"), save_all=True, append_images=frames[1:])
    frames[0].save(path("animated.gif"), save_all=True, append_images=frames[1:])
    save_image(path("float.tif"), rng.random((20, 24, 3)) * 1.2 - 0.1, bit_depth=32)
    exif = Image.Exif()
    exif[0x0112] = 8                              # shown turned 90° counter-clockwise
    Image.fromarray(levels(16, 24, 3)).save(path("rotated.jpg"), exif=exif.tobytes())
    _png_header_only(root / "bomb.png", 100_000, 100_000, 8)   # 10 gigapixels claimed
    os.makedirs(path("folder.png"))
    os.makedirs(path("empty-folder"))
    open(path("a-file"), "w").write("a file, not a folder")
    # weights
    open(path("corrupt.safetensors"), "wb").write(rng.bytes(500))
    claim = b'{"w":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,4' + \
        b'0' * 18 + b']}}'
    open(path("exabytes.safetensors"), "wb").write(struct.pack("<Q", len(claim)) + claim)
    open(path("huge-header.safetensors"), "wb").write(struct.pack("<Q", 2**62) + b"{}")
    open(path("image.pt"), "wb").write(whole)
    torch.save({"model": _Payload(str(root))}, path("malicious.pt"))
    open(path("malicious-raw.pt"), "wb").write(pickle.dumps(_Payload(str(root))))
    open(path("empty.pt"), "wb").close()
    _onnx_files(path, rng)
    # configurations
    os.makedirs(path("train"))
    save_image(path("train", "a.png"), rng.random((40, 40, 3)))
    os.makedirs(path("not-images"))
    open(path("not-images", "notes.txt"), "w").write("text")
    open(path("broken.yaml"), "w").write("model: [unclosed\n")
    open(path("list.yaml"), "w").write("- a\n- b\n")
    raw = {"model": {"name": "panet-s", "options": {"n_resblocks": 2, "n_feats": 8}},
           "task": {"type": "denoise", "sigma": 30},
           "data": {"train": path("train"), "val": path("train"), "patch_size": 12,
                    "val_patch_size": 16, "repeat": 4, "workers": 0},
           "train": {"iterations": 2, "batch_size": 2, "threads": 1}}
    yaml.safe_dump(raw, open(path("tiny.yaml"), "w"))
    return root


def _onnx_files(path, rng):
    """An exported tiny model, and ONNX files that are broken, foreign, or lie about it."""
    import onnx
    from onnx import TensorProto, helper

    from panet.export import export_onnx

    export_onnx(load_model(path("tiny.safetensors")), path("tiny.onnx"))
    whole = open(path("tiny.onnx"), "rb").read()
    open(path("truncated.onnx"), "wb").write(whole[:len(whole) // 2])
    open(path("random.onnx"), "wb").write(rng.bytes(3000))
    ours = onnx.load(path("tiny.onnx")).metadata_props

    def identity(name, shape, metadata=()):
        value = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)  # noqa
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], name,
                                  [value("x")], [value("y")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        for entry in metadata:
            model.metadata_props.add(key=entry.key, value=entry.value)
        onnx.save(model, path(f"{name}.onnx"))

    identity("foreign", ["a", "b"])                        # someone else's model
    identity("foreign-panet", ["a", "b"], ours)            # ... carrying our metadata
    identity("fixed-size", [1, 3, 224, 224], ours)         # one image size only

    def lying(name, **config_changes):
        model = onnx.load(path("tiny.onnx"))
        for entry in model.metadata_props:
            if entry.key == "config":
                entry.value = json.dumps({**json.loads(entry.value), **config_changes})
        onnx.save(model, path(f"{name}.onnx"))

    lying("lies-channels", in_channels=1)
    lying("lies-scale", scale=2)
    lying("lies-huge", in_channels=10**9)                 # a probe would need 1 PB


def _hashes(root):
    return {os.path.join(d, f): hashlib.sha256(open(os.path.join(d, f), "rb").read()).digest()
            for d, _, files in os.walk(root) for f in files
            if not os.path.relpath(d, root).startswith(("out", "runs"))}


R = ["restore", "--task", "denoise", "--model", "{w}/tiny.safetensors", "--quiet"]
OX = lambda name: ["restore", "--task", "denoise", "--model", f"{{w}}/{name}.onnx",  # noqa
                   "--quiet"]
T = ["train", "{w}/tiny.yaml", "--out", "{out}", "--quiet"]

# (name, arguments ({w}: the workspace, {out}: this row's output folder), exit status,
#  what the one error line must contain; for status 0, what the output must be)
FAILURES = [
    # files
    ("empty file", R + ["{w}/empty.png", "-o", "{out}/a.png"], 1, "empty.png: the file is empty"),
    ("truncated PNG", R + ["{w}/truncated.png", "-o", "{out}/a.png"], 1, "truncated.png"),
    ("random bytes", R + ["{w}/random.png", "-o", "{out}/a.png"], 1, "random.png: not a readable"),
    ("text named .jpg", R + ["{w}/text.jpg", "-o", "{out}/a.png"], 1, "text.jpg: not a readable"),
    ("decompression bomb", R + ["{w}/bomb.png", "-o", "{out}/a.png"], 1, "decompression bomb"),
    ("a folder named .png", R + ["{w}/folder.png", "-o", "{out}/a.png"], 2, "no images in"),
    ("an empty folder", R + ["{w}/empty-folder", "-o", "{out}"], 2, "no images in"),
    ("a missing file", R + ["{w}/missing.png", "-o", "{out}/a.png"], 1, "missing.png: no such"),
    ("a glob matching nothing", R + ["{w}/*.xyz", "-o", "{out}"], 2, "no file matches"),
    ("output onto the input", R + ["{w}/ok.png", "-o", "{w}/ok.png", "--overwrite"], 1,
     "would overwrite the input"),
    ("output under a file", R + ["{w}/ok.png", "-o", "{w}/a-file/x.png"], 1,
     "cannot create its folder"),
    ("an output format panet does not write", R + ["{w}/animated.gif", "-o", "{out}"], 1,
     "not .gif"),
    # restore options
    ("--sigma -1", R + ["{w}/ok.png", "--sigma", "-1", "-o", "{out}/a.png"], 2, "--sigma"),
    ("--sigma nan", R + ["{w}/ok.png", "--sigma", "nan", "-o", "{out}/a.png"], 2, "--sigma"),
    ("--sigma inf", R + ["{w}/ok.png", "--sigma", "inf", "-o", "{out}/a.png"], 2, "--sigma"),
    ("--sigma not a number", R + ["{w}/ok.png", "--sigma", "ten", "-o", "{out}/a.png"], 2,
     "--sigma"),
    ("--quality 0", R + ["{w}/ok.png", "--quality", "0", "-o", "{out}/a.png"], 2, "--quality"),
    ("--quality huge", R + ["{w}/ok.png", "--quality", "9" * 20, "-o", "{out}/a.png"], 2,
     "--quality"),
    ("--tile 0", R + ["{w}/ok.png", "--tile", "0", "-o", "{out}/a.png"], 2, "--tile"),
    ("--tile -48", R + ["{w}/ok.png", "--tile", "-48", "-o", "{out}/a.png"], 2, "--tile"),
    ("--overlap -1", R + ["{w}/ok.png", "--overlap", "-1", "-o", "{out}/a.png"], 2, "--overlap"),
    ("--overlap above the tile", R + ["{w}/ok.png", "--tile", "32", "--overlap", "40", "-o",
                                      "{out}/a.png"], 2,
     "--tile (32) must be larger than the overlap (40)"),
    ("--max-memory 0", R + ["{w}/ok.png", "--max-memory", "0", "-o", "{out}/a.png"], 2,
     "--max-memory"),
    ("--max-memory nan", R + ["{w}/ok.png", "--max-memory", "nan", "-o", "{out}/a.png"], 2,
     "--max-memory"),
    ("--max-memory huge", R + ["{w}/ok.png", "--max-memory", "1e300", "-o", "{out}/a.png"], 2,
     "--max-memory"),
    ("--max-memory tiny", R + ["{w}/ok.png", "--max-memory", "1e-9", "-o", "{out}/a.png"], 1,
     "raise --max-memory"),
    ("--scale 0", ["restore", "--task", "sr", "--scale", "0", "{w}/ok.png", "-o", "{out}/a.png"],
     2, "--scale: SR scale must be 2 or more, got 0"),
    ("--scale -2", ["restore", "--task", "sr", "--scale", "-2", "{w}/ok.png", "-o",
                    "{out}/a.png"], 2, "--scale: SR scale must be 2 or more, got -2"),
    ("--device cuda without CUDA", R + ["{w}/ok.png", "--device", "cuda", "-o", "{out}/a.png"],
     2, "device 'cuda'"),
    ("--device tpu", R + ["{w}/ok.png", "--device", "tpu", "-o", "{out}/a.png"], 2, "'tpu'"),
    ("--task unknown", ["restore", "--task", "deblur", "{w}/ok.png"], 2, "--task"),
    # weights
    ("corrupt safetensors", ["restore", "--task", "denoise", "--model",
                             "{w}/corrupt.safetensors", "{w}/ok.png", "-o", "{out}/a.png"], 2,
     "corrupt.safetensors: not a safetensors file"),
    ("a header claiming exabytes", ["restore", "--task", "denoise", "--model",
                                    "{w}/exabytes.safetensors", "{w}/ok.png", "-o", "{out}/a.png"],
     2, "exabytes.safetensors"),
    ("a header length of 2^62", ["restore", "--task", "denoise", "--model",
                                 "{w}/huge-header.safetensors", "{w}/ok.png", "-o",
                                 "{out}/a.png"], 2, "huge-header.safetensors"),
    ("an image named .pt", ["restore", "--task", "denoise", "--model", "{w}/image.pt",
                            "{w}/ok.png", "-o", "{out}/a.png"], 2, "image.pt: refused"),
    ("a malicious checkpoint", ["restore", "--task", "denoise", "--model", "{w}/malicious.pt",
                                "{w}/ok.png", "-o", "{out}/a.png"], 2, "malicious.pt: refused"),
    ("a malicious raw pickle", ["restore", "--task", "denoise", "--model",
                                "{w}/malicious-raw.pt", "{w}/ok.png", "-o", "{out}/a.png"], 2,
     "malicious-raw.pt: refused"),
    ("an empty .pt", ["restore", "--task", "denoise", "--model", "{w}/empty.pt", "{w}/ok.png",
                      "-o", "{out}/a.png"], 2, "empty.pt: the file is empty"),
    ("weights of another task", ["restore", "--task", "denoise", "--model",
                                 "{w}/x2.safetensors", "{w}/ok.png", "-o", "{out}/a.png"], 2,
     "x2 model does not fit task denoise"),
    ("an unknown model name", ["restore", "--task", "denoise", "--model", "no-such-model",
                               "{w}/ok.png", "-o", "{out}/a.png"], 2, "unknown model"),
    # exported ONNX files
    ("a truncated .onnx", OX("truncated") + ["{w}/ok.png", "-o", "{out}/a.png"], 2,
     "truncated.onnx: not a readable ONNX model"),
    ("random bytes named .onnx", OX("random") + ["{w}/ok.png", "-o", "{out}/a.png"], 2,
     "random.onnx: not a readable ONNX model"),
    ("a foreign ONNX model", OX("foreign") + ["{w}/ok.png", "-o", "{out}/a.png"], 2,
     "foreign.onnx: an ONNX model, but not one panet exported"),
    ("a foreign graph with panet metadata", OX("foreign-panet") + ["{w}/ok.png", "-o",
                                                                   "{out}/a.png"], 2,
     "foreign-panet.onnx: not an image-to-image graph (it takes x ['a', 'b']"),
    ("a graph of one image size", OX("fixed-size") + ["{w}/ok.png", "-o", "{out}/a.png"], 2,
     "fixed-size.onnx: the graph takes only 224 x 224 images"),
    ("metadata lying about channels", OX("lies-channels") + ["{w}/ok.png", "-o",
                                                             "{out}/a.png"], 2,
     "lies-channels.onnx: its metadata says 1 input channels but the graph takes 3"),
    ("metadata lying about the scale", OX("lies-scale") + ["{w}/ok.png", "-o", "{out}/a.png"],
     2, "lies-scale.onnx: its metadata promises 3 channels at scale 2, but the graph turns "
        "1 x 3 x 16 x 16 into 1 x 3 x 16 x 16"),
    ("metadata claiming 10^9 channels", OX("lies-huge") + ["{w}/ok.png", "-o", "{out}/a.png"],
     2, "lies-huge.onnx: implausible metadata (1000000000 channels in"),
    ("an ONNX file and a corrupt image", OX("tiny") + ["{w}/random.png", "-o", "{out}/a.png"],
     1, "random.png: not a readable"),
    # degrade
    ("degrade --noise nan", ["degrade", "{w}/ok.png", "{out}/a.png", "--noise", "nan"], 2,
     "--noise"),
    ("degrade --noise -1", ["degrade", "{w}/ok.png", "{out}/a.png", "--noise", "-1"], 2,
     "--noise"),
    ("degrade --noise huge", ["degrade", "{w}/ok.png", "{out}/a.png", "--noise", "1e300"], 2,
     "--noise"),
    ("degrade --jpeg 0", ["degrade", "{w}/ok.png", "{out}/a.jpg", "--jpeg", "0"], 2,
     "JPEG quality"),
    ("degrade --jpeg 101", ["degrade", "{w}/ok.png", "{out}/a.jpg", "--jpeg", "101"], 2,
     "JPEG quality"),
    ("degrade --downscale 0", ["degrade", "{w}/ok.png", "{out}/a.png", "--downscale", "0"], 2,
     "--downscale"),
    ("degrade --downscale -2", ["degrade", "{w}/ok.png", "{out}/a.png", "--downscale", "-2"], 2,
     "--downscale"),
    ("degrade --downscale inf", ["degrade", "{w}/ok.png", "{out}/a.png", "--downscale", "inf"],
     2, "--downscale"),
    ("degrade --downscale 100000", ["degrade", "{w}/ok.png", "{out}/a.png", "--downscale",
                                    "100000"], 2, "less than one pixel"),
    ("degrade --seed -1", ["degrade", "{w}/ok.png", "{out}/a.png", "--noise", "5", "--seed",
                           "-1"], 2, "--seed"),
    ("degrade onto its input", ["degrade", "{w}/ok.png", "{w}/ok.png", "--noise", "5",
                                "--overwrite"], 2, "overwrite the input"),
    ("degrade onto an existing file", ["degrade", "{w}/ok.png", "{w}/jpeg-named.png", "--noise",
                                       "5"], 2, "pass --overwrite"),
    ("degrade a corrupt file", ["degrade", "{w}/random.png", "{out}/a.png", "--noise", "5"], 2,
     "random.png"),
    ("degrade a folder", ["degrade", "{w}/folder.png", "{out}/a.png", "--noise", "5"], 2,
     "folder.png is a folder"),
    ("degrade to an unknown format", ["degrade", "{w}/ok.png", "{out}/a.xyz", "--noise", "5"],
     2, "unknown image extension"),
    ("degrade a gray image to a mosaic", ["degrade", "{w}/gray16.png", "{out}/a.png",
                                          "--mosaic", "RGGB"], 2, "gray16.png: a Bayer mosaic"),
    ("degrade under a file", ["degrade", "{w}/ok.png", "{w}/a-file/a.png", "--noise", "5"], 2,
     "cannot create its folder"),
    # metrics
    ("metrics of different sizes", ["metrics", "{w}/ok.png", "{w}/row.png"], 2, "sizes differ"),
    ("metrics of different channels", ["metrics", "{w}/ok.png", "{w}/gray16.png"], 2,
     "sizes differ"),
    ("metrics of a missing file", ["metrics", "{w}/ok.png", "{w}/missing.png"], 2,
     "missing.png: no such file"),
    ("metrics of a corrupt file", ["metrics", "{w}/random.png", "{w}/ok.png"], 2, "random.png"),
    ("metrics --shave -1", ["metrics", "{w}/ok.png", "{w}/ok.png", "--shave", "-1"], 2, "shave"),
    ("metrics --shave too large", ["metrics", "{w}/ok.png", "{w}/ok.png", "--shave", "100"], 2,
     "shave of 100"),
    # convert
    ("convert a malicious checkpoint", ["convert", "{w}/malicious.pt", "{out}/a.safetensors"],
     2, "malicious.pt: refused"),
    ("convert an image", ["convert", "{w}/image.pt", "{out}/a.safetensors"], 2, "image.pt"),
    ("convert a missing file", ["convert", "{w}/missing.pt", "{out}/a.safetensors"], 2,
     "missing.pt: no such file"),
    ("convert onto its input", ["convert", "{w}/malicious.pt", "{w}/malicious.pt",
                                "--overwrite"], 2, "overwrite the input"),
    ("convert onto an existing file", ["convert", "{w}/malicious.pt", "{w}/tiny.safetensors"],
     2, "pass --overwrite"),
    ("convert to a .png", ["convert", "{w}/malicious.pt", "{out}/a.png"], 2, "*.safetensors"),
    # train
    ("a YAML error", ["train", "{w}/broken.yaml", "--out", "{out}"], 2, "not valid YAML"),
    ("a YAML list", ["train", "{w}/list.yaml", "--out", "{out}"], 2, "mapping of sections"),
    ("an unknown key", T + ["--set", "train.iters=3"], 2, "unknown key train.iters"),
    ("an empty data folder", T + ["--set", "data.train={w}/empty-folder"], 2, "no images found"),
    ("a missing data folder", T + ["--set", "data.train={w}/missing"], 2, "no such folder"),
    ("a folder without images", T + ["--set", "data.train={w}/not-images"], 2,
     "no images found"),
    ("iterations 0", T + ["--set", "train.iterations=0"], 2, "train.iterations"),
    ("iterations -1", T + ["--set", "train.iterations=-1"], 2, "train.iterations"),
    ("batch size 0", T + ["--set", "train.batch_size=0"], 2, "train.batch_size"),
    ("learning rate nan", T + ["--set", "optim.lr=nan"], 2, "optim.lr"),
    ("learning rate inf", T + ["--set", "optim.lr=inf"], 2, "optim.lr"),
    ("learning rate -1", T + ["--set", "optim.lr=-1"], 2, "optim.lr"),
    ("time limit nan", T + ["--set", "train.time_limit=nan"], 2, "train.time_limit"),
    ("sigma nan", T + ["--set", "task.sigma=nan"], 2, "task.sigma"),
    ("sigma 1000", T + ["--set", "task.sigma=1000"], 2, "task.sigma"),
    ("a crop larger than the photos", T + ["--set", "data.patch_size=100000"], 2,
     "smaller than the 100000x100000 crop"),
    ("a malicious warm start", T + ["--set", "model.init_from={w}/malicious.pt"], 2,
     "malicious.pt: refused"),
    ("a missing warm start", T + ["--set", "model.init_from={w}/missing.safetensors"], 2,
     "model.init_from"),
    ("--out is a file", ["train", "{w}/tiny.yaml", "--out", "{w}/a-file"], 2, "is a file"),
    ("a folder as the configuration", ["train", "{w}/empty-folder", "--out", "{out}"], 2,
     "neither a preset nor a file"),
    ("train.device cuda without CUDA", T + ["--set", "train.device=cuda"], 2, "train.device"),
    ("a --set without =", T + ["--set", "train.iterations"], 2, "--set expects"),
]

# (name, input, output name, (height, width, channels), bit depth, alpha kept)
UNUSUAL = [
    ("a JPEG named .png", "jpeg-named.png", "a.png", (20, 24, 3), 8, False),
    ("1x1 pixel", "one.png", "a.png", (1, 1, 3), 8, False),
    ("1xN pixels", "row.png", "a.png", (1, 50, 3), 8, False),
    ("Nx1 gray", "column.png", "a.png", (40, 1, 1), 8, False),
    ("16-bit gray PNG", "gray16.png", "a.png", (20, 24, 1), 16, False),
    ("16-bit RGB TIFF", "rgb16.tif", "a.tif", (20, 24, 3), 16, False),
    ("palette PNG", "palette.png", "a.png", (20, 24, 3), 8, False),
    ("bilevel PNG", "bilevel.png", "a.png", (20, 24, 1), 8, False),
    ("gray with alpha", "la.png", "a.png", (20, 24, 1), 8, True),
    ("RGBA", "rgba.png", "a.png", (20, 24, 3), 8, True),
    ("CMYK JPEG", "cmyk.jpg", "a.jpg", (20, 24, 3), 8, False),
    ("animated PNG (first frame)", "animated.png", "a.png", (20, 24, 3), 8, False),
    ("animated GIF to PNG", "animated.gif", "a.png", (20, 24, 3), 8, False),
    ("float TIFF", "float.tif", "a.tif", (20, 24, 3), 32, False),
    ("EXIF-rotated JPEG", "rotated.jpg", "a.jpg", (24, 16, 3), 8, False),
]


def _run(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(argv)
        except SystemExit as exit_:   # argparse's own refusals
            status = exit_.code
    return status, err.getvalue()


def _check_common(w, before, stderr):
    assert "Traceback" not in stderr
    assert _hashes(w) == before                         # inputs byte-identical
    leftovers = [f for _, _, files in os.walk(w) for f in files if f.startswith(".partial")]
    assert not leftovers
    assert not os.path.exists(os.path.join(w, MARKER))  # no code ran from a checkpoint


def test_the_table_is_large_enough():
    assert len(FAILURES) + len(UNUSUAL) >= 60


@pytest.mark.parametrize("name, arguments, status, message", FAILURES,
                         ids=[row[0] for row in FAILURES])
def test_bad_input_is_one_clear_line_and_changes_nothing(w, name, arguments, status, message):
    out = os.path.join(w, "out", name.replace(" ", "-").replace("/", "-"))
    argv = [a.format(w=w, out=out) for a in arguments]
    before = _hashes(w)
    got, stderr = _run(argv)
    _check_common(w, before, stderr)
    assert got == status, stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, stderr
    assert message.format(w=w) in errors[0], errors[0]
    made = [f for _, _, files in os.walk(out) for f in files] if os.path.isdir(out) else []
    assert not [f for f in made if not f.endswith((".yaml", ".jsonl"))], made   # no output


@pytest.mark.parametrize("name, source, output, shape, depth, alpha", UNUSUAL,
                         ids=[row[0] for row in UNUSUAL])
def test_unusual_images_are_restored_with_size_mode_and_depth(w, name, source, output, shape,
                                                              depth, alpha):
    out = os.path.join(w, "out", "unusual-" + source.replace(".", "-"), output)
    before = _hashes(w)
    status, stderr = _run([a.format(w=w) for a in R] + [str(w / source), "-o", out])
    _check_common(w, before, stderr)
    assert status == 0, stderr
    restored = load_image(out)
    assert restored.pixels.shape == shape
    assert restored.bit_depth == depth
    assert (restored.alpha is not None) == alpha


@pytest.mark.parametrize("name, source, output, shape, depth, alpha", UNUSUAL,
                         ids=[row[0] for row in UNUSUAL])
def test_an_exported_onnx_file_restores_them_as_pytorch_does(w, name, source, output, shape,
                                                              depth, alpha):
    """The same 16-bit, alpha, EXIF and channel handling through ``--model FILE.onnx``: the
    file's output matches the PyTorch weights' to one level of its bit depth. (Slivers
    under ``MIN_SIDE`` are padded for the graph, where PyTorch drops the pyramid levels
    that vanish: there the two agree on everything but the pixel values.)"""
    outs = {}
    for model in ("tiny.safetensors", "tiny.onnx"):
        out = os.path.join(w, "out", f"{model}-" + source.replace(".", "-"), output)
        before = _hashes(w)
        argv = ["restore", "--task", "denoise", "--model", str(w / model), "--quiet",
                str(w / source), "-o", out]
        status, stderr = _run(argv)
        _check_common(w, before, stderr)
        assert status == 0, stderr
        outs[model] = load_image(out)
    torch_out, onnx_out = outs["tiny.safetensors"], outs["tiny.onnx"]
    assert onnx_out.pixels.shape == torch_out.pixels.shape == shape
    assert onnx_out.bit_depth == torch_out.bit_depth == depth
    assert (onnx_out.alpha is not None) == (torch_out.alpha is not None) == alpha
    level = 1e-4 if depth == 32 else 1 / (2 ** depth - 1) + 1e-6
    if output.endswith(".jpg"):   # a one-level difference may move a JPEG block's rounding
        level *= 3
    if min(shape[:2]) >= MIN_SIDE:
        assert np.abs(onnx_out.pixels - torch_out.pixels).max() <= level
    if alpha:
        assert np.array_equal(onnx_out.alpha, torch_out.alpha)
