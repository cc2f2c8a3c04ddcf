"""`panet data fetch` on local packages (no network): extraction, checksums, preparation."""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from panet.cli import main
from panet.data import photos
from panet.data.manifest import PhotoEntry, read_manifest
from panet.io import read_image


def _smooth(size=64, seed=0):
    yy, xx = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(seed)
    image = np.stack([0.5 + 0.4 * np.sin(6 * xx + rng.random()), 0.5 + 0.4 * np.cos(5 * yy),
                      0.3 + 0.5 * xx * yy], axis=2)
    return np.round(image * 255).astype(np.uint8)


def _png_bytes(levels):
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg_bytes(levels, quality):
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _entry(role, source, path, data, size=64, sha=None):
    return PhotoEntry(role, source, path, None, size, size, 1.0,
                      sha or hashlib.sha256(data).hexdigest())


@pytest.fixture
def packages(tmp_path):
    """A wheel, an sdist and a .deb holding photos, and manifest entries for them."""
    clean, blocky = _png_bytes(_smooth()), _jpeg_bytes(_smooth(seed=1), 8)
    wheel = tmp_path / "pkgs" / "demo-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/data/clean.png", clean)
        archive.writestr("demo/data/other.png", clean)
    sdist = tmp_path / "pkgs" / "demo-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("demo-1.0/examples/clean.png")
        info.size = len(clean)
        archive.addfile(info, io.BytesIO(clean))
    files = {"pypi-wheel:demo==1.0": wheel, "pypi-sdist:demo==1.0": sdist}
    entries = [_entry("test", "pypi-wheel:demo==1.0", "demo/data/clean.png", clean),
               _entry("test", "pypi-wheel:demo==1.0", "demo/data/other.png", clean, sha="0" * 64),
               _entry("train", "pypi-sdist:demo==1.0", "demo-1.0/examples/clean.png", clean)]
    if shutil.which("dpkg-deb"):
        tree = tmp_path / "debtree"
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN" / "control").write_text(
            "Package: demo-wallpapers\nVersion: 1.0\nArchitecture: all\n"
            "Maintainer: test <t@example.org>\nDescription: test\n")
        (tree / "usr/share/wallpapers").mkdir(parents=True)
        (tree / "usr/share/wallpapers/blocky.jpg").write_bytes(blocky)
        deb = tmp_path / "pkgs" / "demo-wallpapers_1.0_all.deb"
        subprocess.run(["dpkg-deb", "--build", str(tree), str(deb)], check=True,
                       capture_output=True)
        files["deb:demo-wallpapers=1.0"] = deb
        entries.append(_entry("train", "deb:demo-wallpapers=1.0", "/usr/share/wallpapers/blocky.jpg",
                              blocky))
    calls = []

    def downloader(source, folder):
        calls.append(source)
        return shutil.copy(files[source], folder)

    return entries, downloader, calls, clean


def test_fetch_prepares_verifies_and_resumes(tmp_path, packages):
    entries, downloader, calls, clean = packages
    root = str(tmp_path / "data")
    report = photos.fetch("all", root, entries=entries, downloader=downloader, progress=False)
    names = sorted(r["name"] for r in report.prepared)
    assert "demo--clean" in names and len(report.failed) == 1
    assert "demo--other" in report.failed[0] and "sha256 mismatch" in report.failed[0]
    test_image = read_image(os.path.join(root, "offline-mini", "demo--clean.png"))
    assert np.array_equal(np.round(test_image * 255), _smooth())      # test photos kept as is
    if any(e.kind == "deb" for e in entries):
        record = next(r for r in report.prepared if r["name"] == "demo-wallpapers--blocky")
        assert record["blockiness"] > 1.3 and record["downscale"] >= 3
        assert record["size"] == [64 // record["downscale"]] * 2
    # A rerun reuses downloads and prepared files; only the failed entry is tried again.
    calls.clear()
    again = photos.fetch("all", root, entries=entries, downloader=downloader, progress=False)
    assert again.skipped == len(entries) - 1 and not again.prepared and len(again.failed) == 1
    assert calls == []
    rows = {r["set"]: r for r in photos.prepared_sets(root, entries)}
    assert rows["offline-mini"]["prepared"] == 1 and rows["offline-mini"]["listed"] == 2
    assert not [n for n in os.listdir(root) if n.startswith(".")]    # no leftovers


def test_download_failures_are_reported_not_raised(tmp_path, packages):
    entries, _, _, _ = packages

    def offline(source, folder):
        raise RuntimeError(f"{source}: no network")

    report = photos.fetch("test", str(tmp_path), entries=entries, downloader=offline,
                          progress=False)
    assert len(report.failed) == 2 and all("no network" in line for line in report.failed)
    assert not os.listdir(tmp_path / "downloads")


def test_missing_edje_decc_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(photos.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install libedje-bin"):
        photos._decompile_edj(str(tmp_path / "x.edj"), "img.png", str(tmp_path))


def test_blockiness_and_area_downscale():
    clean = _smooth(128) / 255.0
    blocky = np.asarray(Image.open(io.BytesIO(_jpeg_bytes(_smooth(128), 5)))) / 255.0
    assert 0.8 < photos.blockiness(clean) < 1.1 < 1.3 < photos.blockiness(blocky)
    assert photos.downscale_factor(1.0, jpeg_file=False) == 1
    assert photos.downscale_factor(1.0, jpeg_file=True) == 2
    assert photos.downscale_factor(2.5, jpeg_file=True) == 4
    image = np.arange(5 * 4 * 1, dtype=np.float32).reshape(5, 4, 1)
    # 2x2 boxes of [[0,1],[4,5]] -> 2.5 and [[2,3],[6,7]] -> 4.5; the fifth row is cut.
    assert photos.area_downscale(image, 2)[0, :, 0].tolist() == [2.5, 4.5]
    assert photos.area_downscale(image, 2).shape == (2, 2, 1)


def test_the_shipped_manifest():
    entries = read_manifest()
    assert sum(e.role == "train" for e in entries) == 68
    assert sum(e.role == "test" for e in entries) == 11
    decompiled = [e for e in entries if e.member]
    assert len(decompiled) == 14 and all(e.path.endswith(".edj") for e in decompiled)
    assert len({e.name for e in entries}) == len(entries)


def test_data_list_command(tmp_path, capsys):
    assert main(["data", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "offline-mini" in out and "0/11" in out and "0/68" in out
