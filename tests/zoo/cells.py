"""The zoo's cells: each calls one public function of vis and compares it with a reference.

A cell takes a `Context` and returns a short detail string, or raises (an
`AssertionError` for a wrong result, anything vis raised otherwise).
"""

from __future__ import annotations

import re

import numpy as np

from tests.zoo import references as refs
from tests.zoo.context import DEEP, Context, Recorded, check_map, check_maps, messages
from vis.visualization import visualize_activation, visualize_cam, visualize_saliency

CELLS: dict = {}
DEEP_STEPS = 3
# The new warning of guided/rectified backprop on a model without plain ReLUs ("no ReLU found", ...).
NO_RELU = re.compile(r"(?is)\b(no|not|without|none)\b.*\brelu|\brelu.*\b(not found|none)\b")


def cell(name: str):
    def register(function):
        CELLS[name] = function
        return function

    return register


@cell("saliency")
def saliency(ctx: Context) -> str:
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg)
    return check_maps(got, ctx.saliency_ref()[ctx.k1], ctx)


@cell("saliency_second_call")
def saliency_second_call(ctx: Context) -> str:
    visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg)
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k2, ctx.arg)
    return check_maps(got, ctx.saliency_ref()[ctx.k2], ctx, f"class {ctx.k2} after class {ctx.k1}")


@cell("saliency_mid")
def saliency_mid(ctx: Context) -> str:
    """The saliency of a mid layer's most active filter (a nested model's output for transfer models)."""
    layer = ctx.model.get_layer(ctx.entry["mid_layer"])
    k = int(np.argmax(ctx.score(ctx.seed, layer)[0][:16]))
    expected = ctx.cached(("saliency_mid", k), lambda: refs.saliency(ctx.model, ctx.batch, layer, [k]))[k]
    got = visualize_saliency(ctx.model, layer.name, k, ctx.arg)
    return check_maps(got, [m[0] for m in expected], ctx, f"{layer.name}[{k}]")


def _modified_saliency(ctx: Context, modifier: str) -> str:
    with Recorded() as log:
        got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg, backprop_modifier=modifier)
    no_relu = [m for m in messages(log, UserWarning) if NO_RELU.search(m) and "ends in a softmax" not in m]
    if "relu" in ctx.entry["flags"]:
        if no_relu:
            raise AssertionError(f"a 'no ReLU' warning on a model with ReLUs: {no_relu[0]}")
        expected = ctx.saliency_ref(modifier)[ctx.k1]
        plain = ctx.saliency_ref()[ctx.k1]
        effect = max(float(np.abs(e - p).max()) for e, p in zip(expected, plain))
        return f"{check_maps(got, expected, ctx, modifier)}; reference differs from plain by {effect:.2f}"
    detail = check_maps(got, ctx.saliency_ref()[ctx.k1], ctx, f"{modifier} = plain (no ReLU)")
    if not no_relu:
        raise AssertionError(f"no UserWarning that the model has no ReLU for backprop_modifier='{modifier}'")
    return f"{detail}; warned: {no_relu[0][:80]}"


@cell("guided")
def guided(ctx: Context) -> str:
    return _modified_saliency(ctx, "guided")


@cell("rectified")
def rectified(ctx: Context) -> str:
    return _modified_saliency(ctx, "rectified")


def _cam_check(ctx: Context, path: str, penultimate) -> str:
    k = ctx.cam_class(path)
    expected = ctx.cam_ref(path)[k]
    got = visualize_cam(ctx.model, ctx.layer_name, k, ctx.arg, penultimate_layer_idx=penultimate)
    detail = check_map(got, expected, ctx, f"{penultimate or 'auto'} ({path}, class {k})")
    return detail if np.ptp(expected) > 0 else detail + " [reference map constant: weak check]"


@cell("grad_cam")
def grad_cam(ctx: Context) -> str:
    auto, explicit = ctx.entry["cam_auto"], ctx.entry["cam_layer"]
    if auto is None:
        try:
            visualize_cam(ctx.model, ctx.layer_name, ctx.k1, ctx.arg)
        except ValueError as error:
            if "penultimate_layer_idx" not in str(error):
                raise AssertionError(f"the error does not mention penultimate_layer_idx: {error}") from error
            details = ["auto: clear ValueError (no conv layer)"]
        else:
            raise AssertionError("no ValueError although the model has no convolution or pooling layer")
    else:
        details = [_cam_check(ctx, auto, None)]
    return "; ".join([*details, _cam_check(ctx, explicit, explicit)])


