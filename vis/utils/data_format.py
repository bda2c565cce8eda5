"""Helpers that follow `keras.config.image_data_format()`.

`get_img_shape` and `slicer` (keras-vis names, re-exported by
`vis.utils.utils`) read and index batches in channels-first order;
`spatial_axes` and `affine_transform` serve the input modifiers.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def spatial_axes(rank: int) -> list[int]:
    """Returns the spatial axes of a batch of images of `rank`, for the data format.

    Raises:
        ValueError: If `rank` < 3 (no spatial axis besides batch and channels).
    """
    if rank is None or rank < 3:
        raise ValueError(
            "Input modifiers need a batch of images `(samples, image_dims..., channels)`. "
            f"Received: an input of rank {rank}"
        )
    if keras.config.image_data_format() == "channels_first":
        return list(range(2, rank))
    return list(range(1, rank - 1))


def affine_transform(x, params):
    """Applies the affine map `params(cx, cy)` (output pixel -> input pixel) to 2D images."""
    if x.shape.rank != 4:
        raise ValueError(f"Rotate and Scale need a batch of 2D images (rank 4). Received: shape {x.shape}")
    channels_first = keras.config.image_data_format() == "channels_first"
    images = tf.transpose(x, (0, 2, 3, 1)) if channels_first else x
    size = tf.shape(images)[1:3]
    cy, cx = [tf.cast(size[k] - 1, tf.float32) / 2.0 for k in (0, 1)]
    row = tf.cast(tf.stack(params(cx, cy) + [tf.zeros(()), tf.zeros(())]), tf.float32)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=row[None],
        output_shape=size,
        fill_value=tf.zeros((), images.dtype),
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    out = tf.transpose(out, (0, 3, 1, 2)) if channels_first else out
    return tf.ensure_shape(out, x.shape)


def get_img_shape(img) -> tuple:
    """Returns the shape of a batch of images in `(samples, channels, dims...)` order.

    Args:
        img: A numpy array, tensor or KerasTensor with a batch axis, laid out as
            `keras.config.image_data_format()` says.

    Returns:
        A tuple `(samples, channels, dims...)` (unknown sizes are None).

    Raises:
        TypeError: If `img` has no shape.
        ValueError: If `img` has fewer than 2 dimensions.
    """
    if not hasattr(img, "shape"):
        raise TypeError(f"`img` must be an array or tensor. Received: img of type {type(img).__name__}")
    shape = img.shape
    shape = tuple(shape.as_list()) if hasattr(shape, "as_list") else tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"`img` must have a batch axis and a channel axis. Received: img.shape={shape}")
    if keras.config.image_data_format() == "channels_last":
        shape = (shape[0], shape[-1]) + shape[1:-1]
    return shape


class _ImageDataFormatSlicer:
    """Turns an index written in channels-first order into one for the configured data format."""

    def __getitem__(self, item_slice):
        """Moves the channel index (position 1) last when the data format is channels_last."""
        item_slice = item_slice if isinstance(item_slice, tuple) else (item_slice,)
        if keras.config.image_data_format() == "channels_first" or len(item_slice) < 2:
            return item_slice
        return (item_slice[0],) + item_slice[2:] + (item_slice[1],)


slicer = _ImageDataFormatSlicer()
"""Index images in `(samples, channels, dims...)` order whatever the data format.

Example: `layer_output[utils.slicer[:, filter_idx, :, :]]` is
`layer_output[:, :, :, filter_idx]` with channels_last. With an ellipsis,
`utils.slicer[:, filter_idx, ...]` works for any number of image dims.
"""

__all__ = ["get_img_shape", "slicer"]  # keras-vis names; the other two serve vis.input_modifiers
