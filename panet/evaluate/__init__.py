"""``panet eval``: the paper's tables and figures for networks beside classical methods.

>>> import numpy as np, tempfile
>>> from panet.io import save_image
>>> folder = tempfile.mkdtemp()
>>> save_image(folder + "/flat.png", np.full((32, 32, 3), 0.5))
>>> result = evaluate("sr", [2], {"mine": folder}, [Bicubic()])
>>> result.mean("bicubic", "mine", "×2")   # a flat image is upscaled exactly
(inf, 1.0)
"""

from panet.evaluate.figures import comparison_figure
from panet.evaluate.methods import (BASELINES, CBM3D, DEBLOCKER_SIGMA, Bicubic, BM3DDeblocker,
                                    DegradedInput, Demosaicer, Method, MissingPackage, Network,
                                    baseline)
from panet.evaluate.report import csv_table, json_report, markdown_table
from panet.evaluate.runner import TASKS, Evaluation, Score, evaluate, parse_levels

__all__ = ["evaluate", "Evaluation", "Score", "TASKS", "parse_levels", "Method", "Network",
           "DegradedInput", "CBM3D", "BM3DDeblocker", "Demosaicer", "Bicubic", "BASELINES",
           "baseline", "DEBLOCKER_SIGMA", "MissingPackage", "markdown_table", "csv_table",
           "json_report", "comparison_figure"]
