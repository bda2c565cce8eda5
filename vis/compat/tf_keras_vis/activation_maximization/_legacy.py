"""tf-keras-vis 0.8.7's deprecation warnings, and its legacy regularizers (`utils.regularizers`).

The legacy regularizers live here so `activation_maximization` can name them
without importing (and warning about) the deprecated module. They take the list
of all inputs and sum over them, with the numbers 0.8.7 deprecated them for:
`TotalVariation2D` divides by the size of the whole batch, `Norm` by the
number of values.
"""

from __future__ import annotations

import functools
import math
import warnings
from abc import ABC, abstractmethod

import keras

_USE = "Please use `vis.compat.tf_keras_vis.activation_maximization.regularizers.{}` class instead of this."


def deprecated_class(version: str, reason: str | None = None):
    """A class decorator: the class warns at each instantiation, worded as the `deprecated` package."""

    def decorate(cls):
        message = f"Call to deprecated class {cls.__name__}." + (f" ({reason})" if reason else "")
        message += f" -- Deprecated since version {version}."
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):  # noqa: N807
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        return cls

    return decorate


def warn_module(old: str, new: str) -> None:
    """Warns, as tf-keras-vis does on importing a deprecated module, that `old` moved to `new`."""
    package = "vis.compat.tf_keras_vis."
    message = f"`{package}{old}` module is deprecated. Please use `{package}{new}` instead."
    warnings.warn(message, DeprecationWarning, stacklevel=2)


def _float(x):
    return x if isinstance(x, keras.KerasTensor) else keras.ops.convert_to_tensor(x, "float32")


def _sample_size(x) -> int:
    return math.prod(int(d) for d in tuple(x.shape)[1:])


@deprecated_class(version="0.7.0", reason=_USE.format("Regularizer"))
class LegacyRegularizer(ABC):
    """Base of the legacy regularizers, called on the list of all model inputs.

    Args:
        name: The name shown next to the value.
    """

    def __init__(self, name) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, inputs):
        """Returns the regularization value, summed over the inputs."""
        raise NotImplementedError()


Regularizer = LegacyRegularizer
_BUG = "The class has a bug that the calculated value is incorrect (too small)"


@deprecated_class(
    "0.7.0", f"{_BUG} when the `batch_size` is greater than one. " + _USE.format("TotalVariation2D")
)
class TotalVariation2D(LegacyRegularizer):
    """Total variation of each input over the size of the whole batch (sic), weighted."""

    def __init__(self, weight=10.0, name="TotalVariation2D") -> None:
        super().__init__(name)
        self.weight = weight

    def __call__(self, overall_inputs):
        tv = 0.0
        for x in map(_float, overall_inputs):
            rows = keras.ops.sum(keras.ops.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3))
            cols = keras.ops.sum(keras.ops.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))
            batch = keras.ops.cast(keras.ops.shape(x)[0], "float32")
            tv = tv + (rows + cols) / (batch * float(_sample_size(x)))
        return self.weight * tv


@deprecated_class(version="0.6.0", reason=_USE.format("TotalVariation2D"))
class TotalVariation(TotalVariation2D):
    """`TotalVariation2D` named 'TotalVariation'."""

    def __init__(self, weight=10.0) -> None:
        super().__init__(weight=weight, name="TotalVariation")


@deprecated_class(version="0.7.0", reason=f"{_BUG}. " + _USE.format("Norm"))
class Norm(LegacyRegularizer):
    """The p-norm of each input's samples over their number of values (sic), weighted."""

    def __init__(self, weight=10.0, p=2, name="Norm") -> None:
        super().__init__(name)
        self.weight, self.p = weight, p

    def __call__(self, overall_inputs):
        norm = 0.0
        for x in overall_inputs:
            size = _sample_size(x)
            norm = norm + keras.ops.norm(keras.ops.reshape(_float(x), (-1, size)), ord=self.p, axis=-1) / size
        return self.weight * norm


@deprecated_class(version="0.6.0", reason=_USE.format("Norm"))
class L2Norm(Norm):
    """`Norm` with p=2, named 'L2Norm'."""

    def __init__(self, weight=10.0) -> None:
        super().__init__(weight=weight, p=2, name="L2Norm")


for _cls in (LegacyRegularizer, TotalVariation2D, TotalVariation, Norm, L2Norm):
    _cls.__module__ = "vis.compat.tf_keras_vis.utils.regularizers"
