"""Hand-written `tf.GradientTape` references, computed on the loaded model with `training=False`.

Nothing here uses vis. Intermediate outputs are read by wrapping the
layers' own `call` for the duration of one forward pass (the wrapper
records and watches what the layer returns): that works on a reloaded
Sequential and inside nested models alike, where building a
`keras.Model(m.inputs, layer.output)` gives a None gradient (DATA.md).
Guided and rectified backprop swap the plain ReLUs of the model (nested
ones included) for `tf.custom_gradient` versions during the pass.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage

from tests.zoo.describe import all_layers, rectifier_bound


def find(model, path: str):
    """The layer at `path`: a top-level name, or 'outer/inner' into nested models."""
    layer = model
    for part in path.split("/"):
        layer = layer.get_layer(part)
    return layer


@contextlib.contextmanager
def _patched(layer, attribute: str, value):
    """Sets an instance attribute for the block, then restores what was there (or removes it)."""
    had = attribute in layer.__dict__
    old = layer.__dict__.get(attribute)
    setattr(layer, attribute, value)
    try:
        yield
    finally:
        if had:
            setattr(layer, attribute, old)
        else:
            delattr(layer, attribute)


def _recorder(layer, tape, got: dict):
    original = layer.call

    def call(*args, **kwargs):
        out = original(*args, **kwargs)
        tape.watch(out)
        got[id(layer)] = out
        return out

    return call


def _gated_relu(rectified: bool, bound=None):
    """A ReLU (a ReLU6 clipped at `bound`) whose gradient passes where dy > 0 (and, guided, the unit
    is active: 0 < x < bound)."""

    @tf.custom_gradient
    def relu(x):
        def grad(dy):
            gate = tf.cast(dy > 0, dy.dtype)
            if rectified:
                return dy * gate
            active = tf.cast(x > 0, dy.dtype)
            if bound is not None:
                active = active * tf.cast(x < bound, dy.dtype)
            return dy * gate * active

        return (tf.nn.relu(x) if bound is None else tf.clip_by_value(x, 0.0, bound)), grad

    return relu


def _relu_patches(model, modifier: str | None) -> list:
    if modifier is None:
        return []
    patches = []
    for layer in all_layers(model):
        bound = rectifier_bound(layer)
        if bound is False:
            continue
        relu = _gated_relu(modifier == "rectified", bound)
        if isinstance(layer, keras.layers.ReLU):
            patches.append(_patched(layer, "call", lambda inputs, *a, _relu=relu, **k: _relu(inputs)))
        else:
            patches.append(_patched(layer, "activation", relu))
    return patches


def score(output, index: int):
    """S per sample: the unit of a Dense output, or the spatial mean of a channel (channels last)."""
    output = tf.cast(output, tf.float32)
    if output.shape.rank == 2:
        return output[:, index]
    return tf.reduce_mean(output[..., index], axis=list(range(1, output.shape.rank - 1)))


def gradients(model, seeds: list, layer, indices, wrt=None, modifier=None, linear=False):
    """`({k: (dS_k/d input per input, dS_k/d wrt output)}, wrt output)` for a batch of seeds.

    One forward pass, one backward pass per index `k`. Integer inputs get a
    None gradient, and so does the wrt output when `wrt` is None.

    Args:
        wrt: A layer whose output the gradient is also taken with respect to.
        modifier: None, 'guided' or 'rectified'.
        linear: Run `layer` with a linear activation (the logits of a softmax head).
    """
    xs = [tf.convert_to_tensor(s) for s in seeds]
    got: dict = {}
    with contextlib.ExitStack() as stack:
        tape = stack.enter_context(tf.GradientTape(persistent=True))
        for x in xs:
            if x.dtype.is_floating:
                tape.watch(x)
        for target in {id(t): t for t in [layer, wrt] if t is not None}.values():
            stack.enter_context(_patched(target, "call", _recorder(target, tape, got)))
        for patch in _relu_patches(model, modifier):
            stack.enter_context(patch)
        if linear:
            stack.enter_context(_patched(layer, "activation", keras.activations.linear))
        model(xs if len(xs) > 1 else xs[0], training=False)
        totals = {k: tf.reduce_sum(score(got[id(layer)], k)) for k in indices}
    value = None if wrt is None else got[id(wrt)]
    result = {}
    for k, total in totals.items():
        grads = [tape.gradient(total, x) if x.dtype.is_floating else None for x in xs]
        result[k] = (grads, None if wrt is None else tape.gradient(total, value))
    return result, value


def normalize(maps) -> np.ndarray:
    """Per-map min-max normalisation to [0, 1] (a constant map gives zeros)."""
    maps = np.asarray(maps, dtype="float64")
    axes = tuple(range(1, maps.ndim))
    low, high = maps.min(axis=axes, keepdims=True), maps.max(axis=axes, keepdims=True)
    span = high - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0)


def input_map(grad) -> np.ndarray:
    """`normalize(max over channels |g|)` for a batch of input gradients (rank 2 inputs: `|g|`)."""
    grad = np.abs(np.asarray(grad, dtype="float64"))
    return normalize(grad.max(axis=-1) if grad.ndim >= 3 else grad)


def saliency(model, seeds: list, layer, indices, modifier=None) -> dict:
    """`{k: [batch of maps for each input]}` (an input the target does not depend on: zeros)."""
    result = {}
    for k, (grads, _) in gradients(model, seeds, layer, indices, modifier=modifier)[0].items():
        grads = [np.zeros(np.shape(s), "float32") if g is None else g for g, s in zip(grads, seeds)]
        result[k] = [input_map(g) for g in grads]
    return result


def embedding_saliency(model, tokens, layer, indices, embedding) -> dict:
    """`{k: normalize(max over embedding dims |dS/dE|)}`, each a `(batch, seq_len)` map."""
    found = gradients(model, [tokens], layer, indices, wrt=embedding)[0]
    return {k: input_map(grad) for k, (_, grad) in found.items()}


def grad_cam(model, seeds: list, layer, indices, penultimate, spatial: tuple, linear=False) -> dict:
    """`{k: relu(sum_c w_c A_c)}`, `w_c` = spatial mean of dS/dA_c / max|dS/dA|, zoomed to `spatial`."""
    found, value = gradients(model, seeds, layer, indices, wrt=penultimate, linear=linear)
    value = np.asarray(value, "float64")
    result = {}
    for k, (_, grad) in found.items():
        if grad is None:
            raise RuntimeError(f"reference: no gradient reaches layer '{penultimate.name}'")
        grad = np.asarray(grad, "float64")
        scale = np.abs(grad).max(axis=tuple(range(1, grad.ndim)), keepdims=True) + keras.config.epsilon()
        weights = (grad / scale).mean(axis=tuple(range(1, grad.ndim - 1)), keepdims=True)
        maps = np.maximum((weights * value).sum(axis=-1), 0.0)
        zoomed = [
            m if m.shape == spatial else ndimage.zoom(m, [t / c for t, c in zip(spatial, m.shape)], order=1)
            for m in maps
        ]
        result[k] = normalize(np.stack(zoomed))
    return result


def layer_scores(model, seeds: list, layer) -> np.ndarray:
    """`(batch, filters)`: S of every filter of `layer`, as `score` defines it (no gradient)."""
    got: dict = {}
    with tf.GradientTape() as tape, _patched(layer, "call", _recorder(layer, tape, got)):
        xs = [tf.convert_to_tensor(s) for s in seeds]
        model(xs if len(xs) > 1 else xs[0], training=False)
        output = tf.cast(got[id(layer)], tf.float32)
        axes = list(range(1, output.shape.rank - 1))
        return (tf.reduce_mean(output, axis=axes) if axes else output).numpy()


def _regularizers(x, image: bool):
    """keras-vis's `LPNorm(p=6)` and `TotalVariation(beta=2)` of each sample, divided by its size."""
    size = float(np.prod(x.shape[1:]))
    axes = list(range(1, x.shape.rank))
    scale = tf.stop_gradient(tf.reduce_max(tf.abs(x), axis=axes, keepdims=True))
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    lp = tf.reshape(scale, [-1]) * tf.reduce_sum((tf.abs(x) / scale) ** 6, axis=axes) ** (1 / 6) / size
    if not image or x.shape.rank < 3:
        return lp, tf.zeros_like(lp)
    spatial = range(1, x.shape.rank - 1)

    def crop(shifted=None):
        return x[
            tuple([slice(None)] + [slice(1, None) if a == shifted else slice(None, -1) for a in spatial])
        ]

    squared = sum(tf.square(crop(a) - crop()) for a in spatial)
    return lp, tf.reduce_sum(squared, axis=axes) / size


