"""Study figures written as small PNGs: rendered by Agg, stored with an adaptive palette of at
most 256 colours (a README shows them; a heatmap's full-colour PNG runs to hundreds of KB)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

PALETTE_COLOURS: Final = 256
"""Colours a study PNG keeps (Pillow, which matplotlib already writes its PNGs with). The
octree keeps small marks in their own colour (a median cut folds a heatmap's gold star into
the surrounding reds)."""


def save_png(fig: Figure, path: Path, *, dpi: float) -> Path:
    """Render `fig` at `dpi` and write it to `path` as a palette PNG."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()  # type: ignore[no-untyped-call]
    rgb = np.asarray(canvas.buffer_rgba())[:, :, :3]  # type: ignore[no-untyped-call]
    image = Image.fromarray(np.ascontiguousarray(rgb))
    image.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE).save(
        path, format="PNG", optimize=True
    )
    return path


__all__ = ["save_png"]
