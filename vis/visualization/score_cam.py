"""Score-CAM (Wang et al. 2020) and Faster Score-CAM: CAM weights from forward passes only.

Each feature map `A_k` of the penultimate layer, upsampled to the input's
spatial size and min-max normalised to [0, 1], masks the seed; the weight of
channel `k` is the score of the masked seed, `S(x * mask_k)`: as in the paper,
the chosen classes' probability. `score_activation` (`vis.visualization.
score_activation`) says how: by default the logits of a linear classifier head
(the keras-vis workflow swaps softmax for linear) go through a softmax over
its units, and any other layer is scored by the chosen filters' mean
activation, as the gradient methods score it.
The map is then the CAM family's `relu(sum_k w_k A_k)`, resized and normalised
(`vis.visualization.cam_weighting`).

The masked seeds are made by TensorFlow and go through the compiled forward
function of the engine (`vis.engine.evaluate`) `batch_size` at a time, each
batch made just before it is scored (`vis.visualization.score_masks`, the
loop the tf-keras-vis compat `Scorecam` shares): memory holds one batch,
never all `channels x seeds` masked images (tf-keras-vis builds all of them,
about 1.2 GB for one 224x224 image and 2,048 channels). `max_n` keeps, per
seed, only the channels of largest spatial variance (Faster Score-CAM); the
others get weight 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vis import engine
from vis.utils.layers import get_layer
from vis.visualization import common
from vis.visualization.cam_weighting import finish, weighted_maps
from vis.visualization.feature_maps import (
    InputGrid,
    channels_last,
    feature_channel_axis,
    find_penultimate_layer,
    output_of,
)
from vis.visualization.score_activation import check_score_activation, score_loss
from vis.visualization.score_masks import score_weights, selected_channels  # noqa: F401 (its old home)


def visualize_score_cam(
    model,
    layer_idx: int | str,
    filter_indices: int | Sequence[int] | None,
    seed_input,
    penultimate_layer_idx=None,
    backprop_modifier=None,
    grad_modifier=None,
    max_n: int | None = None,
    batch_size: int = 32,
    keep_batch_axis: bool = False,
    score_activation: str | None = "auto",
) -> np.ndarray:
    """Returns the Score-CAM map: feature maps weighed by the score of the seed they mask.

    Args:
        model: A Keras model (Functional or Sequential, possibly with nested models).
        layer_idx: Index into `model.layers` (negative allowed), a layer name
            (also inside a nested model), a path `'nested_model/layer'` or a layer.
        filter_indices: Output unit (Dense) or channel (Conv): an int, a list
            of ints, or None for all of them.
        seed_input: One input without the batch axis (or with a batch axis of
            size 1), or a batch of them (one map per sample). For a model with
            several inputs (a list or dict), the input the feature maps fit is masked.
        penultimate_layer_idx: The layer whose feature maps mask the seed, or
            None to search for it, as for `visualize_cam`.
        backprop_modifier: Accepted for `visualize_cam`'s signature; Score-CAM
            takes no gradient, so it must be None.
        grad_modifier: Likewise, must be None.
        max_n: None to use every channel; an int to keep the `max_n`
            channels of largest spatial variance per seed (Faster Score-CAM).
        batch_size: Masked seeds per forward pass.
        keep_batch_axis: Always return a batch axis, also for one sample.
        score_activation: What a masked seed is scored with. "auto" (the
            paper's class probability): a softmax over the units of a linear
            classifier head with more than one unit that is an output of the
            model (a softmax head swapped for linear); the raw score for any
            other layer (a softmax or sigmoid head already gives
            probabilities; a one-unit linear head may be a regression output;
            an intermediate layer or a convolution filter has no class
            probability). "softmax": a softmax over the layer's units
            whatever its activation (tf-keras-vis's definition; on a softmax
            head, the softmax of the probabilities). "sigmoid": the logistic
            function of each unit (a binary classifier's logit). None: the
            raw score, the chosen filters' mean activation (vis 0.6's default).

    Returns:
        A float32 map in [0, 1] of the seed's spatial shape; a batch of maps
        for a batch of seeds (or `keep_batch_axis`).

    Raises:
        ValueError: For `max_n` outside `[1, channels]`, `batch_size < 1`, a
            modifier given, an unknown `score_activation`, or the errors of `visualize_cam`.
        TypeError: For arguments of the wrong type.
    """
    common.check_count(max_n, "max_n", 1, allow_none=True, hint=" (None: every channel)")
    common.check_count(batch_size, "batch_size", 1)
    check_score_activation(score_activation)
    for name, value in [("backprop_modifier", backprop_modifier), ("grad_modifier", grad_modifier)]:
        if value is not None:
            raise ValueError(
                f"Score-CAM uses forward passes only: `{name}` must be None. Received: {name}={value!r}"
            )
    penultimate = find_penultimate_layer(model, layer_idx, penultimate_layer_idx)
    inputs = common.model_inputs(model)
    losses = [(score_loss(model, get_layer(model, layer_idx), filter_indices, score_activation), -1)]
    seeds = common.prepare_seeds(seed_input, inputs, keep_batch_axis)
    wrt_tensor = output_of(penultimate)
    grid = InputGrid(
        seeds.batches, penultimate, len(wrt_tensor.shape), f"penultimate_layer_idx={penultimate_layer_idx!r}"
    )
    _check_maskable(inputs[grid.index])
    channels = wrt_tensor.shape[feature_channel_axis(penultimate, len(wrt_tensor.shape))]
    if max_n is not None and channels is not None and max_n > channels:
        raise ValueError(
            f"`max_n` must be at most the {channels} channels of layer '{penultimate.name}'. "
            f"Received: max_n={max_n!r}"
        )
    values = channels_last(engine.evaluate(inputs, losses, seeds.batches, wrt_tensor).wrt_value, penultimate)
    weights = score_weights(inputs, losses, seeds.batches, values, [grid], batch_size, max_n)
    weights = weights.reshape(values.shape[0], *(1,) * (values.ndim - 2), values.shape[-1])
    return finish(seeds, weighted_maps(weights, values), grid)


def _check_maskable(tensor) -> None:
    """Score-CAM multiplies the input by masks: token ids and categories cannot be masked."""
    dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
    if "float" not in dtype:
        raise ValueError(
            f"Score-CAM masks the input with feature maps, but input '{tensor.name}' holds {dtype} values "
            "(token ids, categories), which cannot be scaled. Use visualize_cam or visualize_layer_cam: "
            "they weigh the feature maps by gradients instead. "
            f"Received: seed_input for an input of dtype {dtype}"
        )
