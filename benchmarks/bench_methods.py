"""SmoothGrad, Integrated Gradients, grad-CAM++, LayerCAM and Score-CAM, side by side in one run.

On `keras.applications.MobileNetV2(weights=None)` at 224x224, one image, warm (traced) calls,
interleaved round by round so machine drift hits all candidates equally; the median per candidate:

  smoothgrad  vis `visualize_saliency(smooth_samples=20)` vs a hand-written batched `tf.function`
              floor (noise drawn in the graph, 20 copies in one batch) and tf-keras-vis 0.8.7
              `Saliency(smooth_samples=20)`. Targets: <= 1.2x the floor, >= 10x faster than tf-keras-vis.
  ig          vis `visualize_integrated_gradients(steps=50)` vs a batched floor (the 50 path points
              in one batch). Target: <= 1.2x the floor.
  cam         vis grad-CAM++ and LayerCAM vs vis grad-CAM (target <= 1.2x) and vs tf-keras-vis
              `GradcamPlusPlus` and `Layercam` (target >= 3x faster).
  scorecam    on ResNet50(weights=None) at 224x224 (2,048 channels at 'conv5_block3_3_conv'), one image,
              each candidate in its own process (peak RSS growth during the call, sampled every 10 ms):
              vis full Score-CAM vs tf-keras-vis `Scorecam` (target: faster, and < 1 GB growth for vis),
              and Faster Score-CAM `max_n=10` (target: >= 20x faster than full). Takes minutes.

    python benchmarks/bench_methods.py                   # everything (about 10 minutes on 2 cores)
    python benchmarks/bench_methods.py --quick           # 3 rounds, Score-CAM without tf-keras-vis
    python benchmarks/bench_methods.py --only cam,ig --rounds 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # This checkout's vis.

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bench_common import interleaved_medians  # noqa: E402

from vis import visualization as vv  # noqa: E402

CLASS, SAMPLES, STEPS, SHAPE = 7, 20, 50, (224, 224, 3)
SCORECAM_LAYER = "conv5_block3_3_conv"


def mobilenet():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=SHAPE, classifier_activation=None)
    return model, np.random.default_rng(0).uniform(-1, 1, SHAPE).astype("float32")


def _gradient_function(model):
    @tf.function(input_signature=[tf.TensorSpec((None, *SHAPE)), tf.TensorSpec((), tf.int32)])
    def gradient(x, index):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.gather(model(x, training=False), index, axis=1))
        return tape.gradient(score, x)

    return gradient


def _normalise(g):
    return (g - g.min()) / (g.max() - g.min())


def smoothgrad_floor(model):
    gradient = _gradient_function(model)

    @tf.function(input_signature=[tf.TensorSpec(SHAPE)])
    def noisy(seed):
        sigma = 0.2 * (tf.reduce_max(seed) - tf.reduce_min(seed))
        return seed[None] + tf.random.normal((SAMPLES, *SHAPE), stddev=sigma)

    def run(seed):
        grads = gradient(noisy(tf.constant(seed)), tf.constant(CLASS)).numpy()
        return _normalise(np.abs(grads).mean(axis=0).max(axis=-1))

    return run


def ig_floor(model):
    gradient = _gradient_function(model)
    alphas = tf.constant((np.arange(STEPS) + 0.5) / STEPS, tf.float32)[:, None, None, None]

    def run(seed):
        x = tf.constant(seed)
        grads = gradient(alphas * x[None], tf.constant(CLASS))  # zero baseline
        attributions = (x * tf.reduce_mean(grads, axis=0)).numpy()
        return _normalise(np.abs(attributions).max(axis=-1))

    return run


def _tf_keras_vis(name):
    try:
        import tf_keras_vis  # noqa: F401
    except ImportError:
        return None
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    classes = {"saliency": Saliency, "gradcam++": GradcamPlusPlus, "layercam": Layercam, "scorecam": Scorecam}
    return classes[name], CategoricalScore(CLASS)


def _ratio(text, value, target, better="lower"):
    met = value <= target if better == "lower" else value >= target
    sign = "<=" if better == "lower" else ">="
    print(f"  {text}: {value:.2f}x (target {sign} {target}x) {'ok' if met else 'MISSED'}")


def bench_smoothgrad(rounds):
    print(f"SmoothGrad, {SAMPLES} samples, MobileNetV2 224x224")
    model, seed = mobilenet()
    candidates = {
        "floor": smoothgrad_floor(model),
        "vis": lambda s: vv.visualize_saliency(model, -1, CLASS, s, smooth_samples=SAMPLES),
    }
    other = _tf_keras_vis("saliency")
    if other is not None:
        saliency = other[0](model, clone=False)
        candidates["tf-keras-vis"] = lambda s: saliency(other[1], s[None], smooth_samples=SAMPLES)
    median = interleaved_medians(candidates, seed, rounds)
    _ratio("vis / floor", median["vis"] / median["floor"], 1.2)
    if other is not None:
        _ratio("tf-keras-vis / vis", median["tf-keras-vis"] / median["vis"], 10, "higher")


def bench_ig(rounds):
    print(f"Integrated Gradients, {STEPS} steps, MobileNetV2 224x224")
    model, seed = mobilenet()
    candidates = {
        "floor": ig_floor(model),
        "vis": lambda s: vv.visualize_integrated_gradients(model, -1, CLASS, s, steps=STEPS),
    }
    median = interleaved_medians(candidates, seed, rounds)
    _ratio("vis / floor", median["vis"] / median["floor"], 1.2)


def bench_cam(rounds):
    print("grad-CAM++ and LayerCAM, MobileNetV2 224x224 (penultimate 'Conv_1')")
    model, seed = mobilenet()
    candidates = {
        "vis grad-CAM": lambda s: vv.visualize_cam(model, -1, CLASS, s),
        "vis grad-CAM++": lambda s: vv.visualize_cam_plus_plus(model, -1, CLASS, s),
        "vis LayerCAM": lambda s: vv.visualize_layer_cam(model, -1, CLASS, s),
    }
    found = {name: _tf_keras_vis(name) for name in ("gradcam++", "layercam")}
    for name, other in found.items():
        if other is not None:
            method = other[0](model, clone=False)
            candidates[f"tf-keras-vis {name}"] = lambda s, m=method, score=other[1]: m(
                score, s[None], penultimate_layer="Conv_1"
            )
    median = interleaved_medians(candidates, seed, rounds)
    for label, key in [("grad-CAM++", "gradcam++"), ("LayerCAM", "layercam")]:
        _ratio(f"vis {label} / vis grad-CAM", median[f"vis {label}"] / median["vis grad-CAM"], 1.2)
        if found[key] is not None:
            speedup = median[f"tf-keras-vis {key}"] / median[f"vis {label}"]
            _ratio(f"tf-keras-vis {key} / vis {label}", speedup, 3, "higher")


def _peak_rss_sampler():
    """Starts a thread sampling this process's RSS every 10 ms; returns `stop() -> peak bytes`."""
    peak, running = [0], [True]

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def sample():
        while running[0]:
            peak[0] = max(peak[0], rss())
            time.sleep(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()

    def stop():
        running[0] = False
        thread.join()
        return max(peak[0], rss())

    return rss(), stop


def scorecam_worker(candidate: str) -> None:
    """One Score-CAM call on ResNet50 in this process; prints `{"seconds", "rss_growth"}` as JSON."""
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=SHAPE, classifier_activation=None)
    seed = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype("float32")
    if candidate == "tf-keras-vis":
        other = _tf_keras_vis("scorecam")
        scorecam = other[0](model, clone=False)

        def run(max_n=None):
            return scorecam(other[1], seed[None], penultimate_layer=SCORECAM_LAYER, max_N=max_n)

    else:

        def run(max_n=None):
            return vv.visualize_score_cam(model, -1, CLASS, seed, SCORECAM_LAYER, max_n=max_n)

    run(max_n=1)  # warm-up: trace and compile
    limit = 10 if candidate == "vis max_n=10" else None
    before, stop = _peak_rss_sampler()
    start = time.perf_counter()
    run(max_n=limit)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_growth": stop() - before}))


