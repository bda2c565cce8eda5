"""General helpers of keras-vis `vis.utils.utils`, for Keras 3.

The image helpers live in `vis.utils.images` and `vis.utils.data_format` and
are re-exported here, so `from vis.utils import utils; utils.load_img(...)`
keeps working.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np

from vis.utils import layers
from vis.utils.colors import colorize as colorize
from vis.utils.data_format import get_img_shape as get_img_shape
from vis.utils.data_format import slicer as slicer
from vis.utils.images import bgr2rgb as bgr2rgb
from vis.utils.images import deprocess_input as deprocess_input
from vis.utils.images import draw_text as draw_text
from vis.utils.images import load_img as load_img
from vis.utils.images import normalize as normalize
from vis.utils.images import stitch_images as stitch_images
from vis.utils.modifications import apply_modifications as apply_modifications

# Same file, URL and hash as `keras.applications.imagenet_utils.decode_predictions`.
CLASS_INDEX_FNAME = "imagenet_class_index.json"
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"

# Parsed class-index JSON files, keyed by their path.
_CLASS_INDEX_CACHE: dict[str, dict] = {}


def reverse_enumerate(iterable: Sequence) -> Iterator[tuple[int, object]]:
    """Enumerates a sequence in reverse order, keeping the original indexes, without copying.

    Args:
        iterable: A sequence supporting `len` and `reversed`.

    Returns:
        An iterator of `(index, item)` pairs from the last item to the first.
    """
    return zip(reversed(range(len(iterable))), reversed(iterable), strict=True)


def listify(value) -> list:
    """Ensures that `value` is a list, as keras-vis does.

    A list is returned as is, a tuple becomes a list of its items, and any other
    value (including None) is wrapped as `[value]`.

    Args:
        value: Any value.

    Returns:
        A list.
    """
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return [value]


def add_defaults_to_kwargs(defaults: dict, **kwargs) -> dict:
    """Returns `kwargs` completed with `defaults` (a given kwarg wins over its default).

    Args:
        defaults: A dict of default keyword values.
        **kwargs: The keyword arguments given by the user.

    Returns:
        A new dict; neither `defaults` nor `kwargs` is modified.
    """
    merged = dict(defaults)
    merged.update(kwargs)
    return merged


def get_identifier(identifier, module_globals: dict, module_name: str) -> Callable:
    """Looks up the callable named `identifier` in a module's globals.

    Args:
        identifier: A name defined in the module, or a callable (returned as is).
        module_globals: The module's `globals()`.
        module_name: The module's name, used in error messages.

    Returns:
        The callable.

    Raises:
        ValueError: If the name is unknown or `identifier` is neither a string nor callable.
    """
    if isinstance(identifier, str):
        found = module_globals.get(identifier)
        if found is not None and callable(found) and not identifier.startswith("_"):
            return found
        owner = module_globals.get("__name__")
        valid = sorted(
            name
            for name, obj in module_globals.items()
            if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", None) == owner
        )
        raise ValueError(
            f"Unknown {module_name}: {identifier!r}. Valid names: {', '.join(valid)}. "
            f"Received: identifier={identifier!r}"
        )
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret {module_name} identifier: expected a name or a callable. "
        f"Received: identifier={identifier!r}"
    )


def random_array(shape, mean: float = 128.0, std: float = 20.0) -> np.ndarray:
    """Creates a uniformly distributed random array with exactly the given mean and std.

    Uses numpy's global random state (see `vis.backend.set_random_seed`).

    Args:
        shape: The shape of the array.
        mean: The mean of the array.
        std: The standard deviation of the array.

    Returns:
        A float64 numpy array of `shape`.
    """
    x = np.random.random(shape)
    x = (x - np.mean(x)) / (np.std(x) + keras.config.epsilon())
    return x * std + mean


def find_layer_idx(model, layer_name: str) -> int:
    """Returns the index in `model.layers` of the layer named `layer_name`.

    A keras.applications name from Keras 2.0-2.2 (`'fc1000'`) finds the layer it
    became (`'predictions'`), with a `UserWarning`.

    Args:
        model: A `keras.Model`.
        layer_name: The layer's name.

    Returns:
        The index of the layer.

    Raises:
        ValueError: If no layer has that name (the message lists close
            matches) or the layer is inside a nested model.
    """
    layer = layers.get_layer(model, layer_name, argument="layer_name")
    index = layers.position(model.layers, layer)
    if index is None:
        path = layers.path_of(model, layer)
        raise ValueError(
            f"Layer {path!r} is inside a nested model of model {model.name!r}, so it has no index in "
            f"`model.layers`: pass {path!r} as `layer_idx` instead. Received: layer_name={layer_name!r}"
        )
    return index


def _keras_cache_dir() -> str:
    """Returns the Keras cache directory, as `keras.utils.get_file` resolves it."""
    cache_dir = os.environ.get("KERAS_HOME")
    if not cache_dir:
        base = os.path.expanduser("~")
        cache_dir = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.expanduser(cache_dir)


def _load_class_index() -> dict:
    """Loads (once per path) Keras' cached ImageNet class index, downloading it if needed."""
    cache_dir = _keras_cache_dir()
    path = os.path.join(cache_dir, "models", CLASS_INDEX_FNAME)
    if not os.path.exists(path):
        path = keras.utils.get_file(
            CLASS_INDEX_FNAME,
            CLASS_INDEX_PATH,
            cache_subdir="models",
            file_hash=CLASS_INDEX_HASH,
            cache_dir=cache_dir,
        )
    if path not in _CLASS_INDEX_CACHE:
        try:
            with open(path) as f:
                _CLASS_INDEX_CACHE[path] = json.load(f)
        except ValueError as error:
            raise ValueError(f"The ImageNet class index at {path!r} is not valid JSON: {error}") from error
    return _CLASS_INDEX_CACHE[path]


def lookup_imagenet_labels(indices) -> list[str]:
    """Returns the ImageNet labels (e.g. 'tabby') of output indices.

    Reads the class index Keras' `decode_predictions` uses (cached under
    `$KERAS_HOME/models`, downloaded on first use).

    Args:
        indices: An int or a list/tuple/array of ints.

    Returns:
        A list of labels, one per index; like keras-vis, a list even for a single int.

    Raises:
        ValueError: If an index is not an ImageNet class index.
    """
    if isinstance(indices, np.ndarray):
        indices = indices.ravel().tolist()
    class_index = _load_class_index()
    labels = []
    for idx in listify(indices):
        key = str(int(idx)) if isinstance(idx, (int, np.integer)) else str(idx)
        if key not in class_index:
            raise ValueError(
                f"Unknown ImageNet class index {idx!r} (valid: 0 to {len(class_index) - 1}). "
                f"Received: indices={indices!r}"
            )
        labels.append(class_index[key][1])
    return labels
