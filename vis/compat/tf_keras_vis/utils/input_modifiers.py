"""Deprecated in tf-keras-vis 0.7 (warns on import): use `activation_maximization.input_modifiers`."""

from vis.compat.tf_keras_vis.activation_maximization._legacy import warn_module

warn_module("utils.input_modifiers", "activation_maximization.input_modifiers")

from vis.compat.tf_keras_vis.activation_maximization.input_modifiers import (  # noqa: E402
    InputModifier,
    Jitter,
    Rotate,
    Rotate2D,
)

__all__ = ["InputModifier", "Jitter", "Rotate", "Rotate2D"]
