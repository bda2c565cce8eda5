"""Reading a data set in batches for `vis.stream`, and writing maps as they come.

`batches_of` turns what users have — a numpy array, `(images, labels)`
arrays, a `tf.data.Dataset` (batched or not, images or `(image, label)`
pairs), or any iterable of batches — into `(images, labels)` numpy batches of
`batch_size`, checked against the model's input. `NpyWriter` writes a `.npy`
file batch by batch without knowing the number of samples in advance.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import numpy as np

from vis.visualization import common

_HEADER_BYTES = 256  # Room for any shape's header: rewritten in place when the last batch is in.


def count_of(data) -> int | None:
    """The number of samples in `data`, when it says so without being read."""
    if isinstance(data, np.ndarray):
        return len(data)
    if _is_pair(data):
        return len(data[0])
    dataset = _dataset(data)
    if dataset is not None:
        if _is_batched(dataset, None):
            return None
        cardinality = int(dataset.cardinality())
        return cardinality if cardinality >= 0 else None
    return None


def batches_of(data, batch_size: int, input_tensor) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yields `(images, labels or None)` batches of `batch_size` (the last may be smaller).

    Raises:
        TypeError: For data of another type.
        ValueError: For samples that do not fit the model's input.
    """
    if isinstance(data, np.ndarray) or _is_pair(data):
        images, labels = (data, None) if isinstance(data, np.ndarray) else data
        for start in range(0, len(images), batch_size):
            part = None if labels is None else np.asarray(labels[start : start + batch_size])
            yield _checked(images[start : start + batch_size], input_tensor), part
        return
    dataset = _dataset(data)
    if dataset is not None:
        if _is_batched(dataset, input_tensor):
            dataset = dataset.unbatch()
        import tensorflow as tf

        for item in dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
            images, labels = item if isinstance(item, tuple) else (item, None)
            yield _checked(images, input_tensor), labels
        return
    if not hasattr(data, "__iter__") or isinstance(data, (str, bytes, dict)):
        raise TypeError(
            "`data` must be a numpy array of images, an `(images, labels)` pair of arrays, a "
            f"`tf.data.Dataset` or an iterable of batches. Received: data of type {type(data).__name__}"
        )
    yield from _recut(data, batch_size, input_tensor)


def _recut(batches, batch_size: int, input_tensor) -> Iterator[tuple]:
    """Re-cuts an iterable of batches (or of single samples) to `batch_size`."""
    rank = len(input_tensor.shape)
    images, labels, size = [], [], 0
    for item in batches:
        x, y = item if _is_pair(item) else (item, None)
        x = np.asarray(x)
        if x.ndim == rank - 1:  # One sample.
            x, y = x[None], None if y is None else np.asarray(y)[None]
        images.append(x)
        labels.append(None if y is None else np.asarray(y))
        size += len(x)
        while size >= batch_size:
            yield _take(images, labels, batch_size, input_tensor)
            size -= batch_size
    if size:
        yield _take(images, labels, size, input_tensor)


def _take(images: list, labels: list, count: int, input_tensor) -> tuple:
    """Removes the first `count` samples from the buffers and returns them as one batch."""
    x, y = np.concatenate(images), None if labels[0] is None else np.concatenate(labels)
    images[:] = [x[count:]]
    labels[:] = [None if y is None else y[count:]]
    return _checked(x[:count], input_tensor), None if y is None else y[:count]


def _checked(images, input_tensor) -> np.ndarray:
    batch, _ = common.prepare_seed(np.asarray(images), input_tensor, argument="data", keep_batch_axis=True)
    if batch.ndim != len(input_tensor.shape):
        raise ValueError(f"`data` must hold batches of images. Received: data with shape {np.shape(images)}")
    return batch


def _is_pair(data) -> bool:
    return isinstance(data, tuple) and len(data) == 2 and all(hasattr(d, "__len__") for d in data)


def _dataset(data):
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is required by vis
        return None
    return data if isinstance(data, tf.data.Dataset) else None


def _is_batched(dataset, input_tensor) -> bool:
    """Whether the dataset's elements are batches: their image rank is the model input's (with batch)."""
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    rank = spec.shape.rank
    if input_tensor is None:
        return spec.shape.rank is not None and spec.shape[0] is None
    return rank == len(input_tensor.shape)


class NpyWriter:
    """Writes an `(N, ...)` array into a `.npy` file batch by batch; N is known only at the end.

    The header is written with room to spare and rewritten with the final
    shape, so the file is a plain `.npy` that `np.load(path, mmap_mode='r')`
    opens without reading it all.
    """

    def __init__(self, path: str) -> None:
        self.path, self.file, self.shape, self.dtype, self.count = path, None, None, None, 0

    def add(self, batch: np.ndarray) -> None:
        if self.file is None:
            self.shape, self.dtype = batch.shape[1:], batch.dtype
            self.file = open(self.path, "wb")  # noqa: SIM115 - kept open across batches, closed in `close`
            self.file.write(_header((0, *self.shape), self.dtype))
        self.file.write(np.ascontiguousarray(batch, dtype=self.dtype).tobytes())
        self.count += len(batch)

    def close(self) -> None:
        if self.file is None:
            return
        self.file.seek(0)
        self.file.write(_header((self.count, *self.shape), self.dtype))
        self.file.close()


def _header(shape: tuple, dtype) -> bytes:
    """A version 1.0 `.npy` header of exactly `_HEADER_BYTES` bytes."""
    described = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    text = repr(described)
    assert ast.literal_eval(text) == described
    room = _HEADER_BYTES - 10 - len(text) - 1
    if room < 0:
        raise ValueError(f"Map shape {shape[1:]} is too large for the .npy header.")
    body = (text + " " * room + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body
