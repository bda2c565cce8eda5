"""`apply_modifications`: rebuilding a model in memory so that changed layer attributes apply.

keras-vis saved the model to a file and loaded it back. Here every layer is
re-created from its (modified) config, nested models recursively, and the
weights are copied; the user's model is never changed and no file is written.
`vis.utils.utils` re-exports `apply_modifications`, where keras-vis users find it.
"""

from __future__ import annotations

import keras

# Activation layers without an `activation` attribute of their own. keras-vis users swap a softmax
# head with `model.layers[-1].activation = linear`; on these layers that attribute is new, and
# `apply_modifications` honours it by putting an `Activation` layer of the same name in their place.
_ACTIVATION_LAYERS = (
    keras.layers.Softmax,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)


def _is_functional(model) -> bool:
    return isinstance(model, keras.Model) and any(cls.__name__ == "Functional" for cls in type(model).__mro__)


class _Cloner:
    """Re-creates a model's layers from their configs, nested models included (recursively).

    One cloner serves one `apply_modifications` call: a layer used in several
    places (shared, or inside several nested models) gets a single clone, and
    every `(original, clone)` pair made from a config is recorded so that the
    weights can be copied once the clone is built.
    """

    def __init__(self, custom_objects) -> None:
        self.custom_objects = custom_objects or {}
        self.clones: dict[int, keras.layers.Layer] = {}
        self.pairs: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []
        self.replaced: set[int] = set()

    def layer(self, layer):
        """Returns the clone of a layer (a nested model is cloned layer by layer)."""
        if id(layer) not in self.clones:
            self.clones[id(layer)] = self._new(layer)
        return self.clones[id(layer)]

    def _new(self, layer):
        if isinstance(layer, keras.Sequential) or _is_functional(layer):
            return self.model(layer)
        if not isinstance(layer, keras.layers.Layer):
            # An operator in the graph (`x + y`, `keras.ops.relu(x)`): stateless, re-created from its config.
            return layer.__class__.from_config(layer.get_config())
        activation = getattr(layer, "activation", None)
        if isinstance(layer, _ACTIVATION_LAYERS) and activation is not None:
            stand_in = keras.layers.Activation(activation, name=layer.name, dtype=layer.dtype_policy)
            self.replaced.add(id(stand_in))
            return stand_in
        try:
            with keras.saving.custom_object_scope(self.custom_objects):
                clone = layer.__class__.from_config(layer.get_config())
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"Could not re-create layer {layer.name!r} from its config; pass the custom classes and "
                f"functions it uses in `custom_objects`. {error}"
            ) from error
        self.pairs.append((layer, clone))
        return clone

    def model(self, model):
        """Clones a Functional or Sequential model (same type, same layer order and names)."""
        if isinstance(model, keras.Sequential):
            try:
                inputs = _fresh_inputs(model)
            except (AttributeError, IndexError, ValueError) as error:
                raise ValueError(
                    "The Sequential model must be built (have a defined input shape). "
                    f"Received: model={model.name!r}"
                ) from error
            clones = [self.layer(layer) for layer in model.layers]
            clone = keras.Sequential([inputs, *clones], name=model.name)
            # Calling it once on a fresh input defines `clone.input` / `clone.output`,
            # which Keras 3 leaves undefined for a Sequential that was never called.
            clone(keras.Input(batch_shape=inputs.shape, dtype=inputs.dtype))
            return clone
        if _is_functional(model):
            return keras.models.clone_model(
                model, input_tensors=_fresh_inputs(model), clone_function=self.layer, call_function=self._call
            )
        raise TypeError(
            "`apply_modifications` supports Functional and Sequential Keras models. "
            f"Received: model of type {type(model).__name__}"
        )

    def _call(self, layer, *args, **kwargs):
        # A stand-in `Activation` takes only the inputs (a Softmax node also recorded `mask=`).
        return layer(args[0]) if id(layer) in self.replaced else layer(*args, **kwargs)

    def copy_weights(self) -> None:
        for original, clone in self.pairs:
            if original.weights:
                clone.set_weights(original.get_weights())


def _fresh_inputs(model):
    """Returns new `keras.Input`s like `model.input`, keeping the input layers' names."""
    if isinstance(model, keras.Sequential):
        first = model.get_config()["layers"][0]
        names = {id(model.inputs[0]): first["config"]["name"]} if first["class_name"] == "InputLayer" else {}
    else:
        input_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.InputLayer)]
        names = {id(layer.output): layer.name for layer in input_layers}
    return keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=tuple(x.shape), dtype=x.dtype, name=names.get(id(x))),
        model.inputs[0] if isinstance(model, keras.Sequential) else model.input,
    )


def apply_modifications(model, custom_objects=None) -> keras.Model:
    """Rebuilds `model` so that changes made to its layers' attributes take effect.

    Setting e.g. `model.layers[-1].activation = keras.activations.linear` does not
    change an already built graph. keras-vis saved the model to a file and loaded
    it back; here every layer is re-created in memory from its (modified) config,
    and the weights are copied. No file is written.

    What the seed pattern `layer.activation = keras.activations.linear` does:

    - on a layer with an `activation` argument (`Dense(..., activation='softmax')`,
      `Conv2D`, ...) or an `Activation('softmax')` layer, the layer's config
      carries the new activation;
    - on an activation layer that has no `activation` attribute of its own
      (`Softmax`, `ReLU`, `LeakyReLU`, `ELU`, `PReLU`), the layer is replaced
      by an `Activation` layer of the same name applying the new activation
      (`Activation('linear')`: the identity). A `PReLU`'s slopes are dropped;
    - nested models are rebuilt layer by layer too, so a change made to a
      layer of a nested model (e.g. the head of a transfer-learning base) takes effect.

    The original `model` is left unchanged (its weights and layers are not shared
    with the result). A `keras.Sequential` comes back as a `keras.Sequential` with
    the same `model.layers` (so a `layer_idx` found before the call still points
    to the same layer), already called once on a `keras.Input` so that
    `model.input` and `model.output` work (Keras 3 leaves them undefined for a
    Sequential that was never called, and keras-vis code passes `model.input`).
    If `model` was compiled, the result is compiled with the same configuration (fresh optimizer state).

    Args:
        model: A built Functional or Sequential `keras.Model`.
        custom_objects: Optional dict of custom classes/functions needed to
            re-create the layers from their configs.

    Returns:
        A new model of the same kind (Sequential or Functional).

    Raises:
        TypeError: If `model` is not a Functional or Sequential model, or
            `custom_objects` is not a dict.
        ValueError: If a Sequential model has no defined input shape.
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(
            f"`custom_objects` must be a dict or None. Received: custom_objects={custom_objects!r}"
        )
    cloner = _Cloner(custom_objects)
    clone = cloner.model(model)
    cloner.copy_weights()
    if getattr(model, "compiled", False) and not clone.compiled:
        with keras.saving.custom_object_scope(custom_objects or {}):
            clone.compile_from_config(model.get_compile_config())
    return clone
