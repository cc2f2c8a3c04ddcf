"""`panet export`: every shipped model as ONNX, equal to PyTorch under onnxruntime at any
size; its card in the metadata; restore through the file; bad input refused."""

import os

import numpy as np
import onnx
import pytest
import torch

from panet.checkpoints.onnx_file import load_onnx_model, read_onnx_metadata
from panet.cli import main
from panet.export import export_onnx
from panet.io import load_image, save_image
from panet.pretrained import available, load_pretrained

SHIPPED = [entry.name for entry in available()]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (PyTorch model, its exported file), each shipped model exported once."""
    folder, files = tmp_path_factory.mktemp("exported"), {}
    for name in SHIPPED:
        model = load_pretrained(next(e for e in available() if e.name == name))
        path = str(folder / f"{name}.onnx")
        export_onnx(model, path, command=f"panet export {name} -o {name}.onnx")
        files[name] = model, path
    return files


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_exports_and_matches_pytorch_at_several_sizes(name, exported):
    model, path = exported[name]
    onnx.checker.check_model(path)
    exported = load_onnx_model(path)
    channels, scale = exported.card.in_channels, exported.card.scale
    generator = torch.Generator().manual_seed(0)
    for shape in [(1, 24, 40), (2, 33, 17), (1, 48, 48), (1, 9, 70)]:
        x = torch.rand(shape[0], channels, *shape[1:], generator=generator)
        with torch.no_grad():
            want = model(x)
        got = exported(x)
        assert got.shape == (shape[0], want.shape[1], shape[1] * scale, shape[2] * scale)
        # the issue asks for 1e-3; float32 rounding gives about 1e-6, so ask for 1e-4
        assert (got - want).abs().max() <= 1e-4, (name, shape)
    card, metadata = model.card, read_onnx_metadata(path)
    assert exported.card.family == card.family and exported.card.levels == card.levels
    assert exported.card.restore_tile == card.restore_tile in (40, 48)
    assert exported.card.restore_overlap == card.restore_overlap   # the tiling travels
    assert exported.card.pattern == card.pattern and exported.card.scale == card.scale
    assert metadata["licence"] == "MIT" and metadata["shipped_name"] == name
    assert metadata["command"] == f"panet export {name} -o {name}.onnx"


@pytest.mark.parametrize("name", SHIPPED)
def test_opencv_dnn_runs_every_exported_model(name, exported):
    """A second, independent runtime: OpenCV's dnn engine (5.x runs the attention's Scan;
    its missing Col2Im is why the patches are folded by a transposed convolution)."""
    cv2 = pytest.importorskip("cv2")
    if int(cv2.__version__.split(".")[0]) < 5:
        pytest.skip(f"OpenCV {cv2.__version__}: its dnn lacks the ONNX Scan operator")
    model, path = exported[name]
    net = cv2.dnn.readNetFromONNX(path)
    x = torch.rand(1, model.card.in_channels, 36, 44, generator=torch.Generator().manual_seed(1))
    net.setInput(x.numpy())
    got = net.forward()
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4, name


def test_the_exported_attention_holds_one_block_of_scores_at_a_time(tmp_path):
    """The promise of a bounded graph: the softmax over the scores runs only inside a Scan
    over query blocks of EXPORT_BLOCK_ROWS, never over the whole N x L matrix."""
    from panet.attention.kernel import EXPORT_BLOCK_ROWS

    path = str(tmp_path / "m.onnx")
    export_onnx(load_pretrained("denoise-gray"), path)
    graph = onnx.load(path).graph
    main_ops = {node.op_type for node in graph.node}
    assert "Scan" in main_ops and "Softmax" not in main_ops
    scans = [node for node in graph.node if node.op_type == "Scan"]
    body = next(a.g for a in scans[0].attribute if a.name == "body")
    assert "Softmax" in {node.op_type for node in body.node}
    # the scanned input is the queries cut into blocks of EXPORT_BLOCK_ROWS columns
    shapes = {d.dim_value for vi in body.input for d in vi.type.tensor_type.shape.dim}
    assert EXPORT_BLOCK_ROWS in shapes
    assert "attention" in read_onnx_metadata(path)


def test_restore_through_the_onnx_file_matches_the_pytorch_path(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:70, 0:90] / 90
    clean = np.stack([np.sin(5 * xx), yy, xx * yy], 2) * 0.4 + 0.3
    save_image(tmp_path / "noisy.png", np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1))
    assert main(["export", "denoise-color", "-o", str(tmp_path / "d.onnx")]) == 0
    for model, out in (("denoise-color", "torch.png"), (str(tmp_path / "d.onnx"), "onnx.png")):
        assert main(["restore", str(tmp_path / "noisy.png"), "-o", str(tmp_path / out),
                     "--task", "denoise", "--model", model, "--quiet"]) == 0
    torch_pixels, onnx_pixels = (load_image(tmp_path / n).pixels for n in ("torch.png",
                                                                            "onnx.png"))
    assert np.abs(torch_pixels - onnx_pixels).max() <= 1 / 255 + 1e-6
    assert np.abs(torch_pixels - load_image(tmp_path / "noisy.png").pixels).max() > 0.1


def test_export_refuses_bad_input_in_one_line(tmp_path, capsys):
    cases = [
        (["export", "no-such-model", "-o", str(tmp_path / "a.onnx")], "unknown model"),
        (["export", "denoise-gray", "-o", str(tmp_path / "missing" / "a.onnx")],
         "does not exist"),
        (["export", "denoise-gray", "-o", str(tmp_path / "a.png")], "*.onnx"),
    ]
    existing = tmp_path / "exists.onnx"
    existing.write_bytes(b"")
    cases.append((["export", "denoise-gray", "-o", str(existing)], "pass --overwrite"))
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
    assert sorted(os.listdir(tmp_path)) == ["exists.onnx"]   # nothing written


def test_onnx_files_that_are_not_ours_are_refused(tmp_path, capsys):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "foreign",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save_model(helper.make_model(graph), str(tmp_path / "foreign.onnx"))
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07garbage" * 10)
    save_image(tmp_path / "in.png", np.random.default_rng(0).random((20, 24, 3)))
    for name, message in (("foreign.onnx", "not one panet exported"),
                          ("corrupt.onnx", "not a readable ONNX model")):
        assert main(["restore", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                     "--task", "denoise", "--model", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out.png").exists()


def test_a_registry_name_exports_with_a_warning(tmp_path, capsys):
    assert main(["export", "panet-s", "-o", str(tmp_path / "random.onnx")]) == 0
    assert "RANDOM weights" in capsys.readouterr().err
    assert read_onnx_metadata(tmp_path / "random.onnx")["architecture"] == "panet"
