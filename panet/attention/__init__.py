"""Pyramid attention: the module, its blockwise kernel and a full-matrix reference."""

from panet.attention.kernel import attend
from panet.attention.pyramid import DEFAULT_SCALES, PyramidAttention, attention_blocks

__all__ = ["PyramidAttention", "DEFAULT_SCALES", "attend", "attention_blocks"]
