"""Deprecated in tf-keras-vis 0.7 (warns on import): the legacy regularizers, defined in `_legacy`."""

from vis.compat.tf_keras_vis.activation_maximization._legacy import warn_module

warn_module("utils.regularizers", "activation_maximization.regularizers")

from vis.compat.tf_keras_vis.activation_maximization._legacy import (  # noqa: E402
    L2Norm,
    LegacyRegularizer,
    Norm,
    Regularizer,
    TotalVariation,
    TotalVariation2D,
)

__all__ = ["L2Norm", "LegacyRegularizer", "Norm", "Regularizer", "TotalVariation", "TotalVariation2D"]
