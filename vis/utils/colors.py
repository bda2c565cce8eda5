"""Colouring [0, 1] maps into RGB images, as keras-vis 0.3 to 0.4.1 returned them.

Those releases returned saliency and grad-CAM maps already coloured:
`np.uint8(matplotlib.cm.jet(map)[..., :3] * 255)`. `colorize` rebuilds that
image from the [0, 1] map the modern functions return, so tutorial code
written for them (`overlay(seed_img, heatmap)`, `heatmap[:, :, 2]`) keeps
working with one documented call. It is re-exported as
`vis.utils.utils.colorize`.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.colors import Colormap


def _get_cmap(cmap) -> Colormap:
    """Returns the matplotlib colormap named `cmap` (or `cmap` itself when it is one)."""
    if isinstance(cmap, Colormap):
        return cmap
    if not isinstance(cmap, str):
        raise ValueError(
            "`cmap` must be a matplotlib colormap name such as 'jet', or a `Colormap`. "
            f"Received: cmap={cmap!r}"
        )
    try:
        return matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(
            f"`cmap` must be the name of a colormap registered in `matplotlib.colormaps` "
            f"(such as 'jet', 'viridis', 'gray'). Received: cmap={cmap!r}"
        ) from None


def colorize(heatmap, cmap: str | Colormap = "jet") -> np.ndarray:
    """Turns a [0, 1] map into a uint8 RGB image through a matplotlib colormap.

    This is the image keras-vis 0.3 to 0.4.1 returned from its saliency and
    grad-CAM functions: each value is looked up in the colormap's 256-entry
    table (`matplotlib.colormaps[cmap]`), the alpha channel is dropped and
    the colours are scaled to [0, 255] and truncated to uint8, exactly as
    `np.uint8(cm.jet(heatmap)[..., :3] * 255)` did.

    Example:

    ```python
    grads = visualize_saliency(model, layer_idx, filter_indices=3, seed_input=img)
    heatmap = utils.colorize(grads)            # (H, W, 3) uint8, as 0.4.1 returned
    blended = overlay(img, heatmap)            # img: uint8 (H, W, 3) from utils.load_img
    blue = heatmap[:, :, 2]                    # the 0.4.1-style channel slicing
    ```

    Args:
        heatmap: A map with values in [0, 1], as returned by
            `visualize_saliency` or `visualize_cam`: `(H, W)`, a batch
            `(N, H, W)`, or any other shape of at least one axis.
        cmap: A colormap name registered in `matplotlib.colormaps`, or a
            matplotlib `Colormap`. Defaults to 'jet', what keras-vis used.

    Returns:
        A uint8 array of `heatmap`'s shape plus a trailing RGB axis of size 3:
        `(H, W)` gives `(H, W, 3)` and `(N, H, W)` gives `(N, H, W, 3)`.

    Raises:
        ValueError: If `heatmap` is not numeric, has no axis, holds NaN or
            values outside [0, 1], or `cmap` is not a known colormap.
    """
    colormap = _get_cmap(cmap)
    try:
        array = np.asarray(heatmap)
    except Exception as error:  # noqa: BLE001 - any conversion failure is a bad argument
        raise ValueError(f"`heatmap` must be a numeric array. Received: heatmap={heatmap!r}") from error
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"`heatmap` must be a numeric array. Received: heatmap of dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(
            f"`heatmap` must be a map with at least one axis, such as (H, W) or (N, H, W). "
            f"Received: heatmap={heatmap!r} with shape ()"
        )
    if array.size == 0:
        raise ValueError(f"`heatmap` must not be empty. Received: heatmap with shape {array.shape}")
    values = array.astype("float64")
    nan = np.isnan(values)
    if nan.any() or values.min() < 0.0 or values.max() > 1.0:
        finite = values[~nan]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
        raise ValueError(
            "`heatmap` values must lie in [0, 1]; normalise first (the visualization functions already "
            f"return [0, 1] maps, and `utils.normalize` rescales any array). Received: heatmap with shape "
            f"{array.shape}, min={low!r}, max={high!r}, "
            f"NaN count={int(nan.sum())}"
        )
    return np.ascontiguousarray(colormap(values, bytes=True)[..., :3])


__all__ = ["colorize"]
