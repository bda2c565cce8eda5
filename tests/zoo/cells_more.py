"""More zoo cells: custom losses, the keras-vis 0.2-0.4 API, apply_modifications, multi-input, batches."""

from __future__ import annotations

import keras
import numpy as np

from tests.zoo import references as refs
from tests.zoo.cells import cell
from tests.zoo.context import Context, Recorded, check_map, check_maps, messages
from vis.losses import Loss
from vis.utils import utils
from vis.visualization import (
    visualize_cam,
    visualize_class_cam,
    visualize_class_saliency,
    visualize_saliency,
    visualize_saliency_with_losses,
)


class KerasVisStyleLoss(Loss):
    """A custom loss as keras-vis's docs write one: sets `name`, stores a tensor, no `super().__init__()`."""

    def __init__(self, layer, index):
        self.name = "KerasVisStyleLoss"
        self.output = layer.output
        self.index = index

    def build_loss(self):
        return -keras.ops.mean(self.output[..., self.index])


@cell("custom_loss")
def custom_loss(ctx: Context) -> str:
    loss = KerasVisStyleLoss(ctx.layer, ctx.k1)
    if "integer" in ctx.entry["flags"]:
        embedding = ctx.model.get_layer(ctx.entry["embedding"])
        expected = ctx.cached(
            "embedding",
            lambda: refs.embedding_saliency(ctx.model, ctx.batch[0], ctx.layer, [ctx.k1], embedding),
        )[ctx.k1][0]
        got = visualize_saliency_with_losses(
            ctx.model.inputs[0], [(loss, 1)], ctx.arg, wrt_tensor=embedding.output
        )
        return check_map(got, expected, ctx, "custom loss wrt embedding")
    got = visualize_saliency_with_losses(ctx.model.inputs[0], [(loss, 1)], ctx.arg)
    return check_map(got, ctx.saliency_ref()[ctx.k1][0], ctx, "custom loss")


@cell("legacy_api")
def legacy_api(ctx: Context) -> str:
    with Recorded() as log:
        heat = visualize_class_saliency(ctx.model, ctx.layer_name, [ctx.k1], ctx.arg)
    if not messages(log, DeprecationWarning):
        raise AssertionError("visualize_class_saliency gave no DeprecationWarning")
    modern = visualize_saliency(ctx.model, ctx.layer_name, [ctx.k1], ctx.arg)
    details = [check_map(modern, ctx.saliency_ref()[ctx.k1][0], ctx, "saliency")]
    np.testing.assert_array_equal(
        heat, utils.colorize(modern), "visualize_class_saliency != colorize(saliency)"
    )
    path = ctx.entry["cam_auto"] or ctx.entry["cam_layer"]
    penultimate = None if ctx.entry["cam_auto"] else path
    k = ctx.cam_class(path)
    with Recorded():
        heat = visualize_class_cam(ctx.model, ctx.layer_name, [k], ctx.arg, penultimate_layer_idx=penultimate)
    modern = visualize_cam(ctx.model, ctx.layer_name, [k], ctx.arg, penultimate_layer_idx=penultimate)
    details.append(check_map(modern, ctx.cam_ref(path)[k], ctx, "cam"))
    np.testing.assert_array_equal(heat, utils.colorize(modern), "visualize_class_cam != colorize(cam)")
    return "; ".join(details) + "; both equal colorize(modern map)"


def _output(model, x, index: int) -> np.ndarray:
    out = model(x if len(x) > 1 else x[0], training=False)
    out = out[index] if isinstance(out, (list, tuple)) else out
    return keras.ops.convert_to_numpy(out).astype("float64")


@cell("apply_modifications")
def apply_modifications(ctx: Context) -> str:
    layer = ctx.model.get_layer(ctx.entry["softmax_layer"])
    index, x = ctx.entry["softmax_output"], ctx.batch
    before = _output(ctx.model, x, index)
    had, old = "activation" in layer.__dict__, layer.__dict__.get("activation")
    layer.activation = keras.activations.linear
    try:
        modified = utils.apply_modifications(ctx.model)
    finally:  # Put the user's model back as it was: only the returned model is checked.
        if had:
            layer.activation = old
        else:
            del layer.activation
    np.testing.assert_allclose(
        _output(ctx.model, x, index), before, atol=1e-6, err_msg="the original model's predictions changed"
    )
    logits = _output(modified, x, index)
    if np.allclose(logits, before, atol=1e-6):
        raise AssertionError(
            "the modified model still outputs probabilities: the linear activation was ignored"
        )
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    np.testing.assert_allclose(
        probabilities, before, atol=1e-4 if ctx.mixed else 1e-5, err_msg="softmax(modified(x)) != model(x)"
    )
    return f"softmax(modified(x)) == model(x), logits range {np.ptp(logits):.3g}"


@cell("augmentation_deterministic")
def augmentation_deterministic(ctx: Context) -> str:
    first = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg)
    second = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg)
    np.testing.assert_array_equal(first, second, "two saliency calls differ (random layers applied)")
    path = ctx.entry["cam_auto"]
    cams = [visualize_cam(ctx.model, ctx.layer_name, ctx.k1, ctx.arg) for _ in range(2)]
    np.testing.assert_array_equal(cams[0], cams[1], "two grad-CAM calls differ (random layers applied)")
    saliency = check_map(first, ctx.saliency_ref()[ctx.k1][0], ctx, "saliency")
    return f"{saliency}; {check_map(cams[0], ctx.cam_ref(path)[ctx.k1], ctx, 'grad-CAM')}"


@cell("multi_input_dict")
def multi_input_dict(ctx: Context) -> str:
    names = [spec["name"] for spec in ctx.entry["inputs"]]
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, dict(zip(names, ctx.seed)))
    if not isinstance(got, dict) or sorted(got) != sorted(names):
        raise AssertionError(f"expected a dict of maps keyed {names}, got {type(got).__name__}")
    expected = ctx.saliency_ref()[ctx.k1]
    return "; ".join(check_map(got[n], e, ctx, n) for n, e in zip(names, expected))


@cell("multi_input_wrt")
def multi_input_wrt(ctx: Context) -> str:
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg, wrt_tensor=ctx.model.inputs[1])
    return check_map(got, ctx.saliency_ref()[ctx.k1][1], ctx, "wrt inputs[1]")


@cell("batch_axis_one")
def batch_axis_one(ctx: Context) -> str:
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg[None])
    plain = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg)
    detail = check_map(got, ctx.saliency_ref()[ctx.k1][0], ctx, "x[None]")
    return f"{detail}; {check_map(got, plain, ctx, 'x[None] vs x')}"


@cell("batch_of_three")
def batch_of_three(ctx: Context) -> str:
    seeds = ctx.seeds(seed=1, batch=3)
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, seeds[0])
    expected = ctx.cached(("batch3",), lambda: refs.saliency(ctx.model, seeds, ctx.layer, [ctx.k1]))[ctx.k1][
        0
    ]
    detail = check_map(np.asarray(got), expected, ctx, "batch of 3")
    single = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, seeds[0][2])
    return f"{detail}; {check_map(np.asarray(got)[2], single, ctx, 'sample 2 vs its single-seed map')}"


@cell("keep_batch_axis")
def keep_batch_axis(ctx: Context) -> str:
    got = visualize_saliency(ctx.model, ctx.layer_name, ctx.k1, ctx.arg, keep_batch_axis=True)
    return check_maps(got, [ctx.saliency_ref()[ctx.k1][0][None]], ctx, "keep_batch_axis=True")
