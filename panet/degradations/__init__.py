"""Degradations of clean images, as in the paper's data: noise, Bayer mosaic, JPEG, bicubic.

Every function takes a numpy array ``H x W x C`` (float in [0, 1], or uint8) or a torch
tensor ``... x C x H x W`` (float in [0, 1], batched or not, any device) and returns the
same kind, float in [0, 1].
"""

from panet.degradations.jpeg import encode_jpeg, jpeg_quality, jpeg_roundtrip
from panet.degradations.jpeg_constraint import JPEGGrid, project_onto_jpeg, read_grid, standard_grid
from panet.degradations.mosaic import BAYER_PATTERNS, bayer_masks, bayer_shift, mosaic
from panet.degradations.noise import add_gaussian_noise, estimate_noise_sigma
from panet.degradations._arrays import to_levels
from panet.degradations.resize import imresize, matlab_resize_weights

__all__ = ["add_gaussian_noise", "mosaic", "bayer_masks", "bayer_shift", "BAYER_PATTERNS", "jpeg_roundtrip",
           "encode_jpeg", "jpeg_quality", "JPEGGrid", "project_onto_jpeg", "read_grid",
           "standard_grid", "estimate_noise_sigma",
           "imresize", "matlab_resize_weights", "to_levels"]