def _activation_check(ctx: Context, layer_name: str, index: int | None) -> str:
    """Ten steps (three on deep networks) from a low-contrast seed equal keras-vis's optimizer by hand.

    On a deep network the loop is chaotic: two correct implementations whose
    gradients differ by 1e-5 (an order of summation) take steps that differ
    by whole pixels after 3 or 4 steps, so there the comparison is after
    `DEEP_STEPS` steps. `index` None picks the filter most active at the seed. For a
    multi-input model (no reference yet) the property is checked instead: the
    activation at the result is higher than at the seed put through the same
    `deprocess_input` vis applies to its result.
    """
    low, high = ctx.entry["input_range"]
    rng = np.random.default_rng(3)  # Noise around the middle of the range, as vis's own default seed.
    seed = [rng.normal((low + high) / 2, 0.05 * (high - low), s.shape).astype(s.dtype) for s in ctx.seed]
    start = [refs.deprocess(s, (low, high)) for s in seed]
    layer = ctx.model.get_layer(layer_name)
    scores = ctx.score(start, layer)[0]
    index = int(np.argmax(scores[:16])) if index is None else index
    arg = seed[0] if ctx.single else seed
    steps = DEEP_STEPS if ctx.entry["layers"] > DEEP else 10
    got = visualize_activation(
        ctx.model, layer_name, index, seed_input=arg, max_iter=steps, input_range=(low, high)
    )
    got = [got] if ctx.single else got
    if not isinstance(got, (list, tuple)) or len(got) != len(seed):
        raise AssertionError(
            f"expected {len(seed)} optimized inputs (one per input), got {type(got).__name__}"
        )
    for g, s in zip(got, seed):
        g = np.asarray(g)
        if g.shape != s.shape or not np.all(np.isfinite(g)):
            raise AssertionError(
                f"result of shape {g.shape} (finite: {np.all(np.isfinite(g))}), seed {s.shape}"
            )
    before, after = float(scores[index]), float(ctx.score(got, layer)[0][index])
    change = f"{layer_name}[{index}]: {before:.4g} -> {after:.4g}"
    if not ctx.single:
        if not after > before:
            raise AssertionError(f"activation did not rise: {change}")
        return change
    expected = refs.activation_maximization(
        ctx.model, [s[None] for s in seed], layer, index, (low, high), steps, compiled=steps == DEEP_STEPS
    )
    unit = (np.asarray(got[0], "float64") - low) / (high - low)
    return f"{check_map(unit, (expected[0][0] - low) / (high - low), ctx, 'optimized input')}; {change}"


@cell("activation_output")
def activation_output(ctx: Context) -> str:
    if "integer" in ctx.entry["flags"]:
        try:
            visualize_activation(
                ctx.model, ctx.layer_name, ctx.k1, seed_input=ctx.arg, max_iter=10, input_range=(0.0, 1.0)
            )
        except ValueError as error:
            message = str(error)
            if "wrt_tensor" not in message or ctx.entry["embedding"] not in message:
                raise AssertionError(
                    f"the error does not say to pass wrt_tensor=<embedding>.output: {message}"
                ) from error
            return f"clear ValueError: {message[:100]}"
        raise AssertionError("no ValueError for activation maximization on integer inputs")
    return _activation_check(ctx, ctx.layer_name, ctx.k1)


@cell("activation_mid")
def activation_mid(ctx: Context) -> str:
    return _activation_check(ctx, ctx.entry["mid_layer"], None)


@cell("text_wrt_embedding")
def text_wrt_embedding(ctx: Context) -> str:
    embedding = ctx.model.get_layer(ctx.entry["embedding"])
    expected = ctx.cached(
        "embedding",
        lambda: refs.embedding_saliency(ctx.model, ctx.batch[0], ctx.layer, [ctx.k1], embedding),
    )[ctx.k1][0]
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg, wrt_tensor=embedding.output)
    return check_map(got, expected, ctx, "wrt embedding")
