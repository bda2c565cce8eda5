"""Compiling vis's traced code with `tf.function`, and when to run it compiled.

A program's first call runs eagerly; its second call compiles it, in the
calling thread, and runs compiled from then on (`Lazy`). There is no
background thread: a script that draws one map never compiles and exits at
once, a loop over many models (one call each) runs at the eager cost, and
every trace is made in the caller's own context (its `tf.distribute`
strategy and device scope), so it is traced once per program and scope.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator

import tensorflow as tf


class _Traced:
    """Calls `method`; a distinct object per compiled function, so TensorFlow counts its traces apart.

    TensorFlow counts traces per function code object, and a bound method
    shares one across instances: after five programs, each traced once, it
    would warn "5 out of the last 5 calls ... triggered retracing".
    """

    def __init__(self, method) -> None:
        self.method = method

    def __call__(self, *args):
        return self.method(*args)


def compile_method(method, input_signature=None):
    """Compiles a bound method with `tf.function`: retracing reduced, no autograph.

    No autograph: no Python control flow depends on tensors in vis's compiled
    code, and autograph would write its converted code to temporary files.
    """
    return tf.function(
        _Traced(method), input_signature=input_signature, reduce_retracing=True, autograph=False
    )


class Lazy:
    """A method that runs eagerly at its first call and compiled from its second call on.

    One map costs what a hand-written eager gradient tape costs and compiles
    nothing; a loop of maps costs one eager call, one compile and then the
    compiled floor. The compile happens in the calling thread, inside the
    call that needs it: no thread, nothing to wait for at exit, and the trace
    sees the caller's strategy and device scope. Threads calling at once
    share one trace (`tf.function` traces under its own lock).

    A compile that fails where the eager method succeeds is reported once (a
    `RuntimeWarning` naming the program) and the method runs eagerly from then
    on; when both fail, the eager method's error is raised, as it would be at
    a first call.

    `vis.engine.compiling.policy(...)` (a context manager, per thread and
    context) changes this for the calls inside it: `'compiled'` compiles at
    the first call, `'eager'` never compiles.

    Args:
        method: The traceable method (tensors in, tensors out).
        input_signature: Its `tf.TensorSpec` signature.
        name: What the warning calls the program.

    Attributes:
        compiled: The `tf.function`; `experimental_get_tracing_count()` counts its traces.
        calls: How many calls ran eagerly (under the `'auto'` or `'eager'` policy).
        failed: The error of a compile that failed, or None.
    """

    def __init__(self, method, input_signature, name: str = "a vis program") -> None:
        self.method = method
        self.name = name
        self.compiled = compile_method(method, input_signature)
        self.calls = 0
        self.failed: Exception | None = None

    @property
    def ready(self) -> bool:
        """Whether the compiled function has been traced (and calls run compiled)."""
        return self.failed is None and self.compiled.experimental_get_tracing_count() > 0

    def compiles_next(self) -> bool:
        """Whether the next call, under the current policy, runs compiled."""
        if self.failed is not None or _POLICY.get() == "eager":
            return False
        return _POLICY.get() == "compiled" or self.calls > 0 or self.ready

    def __call__(self, *args):
        if not self.compiles_next():
            if self.failed is None:
                self.calls += 1
            return self.method(*args)
        try:
            return self.compiled(*args)
        except KeyboardInterrupt:
            pass  # Re-raised below, out of the handler: it keeps no frame of the interrupted trace.
        except Exception as error:  # noqa: BLE001 - the eager method tells a compile fault from the call's
            result = self.method(*args)  # Raises the call's own error, if it is the call's.
            self._give_up(error)
            return result
        raise KeyboardInterrupt

    def _give_up(self, error: Exception) -> None:
        self.failed = error
        warnings.warn(
            f"vis could not compile {self.name} ({type(error).__name__}: {str(error)[:300]}); "
            "it runs eagerly from now on (same results, slower).",
            RuntimeWarning,
            stacklevel=5,
        )

    def experimental_get_tracing_count(self) -> int:
        return self.compiled.experimental_get_tracing_count()


_POLICIES = ("auto", "compiled", "eager")
_POLICY: contextvars.ContextVar[str] = contextvars.ContextVar("vis_compile_policy", default="auto")


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Within the block, programs run `'auto'` (eager at their first call, compiled from their
    second, the default), `'compiled'` (compiled at the first call) or `'eager'` (never compiled).

    The policy belongs to the thread (and `contextvars` context) that sets it:
    another thread's calls keep their own.

    Raises:
        ValueError: For another name.
    """
    if name not in _POLICIES:
        raise ValueError(f"`policy` must be one of {_POLICIES}. Received: policy={name!r}")
    token = _POLICY.set(name)
    try:
        yield
    finally:
        _POLICY.reset(token)
