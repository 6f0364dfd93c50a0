"""ipywidgets explorers for the notebooks. Only this module and plots.py import matplotlib.

Pattern (so tests can drive a widget without a browser): each explorer has a pure
``draw_*(fig, **slider_values)`` that clears and redraws ``fig`` and returns the data it drew
(a small dict), and a ``*_explorer()`` that wraps it in ``ipywidgets.interactive``. In the
notebook the explorer's cell is tagged ``nbval-ignore-output``; tests/test_widgets.py calls the
draw functions and the explorers' sliders directly.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from . import plots  # noqa: F401  (shared map helpers)


def interactive_figure(draw, figsize=(9, 4.5), **sliders):
    """``ipywidgets.interactive`` around ``draw(fig, **values)`` that shows a fresh figure per change.

    Returns the ``interactive`` widget; ``widget.result`` holds the last dict ``draw`` returned.
    """
    def update(**values):
        fig = plt.figure(figsize=figsize)
        out = draw(fig, **values)
        plt.show()
        return out

    return widgets.interactive(update, **sliders)


# ---- 01 policy gradient ------------------------------------------------------------
# ---- end 01 ----

# ---- 02 KL and Fisher --------------------------------------------------------------
# ---- end 02 ----

# ---- 04 conjugate gradient ---------------------------------------------------------
# ---- end 04 ----

# ---- 06 TRPO -----------------------------------------------------------------------
# ---- end 06 ----