def bench_scorecam(with_tf_keras_vis: bool):
    print(f"Score-CAM, ResNet50 224x224, 2,048 channels at '{SCORECAM_LAYER}', 1 image, one call per process")
    names = ["vis", "vis max_n=10"]
    if with_tf_keras_vis and _tf_keras_vis("scorecam") is not None:
        names.append("tf-keras-vis")
    results = {}
    for name in names:
        command = [sys.executable, os.path.abspath(__file__), "--scorecam-worker", name]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        gib = results[name]["rss_growth"] / 2**30
        print(f"  {name:>22}: {results[name]['seconds']:9.1f} s, peak RSS growth {gib:.2f} GiB", flush=True)
    _ratio("full / max_n=10", results["vis"]["seconds"] / results["vis max_n=10"]["seconds"], 20, "higher")
    growth = results["vis"]["rss_growth"] / 2**30
    print(f"  vis peak RSS growth: {growth:.2f} GiB (target < 1 GiB) {'ok' if growth < 1 else 'MISSED'}")
    if "tf-keras-vis" in results:
        speedup = results["tf-keras-vis"]["seconds"] / results["vis"]["seconds"]
        _ratio("tf-keras-vis / vis", speedup, 1, "higher")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per candidate (default: 15)")
    parser.add_argument("--quick", action="store_true", help="3 rounds; Score-CAM without tf-keras-vis")
    parser.add_argument("--only", default="smoothgrad,ig,cam,scorecam", help="comma-separated sections")
    parser.add_argument("--scorecam-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scorecam_worker:
        return scorecam_worker(args.scorecam_worker)
    rounds = 3 if args.quick else args.rounds
    sections = args.only.split(",")
    if _tf_keras_vis("saliency") is None:
        print("tf-keras-vis not installed (pip install '.[bench]'): its columns are left out")
    for name, run in [("smoothgrad", bench_smoothgrad), ("ig", bench_ig), ("cam", bench_cam)]:
        if name in sections:
            run(rounds)
    if "scorecam" in sections:
        bench_scorecam(with_tf_keras_vis=not args.quick)


if __name__ == "__main__":
    main()
