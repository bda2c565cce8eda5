"""The pointing game: does a map's maximum fall on the object?

Zhang et al. (2016, "Top-down neural attention by excitation backprop") count a
hit when the most salient point of a map lies on the annotated object, within
a tolerance (they use 15 pixels). No model is needed: the maps and the
annotations (boxes or masks) are enough.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def pointing_game(maps, boxes_or_masks, tolerance: float = 0) -> np.ndarray:
    """Returns, per map, whether its maximum lies on the object (within `tolerance` pixels).

    When several pixels share the maximum (a flat top, an all-zero map), the
    map is a hit only if every one of them lies on the object: a map that
    points everywhere does not point at the object.

    Args:
        maps: `(batch, height, width)` maps, or one `(height, width)` map.
        boxes_or_masks: Boxes `(x_min, y_min, x_max, y_max)` in pixels, the
            maxima exclusive as in slicing (the box covers
            `map[y_min:y_max, x_min:x_max]`): `(batch, 4)`, `(batch, boxes, 4)`
            for several objects per image (a hit on any counts), or `(4,)` for
            one map. Or boolean masks of the maps' shape (True on the object).
        tolerance: The largest distance in pixels (Euclidean, >= 0) from the
            object at which a maximum still counts as a hit.

    Returns:
        bool `(batch,)`: True for a hit.

    Raises:
        ValueError: For maps and masks of different shapes, boxes outside the
            maps or empty, an empty mask, a negative tolerance, or NaN/inf maps.
        TypeError: For non-numeric maps or masks, or a tolerance that is not a number.
    """
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, (int, float, np.number)):
        raise TypeError(f"`tolerance` must be a number of pixels. Received: tolerance={tolerance!r}")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"`tolerance` must be a finite number >= 0. Received: tolerance={tolerance!r}")
    array, objects = _numeric(maps, "maps"), _numeric(boxes_or_masks, "boxes_or_masks")
    if array.ndim == 2:  # One map: the batch axis is added to the map and to its boxes or mask.
        array, objects = array[None], objects[None]
    if array.ndim != 3 or not np.all(np.isfinite(array)):
        raise ValueError(
            "`maps` must be finite 2-D maps, (batch, height, width) or one (height, width). "
            f"Received: maps with shape {np.shape(maps)}"
        )
    masks = _masks(objects, array.shape)
    near = np.stack([ndimage.distance_transform_edt(~m) <= tolerance for m in masks])
    flat, near = array.reshape(len(array), -1), near.reshape(len(array), -1)
    at_max = flat == flat.max(axis=1, keepdims=True)
    return np.all(near | ~at_max, axis=1)


def _numeric(value, argument: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"`{argument}` must be a numeric array. Received: {argument}={value!r}"[:400])
    return array


def _masks(objects: np.ndarray, shape: tuple) -> np.ndarray:
    """Boolean object masks of the maps' `shape`, from masks (nonzero on the object) or boxes."""
    if objects.shape == shape:
        masks = objects.astype(bool)
        empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(axis=1))
        if empty.size:
            raise ValueError(
                "Every mask of `boxes_or_masks` must mark at least one pixel. "
                f"Received: boxes_or_masks[{int(empty[0])}] with no pixel set"
            )
        return masks
    if objects.ndim == 2:
        objects = objects[:, None]
    if objects.ndim != 3 or objects.shape[0] != shape[0] or objects.shape[2] != 4:
        raise ValueError(
            f"`boxes_or_masks` must be boxes ({shape[0]}, 4) or ({shape[0]}, boxes, 4), or masks of the "
            f"maps' shape {shape}. Received: boxes_or_masks with shape {objects.shape}"
        )
    height, width = shape[1:]
    masks = np.zeros(shape, dtype=bool)
    for sample, boxes in enumerate(objects):
        for box in boxes.astype("float64"):
            x0, y0, x1, y1 = box
            whole = np.all(np.isfinite(box)) and np.all(box == np.round(box))
            if not (whole and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                shown = [int(v) if np.isfinite(v) and v == round(v) else float(v) for v in box]
                raise ValueError(
                    "Each box must be whole pixels (x_min, y_min, x_max, y_max) with 0 <= x_min < x_max <= "
                    f"{width} and 0 <= y_min < y_max <= {height} (maxima exclusive). "
                    f"Received: boxes_or_masks[{sample}]={shown}"
                )
            masks[sample, int(y0) : int(y1), int(x0) : int(x1)] = True
    return masks
