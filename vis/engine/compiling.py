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

try:  # The per-thread options a function call runs with; TensorFlow has no public handle on them.
    from tensorflow.python.eager import context as _tf_context

    _CONTEXT_OK = hasattr(_tf_context, "FunctionCallOptions") and hasattr(
        _tf_context.Context, "function_call_options"
    )
except ImportError:  # pragma: no cover - another TensorFlow layout: calls keep the default options.
    _CONTEXT_OK = False

_GUARD = {"warned": False}
_MOVED = (
    "vis: TensorFlow's per-call function options (`tensorflow.python.eager.context`) are not where vis "
    "expects them; compiled calls run with TensorFlow's default Grappler options (correct; the first "
    "compiled call is slower)."
)


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


def compile_method(method, input_signature=None) -> Compiled:
    """Compiles a bound method with `tf.function`: retracing reduced, no autograph, lean Grappler.

    No autograph: no Python control flow depends on tensors in vis's compiled
    code, and autograph would write its converted code to temporary files.
    """
    function = tf.function(
        _Traced(method), input_signature=input_signature, reduce_retracing=True, autograph=False
    )
    return Compiled(function)


class Compiled:
    """A `tf.function` whose calls run with `lean_options()`; other attributes are the function's."""

    def __init__(self, function) -> None:
        self.function = function

    def __call__(self, *args):
        lean = _lean_or_none()
        if lean is None:
            return self.function(*args)
        context = _tf_context.context()
        default = context.function_call_options
        try:
            context.function_call_options = lean(default)
            return self.function(*args)
        finally:
            context.function_call_options = default

    def __getattr__(self, name: str):
        return getattr(self.function, name)


def _lean_or_none():
    """`lean_options` while TensorFlow's layout is the one vis knows; None (warned once) otherwise."""
    if _CONTEXT_OK:
        return lean_options
    if not _GUARD["warned"]:
        _GUARD["warned"] = True
        warnings.warn(_MOVED, RuntimeWarning, stacklevel=3)
    return None


_LEAN: dict = {}  # serialized default config -> its lean FunctionCallOptions


def lean_options(default):
    """The function-call options `default` with the Grappler passes that only cost time turned off.

    TensorFlow optimises a function's graph (Grappler) at its first call: on
    MobileNetV2's saliency graph, 0.23-0.34 s of the 0.38 s that call takes
    beyond a warm one. Its second round of passes, the memory optimiser, the
    MLIR (TFG) passes and, without a GPU, the layout optimiser change nothing
    in these graphs; without them Grappler takes 0.09 s, and the passes that
    make the warm calls fast (remapping, constant folding, arithmetic) still
    run. Only options left at their default are changed: a user's own choice
    (`tf.config.optimizer.set_experimental_options`) stands. The options are
    made once per default and shared, so every call of a function, from any
    thread, finds the function optimised under the same options.
    """
    key = default.config_proto_serialized
    lean = _LEAN.get(key)
    if lean is None:
        config = tf.compat.v1.ConfigProto.FromString(key)
        rewrite = config.graph_options.rewrite_options
        options = type(rewrite)  # RewriterConfig: its enums are class attributes.
        if rewrite.meta_optimizer_iterations == options.DEFAULT_NUM_ITERS:
            rewrite.meta_optimizer_iterations = options.ONE
        if rewrite.memory_optimization == options.DEFAULT_MEM_OPT:
            rewrite.memory_optimization = options.NO_MEM_OPT
        rewrite.disable_tfg_optimizer = True
        if rewrite.layout_optimizer == options.DEFAULT and not tf.config.list_logical_devices("GPU"):
            rewrite.layout_optimizer = options.OFF
        lean = _tf_context.FunctionCallOptions(executor_type=default.executor_type, config_proto=config)
        _LEAN[key] = lean
    return lean


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
        calls: How many calls ran eagerly under the `'auto'` policy.
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
        interrupted = False
        try:
            return self.compiled(*args)
        except KeyboardInterrupt:
            interrupted = True
        except Exception as error:  # noqa: BLE001 - the eager method tells a compile fault from the call's
            result = self.method(*args)  # Raises the call's own error, if it is the call's.
            self._give_up(error)
            return result
        if interrupted:  # Raised afresh, out of the handler: it keeps no frame of the interrupted trace.
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
