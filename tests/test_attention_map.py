"""`panet attention-map`: one query's attention weights, per pyramid level."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from panet import PyramidAttention, create_model, save_model
from panet.cli import main
from panet.evaluate.attention_map import query_attention
from panet.io import save_image


def _naive_weights(block, x, row, column):
    """Scores written out patch by patch with explicit padding: no unfold, no matrices."""
    pad = block.patch_size // 2

    def patch(features, r, c):
        padded = F.pad(features, (pad, pad, pad, pad))
        return padded[0, :, r:r + block.patch_size, c:c + block.patch_size].reshape(-1)

    query = patch(block.query(x), row, column)
    scores, shapes = [], []
    for scale in block.scales:
        h, w = int(math.floor(x.shape[2] * scale)), int(math.floor(x.shape[3] * scale))
        level = x if scale == 1 else F.interpolate(x, scale_factor=scale, mode="bicubic",
                                                   align_corners=False,
                                                   recompute_scale_factor=True)
        keys = block.key(level)
        for r in range(h):
            for c in range(w):
                key = patch(keys, r, c)
                scores.append(block.softmax_scale * float(query @ key) /
                              max(float(key.norm()), block.key_eps))
        shapes.append((h, w))
    weights = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0)
    return [part.reshape(shape) for part, shape in
            zip(weights.split([h * w for h, w in shapes]), shapes)]


@pytest.mark.parametrize("row, column", [(0, 0), (4, 6), (8, 2)])
def test_weights_match_a_patch_by_patch_computation(row, column):
    block = PyramidAttention(channels=6, reduction=2).double()
    x = torch.rand(1, 6, 9, 7, dtype=torch.float64)
    with torch.no_grad():
        ours = block.attention_weights(x, row, column)
        naive = _naive_weights(block, x, row, column)
    assert [tuple(m.shape) for m in ours] == [tuple(m.shape) for m in naive]
    for a, b in zip(ours, naive):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)


def test_query_attention_reads_the_first_block_of_a_network_and_leaves_it_usable():
    net = create_model("panet-s", n_resblocks=2, n_feats=8).eval()
    image = torch.rand(1, 3, 14, 11)
    maps = query_attention(net, image, 3, 4)
    assert abs(sum(float(m.sum()) for m in maps) - 1) < 1e-5
    with torch.no_grad():   # run the layers before the attention by hand
        features = net.head(image)
        for block in net.body:
            if isinstance(block, PyramidAttention):
                break
            features = block(features)
    for a, b in zip(maps, block.attention_weights(features, 3, 4)):
        torch.testing.assert_close(a, b)
    assert net(image).shape == image.shape   # the hook is gone
    with pytest.raises(ValueError, match="attention block"):
        query_attention(net, image, 3, 4, block=5)
    with pytest.raises(ValueError, match="no pyramid attention"):
        query_attention(create_model("resnet", n_resblocks=2, n_feats=8), image, 0, 0)


def test_attention_map_command(tmp_path, capsys):
    weights = str(tmp_path / "w.safetensors")
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8), weights)
    image = str(tmp_path / "photo.png")
    save_image(image, np.random.default_rng(0).random((30, 40, 3)))
    out = tmp_path / "map.png"
    assert main(["attention-map", image, "--model", weights, "--at", "10,20", "-o",
                 str(out)]) == 0
    assert Image.open(out).format == "PNG"
    assert "weight per level" in capsys.readouterr().out
    for arguments, message in [(["--at", "40,0"], "outside"), (["--at", "1"], "X,Y"),
                               (["--at", "1,1", "-o", str(out)], "exists"),
                               (["--at", "1,1", "-o", str(tmp_path / "m.jpg")], ".png")]:
        assert main(["attention-map", image, "--model", weights, *arguments]) == 2
        assert message in capsys.readouterr().err
    plain = str(tmp_path / "plain.safetensors")
    save_model(create_model("resnet", n_resblocks=2, n_feats=8), plain)
    assert main(["attention-map", image, "--model", plain, "--at", "1,1", "-o",
                 str(tmp_path / "p.png")]) == 2
    assert "no pyramid attention" in capsys.readouterr().err
