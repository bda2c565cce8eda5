"""The deprecation warnings of tf-keras-vis 0.8.7's deprecated classes and modules.

tf-keras-vis marks classes with the `deprecated` package; this class
decorator warns the same way (a `DeprecationWarning` at each instantiation,
"Call to deprecated class NAME. (REASON) -- Deprecated since version V.")
without the dependency.
"""

from __future__ import annotations

import functools
import warnings


def deprecated_class(version: str, reason: str | None = None):
    """Returns a class decorator whose class warns `DeprecationWarning` when instantiated.

    Args:
        version: The tf-keras-vis version that deprecated the class.
        reason: What to use instead, or None.

    Returns:
        The decorator (it returns the class itself, its `__init__` wrapped).
    """

    def decorate(cls):
        message = f"Call to deprecated class {cls.__name__}."
        message += f" ({reason})" if reason else ""
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
    """Warns, as tf-keras-vis does on importing a deprecated module, that `old` moved to `new`.

    Args:
        old: The deprecated module, relative to `vis.compat.tf_keras_vis`.
        new: The module to use instead, relative to `vis.compat.tf_keras_vis`.
    """
    package = "vis.compat.tf_keras_vis."
    message = f"`{package}{old}` module is deprecated. Please use `{package}{new}` instead."
    warnings.warn(message, DeprecationWarning, stacklevel=2)
