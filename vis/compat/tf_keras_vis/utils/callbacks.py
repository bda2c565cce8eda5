"""Deprecated in tf-keras-vis 0.7 (a `DeprecationWarning` on import): `activation_maximization.callbacks`."""

from vis.compat.tf_keras_vis.activation_maximization._legacy import warn_module

warn_module("utils.callbacks", "activation_maximization.callbacks")

from vis.compat.tf_keras_vis.activation_maximization.callbacks import Callback as OptimizerCallback  # noqa: E402
from vis.compat.tf_keras_vis.activation_maximization.callbacks import GifGenerator2D  # noqa: E402
from vis.compat.tf_keras_vis.activation_maximization.callbacks import GifGenerator2D as GifGenerator  # noqa: E402
from vis.compat.tf_keras_vis.activation_maximization.callbacks import PrintLogger as Print  # noqa: E402

__all__ = ["GifGenerator", "GifGenerator2D", "OptimizerCallback", "Print"]
