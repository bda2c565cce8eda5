"""`vis.compat.tf_keras_vis` against tf-keras-vis 0.8.7 on the same calls, and against the native vis call.

On `keras.applications.MobileNetV2(weights=None)` at 224x224 (linear head, so no model modifier), batch
1 and 16, one class (`CategoricalScore(7)`). Each class is built once with `clone=False` from
`tf_keras_vis` and from `vis.compat.tf_keras_vis` (the same line of code, the import swapped) and
called with the same arguments; the native vis call computing the same map
(`visualize_saliency`, `visualize_cam`, ..., `visualize_activation`) gives the compat overhead. Calls are
warm (two calls each first: vis runs a program eagerly at its first call and compiles at its second),
interleaved round by round, medians printed.

    python benchmarks/bench_compat.py                     # everything (about 30 minutes on 2 cores)
    python benchmarks/bench_compat.py --quick             # 1 round, batch 1 only, Score-CAM max_N=5
    python benchmarks/bench_compat.py --only saliency,smoothgrad --batches 1 --rounds 5
    python benchmarks/bench_compat.py --skip-vis          # tf-keras-vis only (before vis.compat exists)

A raw floor runs in the same rounds where one exists: a plain `tf.function` doing the same math with
nothing around it (saliency: one `GradientTape` input gradient of the batch; SmoothGrad: per seed,
the input gradient of its 20 noisy copies; Score-CAM: the feature-map forward, then a forward of as
many images, 32 per call, as tf-keras-vis masks and scores, from a batch masked beforehand). Each
row then prints `<tool>/floor`: tf-keras-vis/floor is the largest speed-up any implementation of the
same math can reach on this machine, so a target above it cannot be met (the row says so).

Targets: compat at least as fast as tf-keras-vis everywhere, >= 5x on `Saliency(smooth_samples=20)`
and `Scorecam`; compat / native vis < 1.05. Score-CAM: batch 1 scores every channel of 'Conv_1'
(1,280 masked images: about 0.8 GB of them at once in tf-keras-vis), one timed call; batch 16 uses
`max_N` (default 5: tf-keras-vis scores the union of each seed's 5 channels, up to 80, for all 16
seeds, and so does the compat class; native vis scores each seed's own 5, so its row is less work).
At batch 16 the warm calls take the first seed only and one round is timed (`--batch-rounds`):
tf-keras-vis's SmoothGrad and Score-CAM take minutes there. `ActivationMaximization` runs `--steps`
steps (default 20).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # This checkout's vis.

CLASS, SHAPE, PENULTIMATE = 7, (224, 224, 3), "Conv_1"
CASES = ["saliency", "smoothgrad", "gradcam", "gradcam++", "layercam", "scorecam", "actmax"]
TARGETS = {"smoothgrad": 5.0, "scorecam": 5.0}  # tf-keras-vis / compat; 1.0 elsewhere.


def model_and_seeds(batch: int):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=SHAPE, classifier_activation=None)
    seeds = np.random.default_rng(0).uniform(-1, 1, (batch, *SHAPE)).astype("float32")
    return model, seeds


def tf_keras_vis_calls(root: str, model, case: str, options) -> callable:
    """`seeds -> maps` for one class of `root` ("tf_keras_vis" or "vis.compat.tf_keras_vis")."""
    score = importlib.import_module(f"{root}.utils.scores").CategoricalScore(CLASS)
    if case in ("saliency", "smoothgrad"):
        saliency = importlib.import_module(f"{root}.saliency").Saliency(model, clone=False)
        samples = 20 if case == "smoothgrad" else 0
        return lambda x: saliency(score, x, smooth_samples=samples)
    if case in ("gradcam", "gradcam++", "layercam"):
        module, name = {
            "gradcam": ("gradcam", "Gradcam"),
            "gradcam++": ("gradcam_plus_plus", "GradcamPlusPlus"),
        }.get(case, ("layercam", "Layercam"))
        method = getattr(importlib.import_module(f"{root}.{module}"), name)(model, clone=False)
        return lambda x: method(score, x, penultimate_layer=PENULTIMATE)
    if case == "scorecam":
        scorecam = importlib.import_module(f"{root}.scorecam").Scorecam(model, clone=False)
        return lambda x, max_n=None: scorecam(score, x, penultimate_layer=PENULTIMATE, max_N=max_n)
    maximization = importlib.import_module(f"{root}.activation_maximization").ActivationMaximization
    actmax = maximization(model, clone=False)
    return lambda x: actmax(score, seed_input=x, steps=options.steps)


def native_call(model, case: str, options) -> callable:
    """`seeds -> maps` of the native vis function computing what the compat class computes."""
    from vis import visualization as vv

    if case in ("saliency", "smoothgrad"):
        samples = 20 if case == "smoothgrad" else 0
        return lambda x: vv.visualize_saliency(model, -1, CLASS, x, smooth_samples=samples, smooth_noise=0.2)
    functions = {"gradcam": vv.visualize_cam, "gradcam++": vv.visualize_cam_plus_plus}
    if case in ("gradcam", "gradcam++", "layercam"):
        function = functions.get(case, vv.visualize_layer_cam)
        return lambda x: function(model, -1, CLASS, x, penultimate_layer_idx=PENULTIMATE)
    if case == "scorecam":
        return lambda x, max_n=None: vv.visualize_score_cam(
            model, -1, CLASS, x, PENULTIMATE, max_n=max_n, score_activation="softmax"
        )
    return lambda x: vv.visualize_activation(model, -1, CLASS, seed_input=x, max_iter=options.steps)


def floor_call(model, case: str) -> callable | None:
    """`seeds -> work` of a plain `tf.function` doing the same math, or None (the CAM and act-max cases).

    Saliency: one input gradient of the batch. SmoothGrad: per seed, one input gradient of its 20
    noisy copies (noise drawn in the graph; vis's batches). Score-CAM: the feature-map forward of
    the seeds, then a forward of as many masked images as tf-keras-vis scores (every channel for
    each seed, or with `max_n` each seed masked by the union of the seeds' `max_n` maps of largest
    spatial std), 32 per call, from one batch masked beforehand: no masking, resizing or scoring.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    if case in ("saliency", "smoothgrad"):
        samples = 20 if case == "smoothgrad" else 0

        @tf.function(input_signature=[tf.TensorSpec((None, *SHAPE))], autograph=False)
        def gradient(x):
            if samples:
                sigma = 0.2 * (tf.reduce_max(x) - tf.reduce_min(x))
                x = x + tf.random.normal((samples, *SHAPE), stddev=sigma)
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(model(x, training=False)[:, CLASS])
            return tape.gradient(score, x)

        if samples:
            return lambda seeds: [gradient(seeds[i : i + 1]).numpy() for i in range(len(seeds))]
        return lambda seeds: gradient(seeds).numpy()
    if case != "scorecam":
        return None
    features = keras.Model(model.inputs, model.get_layer(PENULTIMATE).output)
    any_batch = [tf.TensorSpec((None, *SHAPE))]
    forward = tf.function(lambda x: model(x, training=False), input_signature=any_batch, autograph=False)
    feature_forward = tf.function(lambda x: features(x), input_signature=any_batch, autograph=False)
    masks = np.random.default_rng(1).random((32, *SHAPE[:2], 1), dtype="float32")
    masked = tf.constant(np.random.default_rng(2).uniform(-1, 1, (32, *SHAPE)).astype("float32") * masks)

    def run(seeds, max_n=None):
        maps = feature_forward(seeds).numpy()
        channels = maps.shape[-1]
        if max_n is not None:
            std = maps.reshape(len(seeds), -1, channels).std(axis=1)
            channels = len(np.unique(np.argsort(-std, axis=1)[:, :max_n]))
        total = len(seeds) * channels
        return [forward(masked[: min(32, total - start)]).numpy() for start in range(0, total, 32)]

    return run


def timed(candidates: dict, seeds, rounds: int, **kwargs) -> dict:
    """Two warm calls each on the first seed (vis's programs take any batch size without a retrace;
    tf-keras-vis runs eagerly), then `rounds` interleaved timed calls; `{name: median seconds}`.

    Score-CAM (`kwargs` holds `max_n`) is warmed with `max_n=1`: every program traced, little work.
    """
    warm = {"max_n": 1} if kwargs else {}
    for run in candidates.values():
        run(seeds[:1], **warm), run(seeds[:1], **warm)
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            run(seeds, **kwargs)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench(case: str, batch: int, options) -> dict:
    model, seeds = model_and_seeds(batch)
    candidates = {"tf-keras-vis": tf_keras_vis_calls("tf_keras_vis", model, case, options)}
    if not options.skip_vis:
        candidates["compat"] = tf_keras_vis_calls("vis.compat.tf_keras_vis", model, case, options)
        candidates["vis"] = native_call(model, case, options)
    floor = floor_call(model, case)
    if floor is not None:
        candidates["floor"] = floor
    rounds = options.rounds if batch == 1 else options.batch_rounds
    if case == "scorecam":
        max_n = options.scorecam_max_n if batch > 1 or options.quick else None
        median = timed(candidates, seeds, 1 if max_n is None else rounds, max_n=max_n)
        label = f"{case} (max_N={max_n})"
    else:
        median = timed(candidates, seeds, rounds)
        label = case
    report(label, batch, median)
    return median


def report(label: str, batch: int, median: dict) -> None:
    times = ", ".join(f"{name} {seconds * 1000:,.0f} ms" for name, seconds in median.items())
    line = f"{label:>24}  batch {batch:>2}: {times}"
    if "compat" in median:
        target = TARGETS.get(label.split()[0], 1.0)
        speedup = median["tf-keras-vis"] / median["compat"]
        overhead = median["compat"] / median["vis"]
        line += (
            f"; tf-keras-vis/compat {speedup:.2f}x (>= {target:g}x {'ok' if speedup >= target else 'MISSED'})"
        )
        line += f"; compat/vis {overhead:.3f} (< 1.05 {'ok' if overhead < 1.05 else 'MISSED'})"
    if "floor" in median:  # What any implementation of the same math can reach: the most a target can ask.
        ratios = [f"{name}/floor {median[name] / median['floor']:.2f}x" for name in median if name != "floor"]
        line += "; " + ", ".join(ratios)
        bound, target = median["tf-keras-vis"] / median["floor"], TARGETS.get(label.split()[0], 1.0)
        if bound < target:
            line += f" (the {target:g}x target is above the {bound:.2f}x the floor allows)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds at batch 1 (default: 3)")
    parser.add_argument("--batch-rounds", type=int, default=1, help="timed rounds at batch > 1 (default: 1)")
    parser.add_argument("--batches", default="1,16", help="comma-separated batch sizes (default: 1,16)")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases of {CASES}")
    parser.add_argument("--steps", type=int, default=20, help="ActivationMaximization steps (default: 20)")
    parser.add_argument("--scorecam-max-n", type=int, default=5, help="Score-CAM max_N at batch > 1")
    parser.add_argument("--quick", action="store_true", help="1 round, batch 1, Score-CAM max_N=5")
    parser.add_argument("--skip-vis", action="store_true", help="time tf-keras-vis only")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.batches = 1, "1"
    if os.environ.get("TF_KERAS_VIS_MAX_STEPS"):
        print("TF_KERAS_VIS_MAX_STEPS is set: it caps steps, samples and channels in both libraries")
    print(f"MobileNetV2(weights=None) 224x224, class {CLASS}, penultimate '{PENULTIMATE}', warm calls")
    for batch in [int(b) for b in options.batches.split(",")]:
        for case in options.only.split(","):
            bench(case, batch, options)


if __name__ == "__main__":
    main()
