"""Gradient modifiers: functions applied to computed gradients.

Each takes a numpy array of gradients and returns a new array of the same
shape; the array passed in is never modified. They are chosen by name
(`grad_modifier='absolute'`) or given as any callable with that contract.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np


def negate(grads: np.ndarray) -> np.ndarray:
    """Negates the gradients.

    Args:
        grads: A numpy array of gradients.

    Returns:
        A new array with `-grads`.
    """
    return np.negative(np.asarray(grads))


def absolute(grads: np.ndarray) -> np.ndarray:
    """Takes the absolute value of the gradients.

    Args:
        grads: A numpy array of gradients.

    Returns:
        A new array with `|grads|`.
    """
    return np.abs(np.asarray(grads))


def invert(grads: np.ndarray) -> np.ndarray:
    """Inverts the gradients, so that small values become large.

    Args:
        grads: A numpy array of gradients.

    Returns:
        A new array with `1 / (grads + epsilon)`, where epsilon is
        `keras.config.epsilon()` (1e-7 by default), as in keras-vis.
    """
    grads = np.asarray(grads)
    return 1.0 / (grads + keras.config.epsilon())


def relu(grads: np.ndarray) -> np.ndarray:
    """Sets the negative gradients to 0.

    Args:
        grads: A numpy array of gradients.

    Returns:
        A new array equal to `grads` with its negative values replaced by 0.
    """
    result = np.array(grads, copy=True)
    result[result < 0] = 0
    return result


def small_values(grads: np.ndarray) -> np.ndarray:
    """Highlights small gradient values: `absolute(invert(grads))`.

    Args:
        grads: A numpy array of gradients.

    Returns:
        A new array with `|1 / (grads + epsilon)|`.
    """
    return absolute(invert(grads))


_GRAD_MODIFIERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "negate": negate,
    "absolute": absolute,
    "invert": invert,
    "relu": relu,
    "small_values": small_values,
}


def get(identifier: str | Callable | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """Returns the grad modifier for `identifier`.

    Args:
        identifier: The name of a grad modifier in this module (e.g.
            `"absolute"`), a callable taking and returning a numpy array
            (returned as is), or None for no modification.

    Returns:
        The grad modifier function, or None when `identifier` is None.

    Raises:
        ValueError: If `identifier` is an unknown name.
        TypeError: If `identifier` is neither a string, a callable nor None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        try:
            return _GRAD_MODIFIERS[identifier]
        except KeyError:
            valid = ", ".join(repr(name) for name in _GRAD_MODIFIERS)
            raise ValueError(
                f"Unknown grad_modifier: {identifier!r}. Valid names: {valid}. "
                f"Received: grad_modifier={identifier!r}"
            ) from None
    if callable(identifier):
        return identifier
    raise TypeError(
        "`grad_modifier` must be a name, a callable or None. "
        f"Received: grad_modifier={identifier!r} of type {type(identifier).__name__}"
    )
