"""Zoo cells for the attribution methods of issue 13, each against a hand-written reference.

SmoothGrad without noise equals plain saliency (the batched noisy-copy path
on a loaded model); Integrated Gradients' raw attributions equal the midpoint
rule on the reference tape; grad-CAM++, LayerCAM, Score-CAM (Faster, a few
channels) and guided grad-CAM equal their paper formulas on the reference's
gradients and feature maps. A model with an integer input gets Score-CAM's
clear error instead.
"""

from __future__ import annotations

import numpy as np

from tests.zoo import references as refs
from tests.zoo import references_methods as methods_refs
from tests.zoo.cells import cell
from tests.zoo.context import Context, Recorded, check_map, check_maps
from vis.visualization import (
    integrated_gradients,
    visualize_cam_plus_plus,
    visualize_guided_cam,
    visualize_layer_cam,
    visualize_saliency,
    visualize_score_cam,
)

IG_STEPS = 4
SCORE_CAM_CHANNELS = 3


def _checked(got, expected, ctx: Context, what: str) -> str:
    """`check_map`, noting when the reference is constant (all zeros: a weak check)."""
    detail = check_map(got, expected, ctx, what)
    return detail if np.ptp(expected) > 0 else detail + " [reference map constant: weak check]"


@cell("smoothgrad")
def smoothgrad(ctx: Context) -> str:
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg, smooth_samples=3, smooth_noise=0.0)
    return check_maps(got, ctx.saliency_ref()[ctx.k1], ctx, "3 copies without noise = saliency")


@cell("integrated_gradients")
def integrated_gradients_cell(ctx: Context) -> str:
    seed = ctx.seed[0]
    expected = ctx.cached(
        ("ig", ctx.k1),
        lambda: methods_refs.integrated_gradients(ctx.model, seed, ctx.layer, ctx.k1, IG_STEPS),
    )
    got = np.asarray(integrated_gradients(ctx.model, ctx.layer_name, ctx.k1, seed, steps=IG_STEPS), "float64")
    scale = float(np.abs(expected).max()) or 1.0  # Raw attributions: compared relative to their size.
    return check_map(got / scale, expected / scale, ctx, f"raw attributions / {scale:.2g}")


def _cam_setting(ctx: Context) -> tuple:
    """`(penultimate argument, reference layer, class, (dS/dA, A))` for the model's CAM layer."""
    path = ctx.entry["cam_auto"] or ctx.entry["cam_layer"]
    k = ctx.cam_class(path)
    penultimate = refs.find(ctx.model, path)
    inputs = ctx.cached(
        ("cam_inputs", path, k),
        lambda: methods_refs.cam_inputs(ctx.model, ctx.batch, ctx.layer, k, penultimate),
    )
    return (None if ctx.entry["cam_auto"] else path), path, k, inputs


@cell("cam_family")
def cam_family(ctx: Context) -> str:
    argument, path, k, (grad, value) = _cam_setting(ctx)
    details = []
    for name, function, reference in [
        ("grad-CAM++", visualize_cam_plus_plus, methods_refs.grad_cam_plus_plus),
        ("LayerCAM", visualize_layer_cam, methods_refs.layer_cam),
    ]:
        expected = reference(grad, value, ctx.spatial())[0]
        got = function(ctx.model, ctx.layer_name, k, ctx.arg, penultimate_layer_idx=argument)
        details.append(_checked(got, expected, ctx, f"{name} ({path}, class {k})"))
    return "; ".join(details)


@cell("score_cam")
def score_cam(ctx: Context) -> str:
    argument, path, k, (_, value) = _cam_setting(ctx)
    if "integer" in ctx.entry["flags"]:
        try:
            visualize_score_cam(
                ctx.model, ctx.layer_name, k, ctx.arg, penultimate_layer_idx=argument, max_n=1
            )
        except ValueError as error:
            if "cannot be scaled" not in str(error):
                raise AssertionError(f"not Score-CAM's integer-input error: {error}") from error
            return "integer input: clear ValueError"
        raise AssertionError("no ValueError for Score-CAM on an integer input")
    n = min(SCORE_CAM_CHANNELS, value.shape[-1])
    expected = ctx.cached(
        ("score_cam", path, k),
        lambda: methods_refs.score_cam(ctx.model, ctx.seed[0], ctx.layer, k, value, ctx.spatial(), n),
    )[0]
    # The reference scores raw (`score_activation=None`); tests/test_score_cam_paper.py checks "auto".
    got = visualize_score_cam(
        ctx.model, ctx.layer_name, k, ctx.arg, penultimate_layer_idx=argument, max_n=n, score_activation=None
    )
    return _checked(got, expected, ctx, f"Score-CAM, {n} of {value.shape[-1]} channels ({path}, class {k})")


@cell("guided_cam")
def guided_cam(ctx: Context) -> str:
    argument, path, k, _ = _cam_setting(ctx)
    guided = ctx.cached(
        ("saliency", "guided", k), lambda: refs.saliency(ctx.model, ctx.batch, ctx.layer, [k], "guided")
    )[k][0][0]
    expected = refs.normalize((guided * ctx.cam_ref(path)[k])[None])[0]
    with Recorded():  # The no-ReLU and softmax warnings are the saliency cells' business.
        got = visualize_guided_cam(
            ctx.model, ctx.layer_name, k, ctx.arg, penultimate_layer_idx=argument, backprop_modifier="guided"
        )
    return _checked(got, expected, ctx, f"guided saliency x grad-CAM ({path}, class {k})")
