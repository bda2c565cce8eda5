"""Backend helpers of keras-vis `vis.backend`, for TensorFlow 2 / Keras 3."""

from __future__ import annotations

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)


def set_random_seed(seed_value: int = 1337) -> None:
    """Seeds every random generator `vis` draws from, for reproducible results.

    Seeds Python's `random`, numpy's global generator (random seeds of
    `visualize_activation`, `Jitter` offsets), TensorFlow's global seed and
    Keras' seed generator, via `keras.utils.set_random_seed`.

    Args:
        seed_value: The seed (default: the infamous 1337, as in keras-vis).

    Raises:
        TypeError: If `seed_value` is not an int.
    """
    import keras
    import numpy as np

    if isinstance(seed_value, bool) or not isinstance(seed_value, (int, np.integer)):
        raise TypeError(f"`seed_value` must be an int. Received: seed_value={seed_value!r}")
    keras.utils.set_random_seed(int(seed_value))


def modify_model_backprop(model, backprop_modifier):
    """Returns a copy of `model` whose ReLUs have a modified gradient.

    The copy is built in memory: nested models are inlined and every ReLU
    (`activation='relu'` on a layer, `Activation('relu')`, `keras.layers.ReLU`)
    is replaced by a stand-in with the modified gradient that calls the
    original layer, so the weights are shared, never copied or stale. Other
    activations are left alone and the original model is not changed. The
    copy is cached on the model itself, so repeated calls return the same one.

    The visualization functions do not need this: given `backprop_modifier`,
    they apply it inside the gradient engine.

    Args:
        model: A Functional or Sequential Keras model.
        backprop_modifier: 'guided', 'rectified' (aliases 'relu', 'deconv'),
            or a callable `model -> model` (called and its result returned).

    Returns:
        The modified Keras model (same inputs and outputs, flat graph).

    Raises:
        ValueError: For an unknown modifier name.
        TypeError: For a modifier of another type.
    """
    from vis import backprop_modifiers

    modifier = backprop_modifiers.get(backprop_modifier)
    if modifier is None:
        raise ValueError(
            f"`backprop_modifier` must not be None. Received: backprop_modifier={backprop_modifier!r}"
        )
    if not backprop_modifiers.is_engine_modifier(modifier):
        return modifier(model)
    owner = model.inputs[0]._keras_history.operation
    copies = owner.__dict__.setdefault("_vis_backprop_models", {})
    if modifier.name not in copies:
        copies[modifier.name] = _flat_model(model, modifier)
    return copies[modifier.name]


def _flat_model(model, replace):
    """A flat copy of `model`: nested models inlined, `replace`'s stand-ins called, layers shared."""
    import keras

    from vis.engine.plan import Plan

    plan = Plan(list(model.inputs), list(model.outputs), replace=replace)
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in model.inputs]
    outputs, _ = plan.run(inputs)
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=f"{model.name}_flat",
    )
