"""The pinned list of real photographs that ship inside Debian and PyPI packages (SPEC §5)."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["PhotoEntry", "read_manifest", "DEFAULT_MANIFEST", "TEST_SET_NAME", "TRAIN_SET_NAME"]

#: Our own names for what the manifest provides (never report these as Kodak24, Set5, ...).
TEST_SET_NAME = "offline-mini"
TRAIN_SET_NAME = "offline-train"
DEFAULT_MANIFEST = str(resources.files("panet.data") / "offline_photos_manifest.tsv")

_DECOMPILED = re.compile(r"^(?P<path>\S+\.edj) \(edje_decc -> (?P<member>[^)]+)\)$")


@dataclass(frozen=True)
class PhotoEntry:
    """One photograph: where it lives, what it is, and its checksum."""

    role: str             # "train" or "test"
    source: str           # "deb:NAME=VERSION", "pypi-wheel:NAME==VERSION", "pypi-sdist:..."
    path: str             # path inside the package (a .edj for decompiled entries)
    member: str | None    # file inside the decompiled .edj, if any
    width: int
    height: int
    blockiness: float     # the manifest's measurement (ours is recomputed when preparing)
    sha256: str

    @property
    def kind(self) -> str:
        return self.source.split(":", 1)[0]

    @property
    def package(self) -> str:
        return re.split(r"==|=", self.source.split(":", 1)[1], maxsplit=1)[0]

    @property
    def name(self) -> str:
        """A file name unique within the manifest, e.g. ``enlightenment-data--Bamboo``."""
        parts = self.path.strip("/").split("/")
        stem = os.path.splitext(parts[-1])[0]
        if stem[:1].isdigit() and len(parts) > 1:   # e.g. .../BytheWater/contents/images/2560x1600.jpg
            stem = next((p for p in reversed(parts[:-1]) if p not in ("contents", "images")), stem)
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.package}--{stem}")


def read_manifest(path: str = DEFAULT_MANIFEST) -> list[PhotoEntry]:
    """Parse the tab-separated manifest (header: role, source, path_in_package, ...)."""
    entries = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            location = row["path_in_package"]
            match = _DECOMPILED.match(location)
            width, height = (int(v) for v in row["WxH"].split("x"))
            entries.append(PhotoEntry(
                role=row["role"], source=row["source"],
                path=match.group("path") if match else location,
                member=match.group("member") if match else None,
                width=width, height=height, blockiness=float(row["blockiness8"]),
                sha256=row["sha256"].lower()))
    names = [e.name for e in entries]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"manifest names are not unique: {sorted(duplicates)}")
    return entries
