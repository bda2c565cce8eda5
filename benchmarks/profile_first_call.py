"""Where vis's first `visualize_saliency` / `visualize_cam` and its second call's compile go, on MobileNetV2.

MobileNetV2 with random weights at 224x224. Each measurement runs in a fresh
Python process (this script re-invokes itself with `--child`); imports and
the model construction are not timed. A few functions are wrapped with
wall-clock timers (no profiler, so no profiler overhead):

  first call   - the eager call that answers at once: `build` (`vis.engine.Program.__init__`:
                 loss expressions, plan, diagnostics), `eager run` (`Program.gradients` run eagerly:
                 forward and backward pass), the rest (checks, layer lookup, numpy post-processing);
  compile      - what the second call does before it runs compiled (in the calling thread): `trace`
                 (`tf.function` tracing: vis's traced code, of which the symbolic forward pass
                 `Plan.run` and the backward pass `GradientTape.gradient`, and TensorFlow's own
                 graph-to-function bookkeeping) and `first run` (TensorFlow's graph optimisation,
                 Grappler, function instantiation and the run itself);
  second call  - compiles, then runs compiled (total); `warm call` - a later call.

Variants, each in its own processes: `default` (vis as shipped, TensorFlow's Grappler options) and
`no_grappler` (`disable_meta_optimizer`): the first-run column prices Grappler. The number of
operations of the traced graph is printed too. With `--top N` the compile (trace and first run, in
the main thread under `policy("compiled")`) is also run under cProfile.

Run from the repository root: `python benchmarks/profile_first_call.py [--rounds 2] [--top 30]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_common import report_child, spawn  # noqa: E402

SIZE, CLASSES = 224, (7, 42, 100)
TARGETS = ["saliency", "cam"]
VARIANTS = ["default", "no_grappler"]
ROWS = [  # (key, label, indent)
    ("first", "first call (eager), total", 0),
    ("build", "build: Program.__init__", 1),
    ("eager", "eager run: forward + backward", 1),
    ("first_rest", "rest: checks, layer lookup, post-processing", 1),
    ("compile", "compile (inside the second call), total", 0),
    ("trace", "trace: tf.function tracing", 1),
    ("trace.forward", "forward pass (Plan.run)", 2),
    ("trace.gradient", "backward pass (GradientTape.gradient)", 2),
    ("trace.tf", "rest: vis's traced code, TensorFlow bookkeeping", 2),
    ("first_run", "first run: Grappler, instantiation, run", 1),
    ("second", "second call (compile included), total", 0),
    ("warm", "warm call", 0),
    ("graph_ops", "traced graph: operations (count)", 0),
]


class Timers:
    """Wall-clock accumulators per key for wrapped functions; `split` picks the key at call time."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._local = threading.local()

    def wrap(self, owner, attribute: str, split) -> None:
        """Replaces `owner.attribute`; `split()` names the key its time goes to (None: not timed)."""
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            key = split()
            depth = getattr(self._local, "depth", {})
            self._local.depth = depth
            outer = key is not None and not depth.get(key)
            depth[key] = depth.get(key, 0) + 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                depth[key] -= 1
                if outer:
                    self.totals[key] = self.totals.get(key, 0.0) + time.perf_counter() - start

        setattr(owner, attribute, timed)


def _install(timers: Timers, info: dict) -> None:
    """Wraps the functions the phases are made of (vis at this commit, TensorFlow 2.21 internals)."""
    import tensorflow as tf
    from tensorflow.python.eager import context
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    from vis.engine.plan import Plan
    from vis.engine.program import Program

    def where(traced: str, eager: str | None = None):
        return lambda: traced if tf.inside_function() else eager

    def in_compile(key: str):
        return lambda: key if info.get("phase") == "second" else None

    timers.wrap(Program, "__init__", lambda: "build")
    timers.wrap(Program, "gradients", where("trace.vis", "eager"))
    timers.wrap(Plan, "run", where("trace.forward"))
    timers.wrap(tf.GradientTape, "gradient", where("trace.gradient"))
    timers.wrap(context.Context, "call_function", in_compile("first_run"))
    original = tracing_compilation.trace_function

    def trace_function(*args, **kwargs):
        start = time.perf_counter()
        concrete = original(*args, **kwargs)
        if "graph_ops" not in info and concrete.graph.get_operations():
            info["graph_ops"] = len(concrete.graph.get_operations())
            timers.totals["trace"] = time.perf_counter() - start
        return concrete

    tracing_compilation.trace_function = trace_function


