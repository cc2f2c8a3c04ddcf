"""Data: the pinned real photographs (fetch and prepare) and, later, training datasets."""

from panet.data.manifest import TEST_SET_NAME, TRAIN_SET_NAME, PhotoEntry, read_manifest

__all__ = ["PhotoEntry", "read_manifest", "TEST_SET_NAME", "TRAIN_SET_NAME"]
