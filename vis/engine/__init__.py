"""The gradient engine: every visualization is a call to it.

Saliency differentiates the weighted losses with respect to the input,
grad-CAM with respect to a layer's output, and activation maximization loops
over engine calls; methods that need only forward passes (Score-CAM, the
faithfulness metrics) evaluate the same losses without a gradient.

`get_program(input_tensors, losses, wrt_tensor)` builds a `Program` once per
model and structure of losses: a `Plan` of the calls from the model's inputs
to the losses (`vis.engine.plan`, nested models inlined, bound by identity,
never by name) and its compiled functions (`vis.engine.program`, the only
module that opens a gradient tape). Programs are cached on the model's
`InputLayer` object itself (not in a module-level table), so they live and
die with the user's model.

Modules: `program` (the tape), `plan` (running a graph), `graph` (reading
one), `inference` (inference mode), `diagnostics` (errors that name the
layer at fault), `compiling` (the one `tf.function` wrapper, and when a
program runs compiled), `results` (what a program returns), `dispatch` (one
device or a `tf.distribute` strategy).
"""

from __future__ import annotations

import collections
import threading

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
from vis.engine import graph
from vis.engine.compiling import compile_method
from vis.engine.program import EngineResult, GradientPathError, Program

__all__ = [
    "EngineResult",
    "GradientPathError",
    "Program",
    "compile_method",
    "compute",
    "evaluate",
    "get_program",
]

_CACHE_ATTR = "_vis_engine_programs"
_CACHE_SIZE = 16
SERVED_SAMPLES = 128  # About one compile's worth of extra backward passes on MobileNetV2 (see `_server`).
_LOCK = threading.Lock()  # Guards only the creation of a model's cache.


def get_program(
    input_tensors: list, losses: list, wrt_tensor=None, backprop_modifier=None, also_wrt=()
) -> Program:
    """Returns the cached compiled program for these losses, building it once.

    The cache key is structural: losses with the same `cache_key()` share a
    program (for example `ActivationMaximization` on one layer, whatever the
    filters). The cache lives on the first input's `InputLayer`, bounded to a
    few programs, so nothing at module level keeps a model alive. Programs
    are built under the model's lock (threads racing on a first call share
    one; other models' calls go on meanwhile), and a
    cached program whose layers' activations were swapped in place since it
    was built is replaced by a new one. `also_wrt`
    (see `Program`) is not part of the key: it is given to a program when it
    is built and ignored when it exists.
    """
    key = (_family(input_tensors, losses, backprop_modifier), None if wrt_tensor is None else id(wrt_tensor))
    cache = _cache_of(_owner(input_tensors))
    with cache.lock:  # Built under the model's lock: threads racing on a first call share one program.
        program = cache.get(key)
        if program is not None and not program.outdated():
            cache.move_to_end(key)
            return program
        program = Program(input_tensors, losses, wrt_tensor, backprop_modifier, also_wrt)
        cache[key] = program
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return program


def _family(input_tensors: list, losses: list, backprop_modifier) -> tuple:
    """What programs computing the same losses of the same model share, whatever they differentiate."""
    return (
        tuple(id(t) for t in input_tensors),
        tuple(loss.cache_key() or ("object", id(loss)) for loss in losses),
        None if backprop_modifier is None else id(backprop_modifier),
    )


def _server(input_tensors: list, losses: list, wrt_tensor, backprop_modifier, batch: int):
    """A compiled input-gradient program of the same losses that also returns `wrt_tensor`'s gradient.

    After `visualize_saliency`, the first grad-CAM calls on the same model and
    class are served by the saliency program (which records grad-CAM's
    default layer) rather than waiting for a compile of their own. Serving
    costs the backward pass below `wrt_tensor`, so it stops after
    `SERVED_SAMPLES` samples and the call's own program takes over: like
    renting until the rent paid equals the price of buying, which bounds the
    cost to twice the best choice in hindsight.
    """
    if wrt_tensor is None:
        return None
    key = (_family(input_tensors, losses, backprop_modifier), None)
    cache = _cache_of(_owner(input_tensors))
    with cache.lock:
        program = cache.get(key)
        if (
            program is None
            or id(wrt_tensor) not in program.also
            or program.outdated()
            or not program.lazy_gradients.compiles_next()
            or program.served + batch > SERVED_SAMPLES
        ):
            return None
        program.served += batch
    return program


def _owner(input_tensors: list):
    """The first input's `InputLayer`, which holds the programs of its model (None for tensors)."""
    return graph.producer(input_tensors[0])[0] if graph.is_keras_tensor(input_tensors[0]) else None


