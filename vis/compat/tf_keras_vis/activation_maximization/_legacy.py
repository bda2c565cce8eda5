"""tf-keras-vis 0.8.7's legacy regularizers (`utils.regularizers`, deprecated in 0.7), defined quietly.

They live here so that `activation_maximization` can name `LegacyRegularizer`
without importing the deprecated module (0.8.7 imports it there, so its
warning fires at the first `import tf_keras_vis.activation_maximization`);
their `__module__` is the public `utils.regularizers`. They take the list of
all model inputs and add up their values over the inputs. Their numbers are
kept as tf-keras-vis computes them, including what it deprecated them for:
`TotalVariation2D` divides by the size of the whole batch (too small for more
than one sample) and `Norm` divides the p-norm by the number of values (too
small). `ActivationMaximization` takes them as one instance or a list (never
per input) and warns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import keras

from vis.compat.tf_keras_vis.activation_maximization._deprecation import deprecated_class

_USE = "Please use `vis.compat.tf_keras_vis.activation_maximization.regularizers.{}` class instead of this."


def _float(x):
    return x if isinstance(x, keras.KerasTensor) else keras.ops.convert_to_tensor(x, "float32")


def _sample_size(x) -> int:
    size = 1
    for dim in tuple(x.shape)[1:]:
        size *= int(dim)
    return size


@deprecated_class(version="0.7.0", reason=_USE.format("Regularizer"))
class LegacyRegularizer(ABC):
    """Base of the legacy regularizers: called on the list of all model inputs.

    Args:
        name: The name shown next to the value.
    """

    def __init__(self, name) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, inputs):
        """Returns the regularization value, summed over the inputs.

        Raises:
            NotImplementedError: Subclasses implement it.
        """
        raise NotImplementedError()


Regularizer = LegacyRegularizer


@deprecated_class(
    version="0.7.0",
    reason="The class has a bug that the calculated value is incorrect (too small) when the `batch_size` "
    "is greater than one. " + _USE.format("TotalVariation2D"),
)
class TotalVariation2D(LegacyRegularizer):
    """Total variation of each input, divided by the size of the whole batch (sic), weighted."""

    def __init__(self, weight=10.0, name="TotalVariation2D") -> None:
        super().__init__(name)
        self.weight = weight

    def __call__(self, overall_inputs):
        tv = 0.0
        for x in overall_inputs:
            x = _float(x)
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


@deprecated_class(
    version="0.7.0",
    reason="The class has a bug that the calculated value is incorrect (too small). " + _USE.format("Norm"),
)
class Norm(LegacyRegularizer):
    """The p-norm of each input's samples divided by their number of values (sic), weighted."""

    def __init__(self, weight=10.0, p=2, name="Norm") -> None:
        super().__init__(name)
        self.weight = weight
        self.p = p

    def __call__(self, overall_inputs):
        norm = 0.0
        for x in overall_inputs:
            size = _sample_size(x)
            flat = keras.ops.reshape(_float(x), (-1, size))
            norm = norm + keras.ops.norm(flat, ord=self.p, axis=-1) / float(size)
        return self.weight * norm


@deprecated_class(version="0.6.0", reason=_USE.format("Norm"))
class L2Norm(Norm):
    """`Norm` with p=2, named 'L2Norm'."""

    def __init__(self, weight=10.0) -> None:
        super().__init__(weight=weight, p=2, name="L2Norm")


for _cls in (LegacyRegularizer, TotalVariation2D, TotalVariation, Norm, L2Norm):
    _cls.__module__ = "vis.compat.tf_keras_vis.utils.regularizers"
