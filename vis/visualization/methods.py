"""The registry of map methods: every public map function by name (for metrics, streaming and the CLI).

A method is a function `(model, layer_idx, filter_indices, seed_input, **kwargs) -> maps` that returns one
map per seed in [0, 1]. `get(identifier)` takes a registered name (`'saliency'`, `'guided'`, `'gradcam'`,
...) or any such callable, and returns a `Method`: the function with the keywords its name fixes (a
`'guided'` method is `visualize_saliency` with `backprop_modifier='guided'`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Method:
    """A map function and the keywords its registered name fixes.

    Attributes:
        name: The registered name (or the callable's `__name__`).
        function: `(model, layer_idx, filter_indices, seed_input, **kwargs) -> maps`.
        fixed: Keywords always passed (a user keyword of the same name wins).
        kind: `'gradient'`, `'cam'` or `'forward'`, how the method uses the model.
        per_sample: Whether `filter_indices` may be `vis.losses.PerSample`
            indices (one class per seed, in one call).
    """

    name: str
    function: Callable
    fixed: dict = field(default_factory=dict)
    kind: str = "gradient"
    per_sample: bool = False

    def __call__(self, model, layer_idx, filter_indices, seed_input, **kwargs):
        return self.function(model, layer_idx, filter_indices, seed_input, **{**self.fixed, **kwargs})


_REGISTRY: dict[str, Method] = {}


def register(
    name: str, function: Callable, kind: str = "gradient", per_sample: bool = False, **fixed
) -> Method:
    """Registers `function` under `name` (with keywords `fixed`), replacing any method of that name.

    Returns:
        The registered `Method`.
    """
    method = Method(name, function, dict(fixed), kind, per_sample)
    _REGISTRY[name] = method
    return method


def names() -> list[str]:
    """The registered method names, in registration order."""
    return list(_REGISTRY)


def get(identifier) -> Method:
    """Returns a method by registered name, or wraps a map function.

    Args:
        identifier: A registered name, a `Method`, or a callable
            `(model, layer_idx, filter_indices, seed_input, **kwargs) -> maps`.

    Raises:
        ValueError: For an unknown name (the message lists the registered ones).
        TypeError: For anything else.
    """
    if isinstance(identifier, Method):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            valid = ", ".join(repr(n) for n in _REGISTRY)
            raise ValueError(
                f"Unknown method: {identifier!r}. Valid names: {valid}. Received: method={identifier!r}"
            )
        return _REGISTRY[identifier]
    if callable(identifier):
        return Method(getattr(identifier, "__name__", type(identifier).__name__), identifier)
    raise TypeError(
        "`method` must be a method name, such as 'saliency' or 'gradcam', or a map function "
        f"`(model, layer_idx, filter_indices, seed_input, **kwargs)`. Received: method={identifier!r}"
    )