def deprocess(x, input_range) -> np.ndarray:
    """keras-vis's `deprocess_input`: standardised to std 0.1 around 0.5, clipped, scaled to the range."""
    x = np.asarray(x, "float32").copy()
    x = (x - x.mean()) / (x.std() + keras.config.epsilon()) * 0.1 + 0.5
    low, high = input_range
    return (high - low) * np.clip(x, 0, 1) + low


def activation_maximization(
    model, seeds: list, layer, index: int, input_range, steps=10, weights=(1, 10, 10), compiled=False
):
    """keras-vis's `Optimizer.minimize` written out: the inputs after `steps` RMSProp steps.

    The overall loss is `-w0 S + w1 LPNorm + w2 TV` (regularizers on the first
    input); each step normalises the gradient by its RMS, takes keras-vis's
    RMSProp step (decay 0.95, no learning rate) and, as keras-vis did, keeps
    the input after the step whose pre-step loss was the lowest. Returns the
    kept inputs (one per input, batch axis included) through `deprocess`.

    With `compiled`, the loss and gradient are compiled (`tf.function`), as
    vis's are: a step is about `sign(gradient)`, so the differences between
    TensorFlow's eager and compiled gradients of a deep network (about 1%)
    flip the steps of pixels whose gradient is near zero.
    """
    eps = keras.config.epsilon()

    def loss_and_gradients(xs):
        got: dict = {}
        with tf.GradientTape() as tape, _patched(layer, "call", _recorder(layer, tape, got)):
            for x in xs:
                tape.watch(x)
            model(xs if len(xs) > 1 else xs[0], training=False)
            lp, tv = _regularizers(xs[0], image=True)
            overall = -weights[0] * score(got[id(layer)], index) + weights[1] * lp + weights[2] * tv
        return overall, tape.gradient(overall, xs)

    if compiled:
        loss_and_gradients = tf.function(loss_and_gradients, autograph=False)
    xs = [tf.convert_to_tensor(np.asarray(s, "float32")) for s in seeds]
    caches = [tf.zeros_like(x) for x in xs]
    best, best_loss = list(xs), tf.fill([xs[0].shape[0]], np.inf)
    for _ in range(steps):
        overall, grads = loss_and_gradients(xs)
        better = overall < best_loss
        best_loss = tf.where(better, overall, best_loss)
        for i, (x, g) in enumerate(zip(xs, grads)):
            axes = list(range(1, g.shape.rank))
            g = g / (tf.sqrt(tf.reduce_mean(tf.square(g), axis=axes, keepdims=True)) + eps)
            caches[i] = 0.95 * caches[i] + 0.05 * tf.square(g)
            xs[i] = x - g / tf.sqrt(caches[i] + eps)
            best[i] = tf.where(tf.reshape(better, [-1] + [1] * (x.shape.rank - 1)), xs[i], best[i])
    return [np.stack([deprocess(b, input_range) for b in np.asarray(x)]) for x in best]
