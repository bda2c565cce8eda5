"""Deprecated in tf-keras-vis 0.7 (warns on import): use `activation_maximization.regularizers`.

The legacy regularizers (defined in `activation_maximization._legacy`) take
the list of all model inputs and add up their values over the inputs, with
the numbers tf-keras-vis deprecated them for: `TotalVariation2D` divides by
the size of the whole batch, `Norm` divides the p-norm by the number of values.
"""

from vis.compat.tf_keras_vis.activation_maximization._deprecation import warn_module

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
