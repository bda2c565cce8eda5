"""Compiling vis's traced code with `tf.function`, and when to run it compiled."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

try:  # The per-thread options a function call runs with; TensorFlow has no public handle on them.
    from tensorflow.python.eager import context as _tf_context

    _CONTEXT_OK = hasattr(_tf_context, "FunctionCallOptions") and hasattr(
        _tf_context.Context, "function_call_options"
    )
except ImportError:  # pragma: no cover - another TensorFlow layout: calls keep the default options.
    _CONTEXT_OK = False


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
        if not _CONTEXT_OK:
            return self.function(*args)
        context = _tf_context.context()
        default = context.function_call_options
        context.function_call_options = lean_options(default)
        try:
            return self.function(*args)
        finally:
            context.function_call_options = default

    def __getattr__(self, name: str):
        return getattr(self.function, name)


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
        config = config_pb2.ConfigProto.FromString(key)
        rewrite, options = config.graph_options.rewrite_options, rewriter_config_pb2.RewriterConfig
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
    """A method whose first call runs eagerly while its compiled twin is made in the background.

    The first call runs the method eagerly — the same code the compiled
    function traces, so both give the same results — and, once it has
    answered, starts a thread that traces the `tf.function` and runs it once
    (TensorFlow optimises a graph on its first run). A later call waits for
    that thread and runs compiled. Why wait rather than answer eagerly too:
    tracing and eager calls both run Python under one interpreter lock, so an
    eager call made while the compile runs is slower than alone and delays the
    compile; measured on MobileNetV2, a loop of maps took twice as long that
    way. One map thus costs what a hand-written eager gradient tape costs, a
    loop of maps what the compiled floor costs, plus one eager call.

    `vis.engine.compiling.policy(...)` (a context manager) changes this for
    the calls inside it: `'compiled'` compiles at the first call, `'eager'`
    never compiles. The command line uses `'eager'` when it has one batch to
    draw, so that it does not wait at exit for a compile it will not use.

    Args:
        method: The traceable method (tensors in, tensors out).
        input_signature: Its `tf.TensorSpec` signature.

    Attributes:
        compiled: The `tf.function`; `experimental_get_tracing_count()` counts its traces.
    """

    def __init__(self, method, input_signature) -> None:
        self.method = method
        self.compiled = compile_method(method, input_signature)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        """Whether calls now run compiled."""
        return self._ready.is_set()

    @property
    def started(self) -> bool:
        """Whether the compiled function has been made, or is being made."""
        return self._thread is not None or self.compiled.experimental_get_tracing_count() > 0

    def __call__(self, *args):
        if self._ready.is_set() or _POLICY[-1] == "compiled":
            return self.compiled(*args)
        if _POLICY[-1] == "eager":
            return self.method(*args)
        if self._thread is not None:
            self.wait()
            return self.compiled(*args) if self._ready.is_set() else self.method(*args)
        result = self.method(*args)
        self._start(args)
        return result

    def _start(self, args) -> None:
        with self._lock:
            if self._thread is not None:
                return
            # Not a daemon: Python waits for it at exit rather than killing it inside TensorFlow.
            self._thread = threading.Thread(target=self._compile, args=(args,), name="vis-compile")
            self._thread.start()

    def _compile(self, args) -> None:
        try:
            self.compiled(*args)
        except Exception:  # noqa: BLE001 - the eager path reports errors; it simply stays in use
            return
        self._ready.set()

    def wait(self) -> None:
        """Blocks until a compilation that has started is done."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def experimental_get_tracing_count(self) -> int:
        return self.compiled.experimental_get_tracing_count()


_POLICIES = ("auto", "compiled", "eager")
_POLICY = ["auto"]


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Within the block, programs run `'auto'` (eager first, compiled in the background, the
    default), `'compiled'` (compiled at the first call) or `'eager'` (never compiled).

    Raises:
        ValueError: For another name.
    """
    if name not in _POLICIES:
        raise ValueError(f"`policy` must be one of {_POLICIES}. Received: policy={name!r}")
    _POLICY.append(name)
    try:
        yield
    finally:
        _POLICY.pop()