class _Programs(collections.OrderedDict):
    """A model's cached programs, oldest first, and the lock its lookups and builds take.

    One lock per model: a thread building a program for one model does not
    hold up calls on other models.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()


def _cache_of(owner) -> _Programs:
    if owner is None:
        return _Programs()
    with _LOCK:
        cache = owner.__dict__.get(_CACHE_ATTR)
        if cache is None:
            cache = _Programs()
            owner.__dict__[_CACHE_ATTR] = cache
    return cache


def _run(
    input_tensors, losses: list, seed_inputs, wrt_tensor, backprop_modifier, gradient: bool, also_wrt=()
):
    inputs = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
    kept = [(loss, weight) for loss, weight in losses if weight]
    if not kept:
        raise ValueError(f"At least one loss needs a non-zero weight. Received: losses={losses!r}")
    seeds = list(seed_inputs) if isinstance(seed_inputs, (list, tuple)) else [seed_inputs]
    weights = [float(w) for _, w in kept]
    kept_losses = [loss for loss, _ in kept]
    if gradient:
        server = _server(inputs, kept_losses, wrt_tensor, backprop_modifier, len(seeds[0]))
        if server is not None:
            return server(seeds, kept_losses, weights, serve=wrt_tensor)
    program = get_program(inputs, kept_losses, wrt_tensor, backprop_modifier, also_wrt)
    return program(seeds, kept_losses, weights, gradient=gradient)


def compute(
    input_tensors, losses: list, seed_inputs, wrt_tensor=None, backprop_modifier=None, also_wrt=()
) -> EngineResult:
    """Evaluates weighted losses and their gradient for a batch of seed inputs.

    Args:
        input_tensors: The model's input Keras tensor, or a list of them.
        losses: A list of `(Loss, weight)` pairs; pairs with weight 0 or None are skipped.
        seed_inputs: A batch array (batch axis first), or a list of them, one per input.
        wrt_tensor: Tensor to differentiate with respect to: None for the
            input(s), or an intermediate tensor such as `layer.output`, also
            of a layer inside a nested model.
        backprop_modifier: Optional `layer -> callable or None` that swaps
            layers for the gradient computation (see `vis.backprop_modifiers`).
        also_wrt: With `wrt_tensor=None`, intermediate tensors that later
            calls may differentiate with respect to (saliency names grad-CAM's
            default layer): the program built by this call also returns their
            gradients, and serves those calls' first samples (`_server`).

    Returns:
        An `EngineResult`.

    Raises:
        ValueError: If no loss has a non-zero weight, the gradient does not
            reach `wrt_tensor`, or `also_wrt` comes with a `wrt_tensor`.
        TypeError: If `also_wrt` is not a list of Keras tensors.
    """
    also_wrt = _checked(also_wrt, wrt_tensor)
    return _run(input_tensors, losses, seed_inputs, wrt_tensor, backprop_modifier, True, also_wrt)


def _checked(also_wrt, wrt_tensor) -> tuple:
    """`also_wrt` as a tuple of Keras tensors, for gradients w.r.t. the inputs only.

    Raises:
        TypeError: For anything but a list or tuple of Keras tensors.
        ValueError: With a `wrt_tensor`.
    """
    if not isinstance(also_wrt, (list, tuple)) or not all(graph.is_keras_tensor(t) for t in also_wrt):
        raise TypeError(
            "`also_wrt` must be a list of Keras tensors such as `layer.output`. "
            f"Received: also_wrt={also_wrt!r}"[:400]
        )
    if also_wrt and wrt_tensor is not None:
        raise ValueError(
            "`also_wrt` adds gradients to a program differentiating w.r.t. the inputs; pass "
            f"`wrt_tensor=None`. Received: also_wrt={list(also_wrt)!r} with wrt_tensor={wrt_tensor!r}"[:400]
        )
    return tuple(also_wrt)


def evaluate(input_tensors, losses: list, seed_inputs, wrt_tensor=None) -> EngineResult:
    """Evaluates weighted losses (and the value of `wrt_tensor`) without a gradient.

    The forward twin of `compute`, on the same cached program: Score-CAM and
    the faithfulness metrics score many perturbed inputs with it.

    Args:
        input_tensors: The model's input Keras tensor, or a list of them.
        losses: A list of `(Loss, weight)` pairs; pairs with weight 0 or None are skipped.
        seed_inputs: A batch array (batch axis first), or a list of them, one per input.
        wrt_tensor: Optional tensor (such as `layer.output`) whose value to return.

    Returns:
        An `EngineResult` whose `grads` is None.
    """
    return _run(input_tensors, losses, seed_inputs, wrt_tensor, None, gradient=False)
