"""Input modifiers: changes made to the optimized input around each step.

`Optimizer.minimize` calls every modifier's `pre` (in list order) before
computing the gradients and every `post` (in reverse order) after the
gradient step, as keras-vis did. Like keras-vis, a `pre` change is kept: the
jittered (rotated, scaled) input is the one that is updated.

The built-in modifiers are written with TensorFlow ops, so the optimizer can
compile them into its loop; they also take numpy arrays (and then return
numpy arrays). They never change the array they are given. A modifier
written with numpy, as keras-vis users wrote them, still works: the
optimizer then runs the modifiers on the host between compiled steps. A
class whose `pre`/`post` only use TensorFlow ops can say so with
`graph_compatible = True` in its body.

Random modifiers take an optional `seed` (a shape `(2,)` integer tensor for
TensorFlow's stateless random ops). The optimizer passes one per step,
derived from numpy's global generator, so `vis.backend.set_random_seed`
makes runs reproducible; without a seed, one is drawn from numpy.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np
import tensorflow as tf

from vis.utils.data_format import affine_transform, spatial_axes
from vis.utils.utils import listify


class InputModifier:
    """Base class of input modifiers: `pre` and `post` return the input unchanged.

    Subclasses override either method. Both receive (and return) a batch of
    inputs, `(samples, image_dims..., channels)` for `channels_last` or
    `(samples, channels, image_dims...)` for `channels_first`.
    """

    graph_compatible = True

    def pre(self, inp):
        """Modifies the input before the gradients are computed (identity here).

        Args:
            inp: A batch of inputs (numpy array or tensor).

        Returns:
            The modified batch.
        """
        return inp

    def post(self, inp):
        """Modifies the input after the gradient step (identity here).

        Args:
            inp: A batch of inputs (numpy array or tensor).

        Returns:
            The modified batch.
        """
        return inp

    def get_config(self) -> dict:
        """Returns the constructor arguments (identifies equal modifiers)."""
        return {}


class Jitter(InputModifier):
    """Shifts the image circularly by a random offset along each spatial axis.

    Jitter gives crisper activation maximization images. The offset along
    each axis is drawn uniformly from `[-j, j]` pixels and the same shift is
    applied to every sample of the batch; pixels leaving one side come back
    on the other.

    Args:
        jitter: The largest shift: one value for all spatial axes or one per
            axis. A value below 1 is a fraction of that axis' size (0.05 of
            28 pixels is 1 pixel), 1 or more is a number of pixels.

    Raises:
        ValueError: If a value is negative or not a finite number.
    """

    graph_compatible = True

    def __init__(self, jitter=0.05) -> None:
        values = listify(np.asarray(jitter).tolist() if isinstance(jitter, np.ndarray) else jitter)
        valid = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
        if not values or not valid or not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(
                f"`jitter` must be a non-negative number or a sequence of them (one per image axis). "
                f"Received: jitter={jitter!r}"
            )
        self.jitter = jitter
        self._values = tuple(float(v) for v in values)

    def get_config(self) -> dict:
        return {"jitter": self._values}

    def limits(self, image_dims):
        """Returns the largest shift in pixels along each spatial axis.

        Args:
            image_dims: The sizes of the spatial axes (a list or an int tensor).

        Returns:
            An int32 tensor, one value per spatial axis.

        Raises:
            ValueError: If `jitter` has one value per axis and the count differs.
        """
        count = len(image_dims) if isinstance(image_dims, (list, tuple)) else int(image_dims.shape[0])
        values = self._values * count if len(self._values) == 1 else self._values
        if len(values) != count:
            raise ValueError(
                f"`jitter` needs one value, or one per image axis ({count}). Received: jitter={self.jitter!r}"
            )
        dims = tf.cast(image_dims, tf.float32)
        values = tf.constant(values, tf.float32)
        return tf.cast(tf.floor(tf.where(values < 1.0, dims * values, values)), tf.int32)

    def pre(self, inp, seed=None):
        """Returns a copy of `inp` shifted circularly by a random offset per spatial axis."""
        x = tf.convert_to_tensor(inp)
        axes = spatial_axes(x.shape.rank)
        limits = self.limits(tf.gather(tf.shape(x), axes))
        draw = tf.random.stateless_uniform((len(axes),), seed=_seed(seed))
        shifts = tf.cast(tf.floor(draw * tf.cast(2 * limits + 1, tf.float32)), tf.int32) - limits
        return _like(inp, tf.roll(x, shift=shifts, axis=axes))


class Rotate(InputModifier):
    """Rotates 2D images by a random angle around their centre.

    Edges are filled by reflection and pixels interpolated bilinearly, as
    tf-keras-vis' `Rotate2D` does (lucid uses random rotations too).

    Args:
        degrees: The largest angle; each step draws one from `[-degrees, degrees]`.

    Raises:
        ValueError: If `degrees` is negative or not a finite number.
    """

    graph_compatible = True

    def __init__(self, degrees: float = 3.0) -> None:
        _check_number("degrees", degrees, low=0.0)
        self.degrees = float(degrees)

    def get_config(self) -> dict:
        return {"degrees": self.degrees}

    def pre(self, inp, seed=None):
        """Returns a copy of `inp` with all its images rotated by one random angle."""
        angle = tf.random.stateless_uniform((), _seed(seed), -self.degrees, self.degrees) * (math.pi / 180)
        cos, sin = tf.cos(angle), tf.sin(angle)
        return _like(
            inp,
            affine_transform(
                tf.convert_to_tensor(inp),
                lambda cx, cy: [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy],
            ),
        )


class Scale(InputModifier):
    """Zooms 2D images in or out around their centre by a random factor.

    Args:
        low: The smallest zoom factor.
        high: The largest zoom factor (tf-keras-vis uses 0.9 and 1.1).

    Raises:
        ValueError: If `low` is not positive or `high` < `low`.
    """

    graph_compatible = True

    def __init__(self, low: float = 0.9, high: float = 1.1) -> None:
        _check_number("low", low, low=0.0, strict=True)
        _check_number("high", high, low=float(low))
        self.low, self.high = float(low), float(high)

    def get_config(self) -> dict:
        return {"low": self.low, "high": self.high}

    def pre(self, inp, seed=None):
        """Returns a copy of `inp` with all its images zoomed by one random factor."""
        inverse = 1.0 / tf.random.stateless_uniform((), _seed(seed), self.low, self.high + 1e-12)
        zero = tf.zeros(())
        return _like(
            inp,
            affine_transform(
                tf.convert_to_tensor(inp),
                lambda cx, cy: [inverse, zero, cx - inverse * cx, zero, inverse, cy - inverse * cy],
            ),
        )


def _seed(seed):
    if seed is None:
        return tf.constant(np.random.randint(0, 2**31 - 1, size=2), tf.int64)
    return seed


def _like(inp, result):
    """Returns `result` as numpy when `inp` was not a tensor (keras-vis modifiers took numpy)."""
    return result if tf.is_tensor(inp) else result.numpy()


def _check_number(name: str, value, low: float, strict: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"`{name}` must be a finite number {bound}. Received: {name}={value!r}")


def runs_in_graph(modifier) -> bool:
    """Whether both `pre` and `post` of `modifier` come from classes marked `graph_compatible`."""
    for name in ("pre", "post"):
        owner = next((k for k in type(modifier).__mro__ if name in vars(k)), None)
        if owner is None or not vars(owner).get("graph_compatible", False):
            return False
    return True


def accepts_seed(method) -> bool:
    """Whether a modifier's `pre`/`post` takes a `seed` keyword."""
    try:
        return "seed" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def cache_key(modifier):
    """Returns a key equal for built-in modifiers of the same class and config (else the object's id)."""
    if type(modifier) in (InputModifier, Jitter, Rotate, Scale):
        return type(modifier).__name__, tuple(sorted(modifier.get_config().items()))
    return "object", id(modifier)


_MODIFIERS = {"jitter": Jitter, "rotate": Rotate, "scale": Scale}


def get(identifier):
    """Returns an input modifier from a name (`'jitter'`, `'rotate'`, `'scale'`) or an instance.

    Args:
        identifier: A name (the modifier with default arguments) or an
            object with `pre` and `post` methods (returned as is).

    Returns:
        The input modifier.

    Raises:
        ValueError: If the name is unknown.
        TypeError: If `identifier` is neither a name nor a modifier.
    """
    if isinstance(identifier, str):
        if identifier.lower() not in _MODIFIERS:
            raise ValueError(
                f"Unknown input modifier: {identifier!r}. Valid names: {', '.join(_MODIFIERS)}. "
                f"Received: input_modifiers={identifier!r}"
            )
        return _MODIFIERS[identifier.lower()]()
    if callable(getattr(identifier, "pre", None)) and callable(getattr(identifier, "post", None)):
        return identifier
    raise TypeError(
        "Each of `input_modifiers` must be a name or an object with `pre` and `post` methods (e.g. an "
        f"`InputModifier`). Received: input_modifiers={identifier!r} of type {type(identifier).__name__}"
    )
