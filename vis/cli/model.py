"""The saved model of the `vis` commands: loading it (and TensorFlow, quietly), its layers and input.

TensorFlow is imported here, by `import_tensorflow`, and only when a model
must be loaded: `vis --help`, argument errors and a missing model file answer
without it.
"""

from __future__ import annotations

import contextlib
import os
import sys

_quiet = {"import": False}


def quiet_tensorflow() -> None:
    """Hides TensorFlow's start-up messages when `import_tensorflow` imports it.

    `vis.cli.main` calls this when it chose TensorFlow's C++ log level (the user
    did not set `TF_CPP_MIN_LOG_LEVEL`): TensorFlow 2.19+ prints its CUDA
    probing on import whatever that level says.
    """
    _quiet["import"] = True


@contextlib.contextmanager
def _stderr_hidden():
    """Sends file descriptor 2 (C++ writes there too) to the null device for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_tensorflow() -> None:
    """Imports TensorFlow and checks its version, its start-up messages hidden after `quiet_tensorflow()`.

    Raises:
        ImportError: If TensorFlow is missing or older than 2.16.
    """
    from vis import _require_tensorflow

    if "tensorflow" in sys.modules or not _quiet["import"]:
        _require_tensorflow()
        return
    with _stderr_hidden():
        try:
            _require_tensorflow()
        except ImportError as error:
            failure = error
        else:
            return
    raise failure


def load_model(path: str):
    """Loads a saved Keras model without compiling it.

    Args:
        path: A `.keras` or `.h5` file.

    Returns:
        The Keras model.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If the file is not a readable Keras model.
        ImportError: If TensorFlow is missing or too old.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    import_tensorflow()
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as error:
        message = f"could not read the model file {path} (a Keras .keras or .h5 file): {error}"
        raise ValueError(message) from None


def output_layer_index(model) -> int:
    """The index in `model.layers` of the layer that makes the model's first output.

    For a model with several outputs the first output is the default, for the
    layer and the predicted class alike.

    Args:
        model: A Keras model.

    Returns:
        The layer's index.
    """
    made_by = model.outputs[0]._keras_history.operation
    for index, layer in enumerate(model.layers):
        if layer is made_by:
            return index
    return len(model.layers) - 1


def resolve_layer(model, spec: str | None) -> int:
    """Returns the index in `model.layers` of the layer named or numbered by `spec`.

    Args:
        model: A Keras model.
        spec: A layer name, an index (negative counts from the end) as text, or
            None for the layer that makes the model's (first) output.

    Returns:
        The layer's index, from 0.

    Raises:
        ValueError: If no layer of the model (nested ones aside) has that name or index.
    """
    count = len(model.layers)
    if spec is None:
        return output_layer_index(model)
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if not -count <= index < count:
            raise ValueError(f"unknown layer {spec}: the model has {count} layers (indices 0 to {count - 1})")
        return index % count
    from vis.utils import layers  # A name keras.applications used in Keras 2 finds the layer it became.

    try:
        layer = layers.get_layer(model, spec, argument="--layer")
    except ValueError as error:
        raise ValueError(f"unknown layer '{spec}': {error}") from None
    index = layers.position(model.layers, layer)
    if index is None:
        raise ValueError(
            f"unknown layer '{spec}': it is inside a nested model; the command line visualizes "
            "the model's own layers"
        )
    return index


def input_shape(model) -> tuple[int, int, int]:
    """Returns `(height, width, channels)` of the model's image input.

    Args:
        model: A Keras model.

    Returns:
        The input's height, width and channels.

    Raises:
        ValueError: If the model does not take one channels-last image with 1 or 3 channels.
    """
    shape = tuple(model.inputs[0].shape)
    if len(model.inputs) != 1 or len(shape) != 4 or shape[3] not in (1, 3) or None in shape[1:]:
        raise ValueError(
            f"the command line handles models with one image input (height, width, 1 or 3 channels, "
            f"channels last); this model's input shape is {shape}. Use the Python API instead."
        )
    return int(shape[1]), int(shape[2]), int(shape[3])


def linear_head(model, layer_index: int):
    """Returns the model with the layer's softmax swapped for a linear activation (keras-vis recipe).

    Args:
        model: A Keras model.
        layer_index: The index of the layer to visualize.

    Returns:
        A new model if the layer ends in softmax (a note is printed), else `model`.
    """
    layer = model.layers[layer_index]
    if getattr(getattr(layer, "activation", None), "__name__", "") != "softmax":
        return model
    import keras

    from vis.utils.utils import apply_modifications

    print(f"note: layer '{layer.name}' ends in softmax; visualizing its logits (softmax swapped for linear)")
    layer.activation = keras.activations.linear
    return apply_modifications(model)


@contextlib.contextmanager
def output_folder(path: str):
    """Creates the folder `path` for the block if needed; removes it if the block fails leaving it empty.

    Args:
        path: The output folder.

    Yields:
        None.
    """
    created = not os.path.isdir(path)
    os.makedirs(path, exist_ok=True)
    try:
        yield
    except BaseException:
        if created and not os.listdir(path):
            os.rmdir(path)  # A failed run leaves no empty folder behind.
        raise
