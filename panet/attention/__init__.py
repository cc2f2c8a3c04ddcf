"""Pyramid attention: the module, its blockwise kernel and a full-matrix reference."""

from panet.attention.kernel import attend
from panet.attention.pyramid import (DEFAULT_SCALES, KERNELS, PyramidAttention,
                                     attention_blocks, set_attention_kernel)

__all__ = ["PyramidAttention", "DEFAULT_SCALES", "KERNELS", "attend", "attention_blocks",
           "set_attention_kernel"]
