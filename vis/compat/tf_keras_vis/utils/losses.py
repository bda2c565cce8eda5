"""Deprecated in tf-keras-vis 0.6 (a `DeprecationWarning` on import): `utils.scores`, under the old names."""

from vis.compat.tf_keras_vis.activation_maximization._legacy import warn_module

warn_module("utils.losses", "utils.scores")

from vis.compat.tf_keras_vis.utils.scores import BinaryScore as BinaryLoss  # noqa: E402
from vis.compat.tf_keras_vis.utils.scores import CategoricalScore as CategoricalLoss  # noqa: E402
from vis.compat.tf_keras_vis.utils.scores import InactiveScore as InactiveLoss  # noqa: E402
from vis.compat.tf_keras_vis.utils.scores import Score as Loss  # noqa: E402

__all__ = ["BinaryLoss", "CategoricalLoss", "InactiveLoss", "Loss"]