def _build():
    import warnings

    import keras
    import numpy as np

    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    return model, np.random.default_rng(0).uniform(-1, 1, (SIZE, SIZE, 3)).astype("float32")


def _function(target: str):
    from vis.visualization import visualize_cam, visualize_saliency

    return visualize_saliency if target == "saliency" else visualize_cam


def _variant(name: str) -> None:
    import tensorflow as tf

    if name == "no_grappler":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def child(target: str, variant: str) -> dict:
    """Times the first, second and a warm call of `target` in this fresh process, phase by phase."""
    _variant(variant)
    timers, info = Timers(), {}
    _install(timers, info)
    model, x = _build()
    function = _function(target)
    times, first, compiled = [], {}, {}
    for index, class_index in enumerate(CLASSES):
        info["phase"] = "second" if index == 1 else None
        start = time.perf_counter()
        function(model, -1, class_index, x)
        times.append(time.perf_counter() - start)
        if index == 0:
            first = dict(timers.totals)
        if index == 1:
            compiled = {k: v - first.get(k, 0.0) for k, v in timers.totals.items()}
    result = {"first": times[0], "second": times[1], "warm": times[2]}
    result.update({k: first.get(k, 0.0) for k in ("build", "eager")})
    compile_keys = ("trace", "trace.forward", "trace.gradient", "first_run")
    result.update({k: compiled.get(k, 0.0) for k in compile_keys})
    result["first_rest"] = times[0] - result["build"] - result["eager"]
    result["trace.tf"] = result["trace"] - result["trace.forward"] - result["trace.gradient"]
    result["compile"] = result["trace"] + result["first_run"]
    result["graph_ops"] = info.get("graph_ops", 0)
    return result


def profile_child(target: str, top: int) -> None:
    """Prints the top functions of the compile (trace and first run, main thread) by cumulative time."""
    import cProfile
    import pstats

    from vis.engine import compiling

    model, x = _build()
    function = _function(target)
    profile = cProfile.Profile()
    with compiling.policy("compiled"):
        profile.runcall(function, model, -1, CLASSES[0], x)
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(max(10, top // 2))


def report(results: dict, rounds: int) -> None:
    """Prints, per target, the median of each row per variant."""
    for target, runs in results.items():
        med = {v: {k: statistics.median(r[k] for r in rs) for k, _, _ in ROWS} for v, rs in runs.items()}
        print(f"\nfirst visualize_{target}: medians over {rounds} fresh processes, seconds")
        print(f"{'':52} " + " ".join(f"{v:>12}" for v in VARIANTS))
        for key, label, indent in ROWS:
            width = ".0f" if key == "graph_ops" else ".3f"
            cells = [f"{med[v][key]:12{width}}" for v in VARIANTS]
            print(f"{'  ' * indent + label:52} " + " ".join(cells))
        default, off = (med[v]["first_run"] for v in VARIANTS)
        print(f"  Grappler, first run: {default - off:.3f} s (TensorFlow's options)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--top", type=int, default=0, help="also profile the compile; print N functions")
    parser.add_argument("--only", choices=TARGETS, help="only this target")
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", metavar="TARGET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report_child(child(*args.child))
        return
    if args.profile_child:
        profile_child(args.profile_child, args.top)
        return
    targets = [args.only] if args.only else TARGETS
    results = {t: {v: [] for v in VARIANTS} for t in targets}
    start = time.perf_counter()
    script = os.path.abspath(__file__)
    for round_index in range(args.rounds):
        for target in targets:
            for variant in VARIANTS:
                results[target][variant].append(spawn(script, target, variant))
        print(f"round {round_index + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)", flush=True)
    report(results, args.rounds)
    for target in targets if args.top else []:
        print(f"\n===== cProfile: compile of visualize_{target}, top {args.top} =====", flush=True)
        command = [sys.executable, script, "--profile-child", target, "--top", str(args.top)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
