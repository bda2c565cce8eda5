"""Where vis's first `visualize_saliency` / `visualize_cam` goes, on MobileNetV2 (random weights, 224x224).

Each measurement runs in a fresh Python process (this script re-invokes
itself with `--child`); imports and the model construction are not timed.
The first call is split into phases by wrapping a few functions with
wall-clock timers (no profiler, so no profiler overhead):

  front      - argument checks, layer lookup, seed preparation (before `engine.compute`);
  build      - `vis.engine.Program.__init__`: loss expressions, graph reading (`vis.graph`),
               diagnostics (`vis.diagnostics`), `vis.rebuild.rebuild`, the rest (`keras.Function`);
  trace      - `tf.function` tracing (`tracing_compilation.trace_function`): vis's traced code
               (`Program.gradients`: the symbolic forward pass, `GradientTape.gradient` including
               the per-loss probes) and TensorFlow's own graph-to-function bookkeeping;
  execute    - the first run of the compiled function (`Context.call_function`): TensorFlow's graph
               optimisation (Grappler), function instantiation and the execution itself; the warm run
               of the second call is printed beside it, and a run with Grappler disabled;
  post       - numpy post-processing after `engine.compute` returns (grad modifier, max over
               channels, normalisation; for grad-CAM the weighting and the resize).

Also, in fresh processes, what-ifs: the first call with Grappler off
(`disable_meta_optimizer`); with the engine's tape watching the seeds instead
of the model's variables (no weight-gradient operations traced); and with
vis's `tf.function` replaced by a plain call (everything eager), to price
the compiled design against an eager one. The number of operations of the
traced graph is printed for each.
With `--top N` the first call is also run under cProfile (or pyinstrument,
`--profiler pyinstrument`) and the top functions by cumulative time are printed.

Run from the repository root: `python benchmarks/profile_first_call.py [--rounds 2] [--top 30]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZE, CLASS, SECOND_CLASS = 224, 7, 42
MARK = "PROFILE_RESULT "
TARGETS = ["saliency", "cam"]
VARIANTS = ["compiled", "no_grappler", "inputs_watched", "eager"]
PHASES = [  # (key, label, indent)
    ("total", "first call, total", 0),
    ("front", "front: checks, layer lookup, seed", 1),
    ("build", "build: Program.__init__", 1),
    ("build.loss", "loss expressions", 2),
    ("build.graph", "graph reading (vis.graph)", 2),
    ("build.diagnostics", "diagnostics (vis.diagnostics)", 2),
    ("build.rebuild", "vis.rebuild.rebuild", 2),
    ("build.rest", "rest (keras.Function, tf.function object)", 2),
    ("trace", "trace: tf.function tracing", 1),
    ("trace.forward", "forward pass (keras.Function call)", 2),
    ("trace.gradient", "backward pass (GradientTape.gradient, probes)", 2),
    ("trace.vis_rest", "rest of Program.gradients", 2),
    ("trace.tf", "TensorFlow bookkeeping (FuncGraph -> function)", 2),
    ("execute", "execute: first run (graph optimisation + run)", 1),
    ("compute_rest", "engine rest (feeds, numpy conversion)", 1),
    ("post", "post: numpy post-processing", 1),
    ("graph_ops", "traced graph: operations (count)", 1),
    ("second.total", "second call, total", 0),
    ("second.execute", "second call, compiled run alone", 1),
]


class Timers:
    """Wall-clock accumulators for wrapped functions (the outermost call of each key counts)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self._depth: dict[str, int] = {}

    def wrap(self, owner, attribute: str, key: str, mark: str | None = None) -> None:
        """Replaces `owner.attribute` by a timed wrapper adding its time to `key`."""
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            depth = self._depth.get(key, 0)
            self._depth[key] = depth + 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._depth[key] = depth
                if depth == 0:
                    self.totals[key] = self.totals.get(key, 0.0) + time.perf_counter() - start
                    if mark is not None:
                        self.marks[mark] = time.perf_counter()

        setattr(owner, attribute, timed)

    def take(self) -> dict:
        totals, self.totals, self.marks = self.totals, {}, {}
        return totals


def _install(timers: Timers) -> None:
    """Wraps the functions the phases are made of (vis at this commit, TensorFlow 2.21 internals)."""
    import keras
    import tensorflow as tf
    from tensorflow.python.eager import context
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    from vis import diagnostics, engine, graph, rebuild

    timers.wrap(engine, "compute", "compute", mark="compute_end")
    timers.wrap(engine.Program, "__init__", "build")
    timers.wrap(diagnostics, "loss_expression", "build.loss")
    for name in ("rename_clashing_ops", "sources", "match_sources", "occurrences"):
        timers.wrap(graph, name, "build.graph")
    for name in ("check_paths", "depends_on_layers", "wrt_occurrences"):
        timers.wrap(diagnostics, name, "build.diagnostics")
    timers.wrap(rebuild, "rebuild", "build.rebuild")
    timers.wrap(tracing_compilation, "trace_function", "trace")
    timers.wrap(engine.Program, "gradients", "trace.vis")
    timers.wrap(keras.Function, "__call__", "trace.forward")
    timers.wrap(tf.GradientTape, "gradient", "trace.gradient")
    timers.wrap(context.Context, "call_function", "execute")


def _watch_inputs_only(engine) -> None:
    """What-if: the engine's tape watches the seeds instead of the model's variables.

    The tape of `Program.gradients` watches the variables it sees (the
    default), so its traced backward pass also builds the weight-gradient
    operations, which Grappler then prunes. Here a tape that watches the
    seeds, and no variable, is put in its place (the same gradients result).
    """
    import tensorflow as tf

    current = []

    class Tape(tf.GradientTape):
        def __init__(self, persistent=False, watch_accessed_variables=True):
            super().__init__(persistent=persistent, watch_accessed_variables=False)

        def __enter__(self):
            tape = super().__enter__()
            if current:
                tape.watch(current[-1])
            return tape

    class TensorFlow:
        GradientTape = Tape

        def __getattr__(self, name):
            return getattr(tf, name)

    original = engine.Program.gradients

    @functools.wraps(original)
    def gradients(self, seeds, args, weights):
        seeds = [tf.convert_to_tensor(s) for s in seeds]
        current.append(seeds)
        try:
            return original(self, seeds, args, weights)
        finally:
            current.pop()

    engine.Program.gradients = gradients
    engine.tf = TensorFlow()


def _count_graph_ops(info: dict) -> None:
    """Records the number of operations of the first traced function in `info["graph_ops"]`."""
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    original = tracing_compilation.trace_function

    @functools.wraps(original)
    def trace_function(*args, **kwargs):
        concrete = original(*args, **kwargs)
        if "graph_ops" not in info:
            info["graph_ops"] = len(concrete.graph.get_operations())
        return concrete

    tracing_compilation.trace_function = trace_function


def _phases(t: dict, start: float, end: float, marks: dict, traced: bool) -> dict:
    """Turns the raw accumulators of one call into the phases of `PHASES`."""
    get = t.get
    compute_end = marks.get("compute_end", end)
    phases = {"total": end - start, "post": end - compute_end}
    phases["front"] = phases["total"] - get("compute", 0.0) - phases["post"]
    build = get("build", 0.0)
    parts = ("build.loss", "build.graph", "build.diagnostics", "build.rebuild")
    phases.update({key: get(key, 0.0) for key in ("build", *parts)})
    phases["build.rest"] = build - sum(get(k, 0.0) for k in parts)
    # Outside a trace (eager variant), the forward and backward run eagerly inside `compute`.
    trace = get("trace", 0.0) if traced else get("trace.vis", 0.0)
    phases["trace"] = trace
    phases["trace.forward"] = get("trace.forward", 0.0)
    phases["trace.gradient"] = get("trace.gradient", 0.0)
    vis_rest = get("trace.vis", 0.0) - phases["trace.forward"] - phases["trace.gradient"]
    phases["trace.vis_rest"] = vis_rest
    phases["trace.tf"] = trace - get("trace.vis", 0.0) if traced else 0.0
    phases["execute"] = get("execute", 0.0)
    phases["compute_rest"] = get("compute", 0.0) - build - trace - phases["execute"]
    return phases


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


def child(target: str, variant: str) -> dict:
    """Times the first and second call of `target` in this fresh process, phase by phase."""
    import tensorflow as tf

    from vis import engine

    if variant == "no_grappler":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    if variant == "eager":
        engine.compile_method = lambda method, input_signature=None: method
    if variant == "inputs_watched":
        _watch_inputs_only(engine)
    info = {}
    _count_graph_ops(info)
    timers = Timers()
    _install(timers)
    model, x = _build()
    function = _function(target)
    result = {"target": target, "variant": variant}
    for key, class_index in (("first", CLASS), ("second", SECOND_CLASS)):
        timers.take()
        start = time.perf_counter()
        function(model, -1, class_index, x)
        end = time.perf_counter()
        result[key] = _phases(timers.totals, start, end, timers.marks, traced=variant != "eager")
    result["first"]["graph_ops"] = info.get("graph_ops", 0)
    return result


def profile_child(target: str, top: int, profiler: str) -> None:
    """Prints the top functions of the first call by cumulative time (cProfile or pyinstrument)."""
    model, x = _build()
    function = _function(target)
    start = time.perf_counter()
    if profiler == "pyinstrument":
        from pyinstrument import Profiler

        with Profiler(interval=0.001) as prof:
            function(model, -1, CLASS, x)
        print(prof.output_text(unicode=False, color=False, show_all=False))
    else:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(function, model, -1, CLASS, x)
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.strip_dirs().sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(max(10, top // 2))
    seconds = time.perf_counter() - start
    print(f"first {target} under {profiler}: {seconds:.3f} s (profiler overhead included)")


def spawn(*arguments: str) -> str:
    """Runs this script with `arguments` in a fresh interpreter and returns its stdout."""
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise RuntimeError(f"child {arguments} failed with exit code {done.returncode}")
    return done.stdout


def _median_phases(runs: list) -> dict:
    """Median over rounds of each phase (`second.*` keys come from the second call)."""
    medians = {}
    for key, _, _ in PHASES:
        call, name = ("second", key.split(".", 1)[1]) if key.startswith("second.") else ("first", key)
        medians[key] = statistics.median(run[call][name] for run in runs)
    return medians


def report(results: dict, rounds: int) -> None:
    """Prints, per target, the median phases of the first call with their share of its total."""
    for target, runs in results.items():
        med = {variant: _median_phases(variant_runs) for variant, variant_runs in runs.items()}
        base = med["compiled"]
        print(f"\nfirst visualize_{target}: medians over {rounds} fresh processes, seconds (share of total)")
        header = "(compiled: passes traced; all eager: passes run)"
        titles = {"compiled": "compiled", "no_grappler": "no Grappler", "inputs_watched": "tape: seeds only"}
        print(f"{header:54} " + " ".join(f"{titles.get(v, 'all eager'):>16}" for v in VARIANTS))
        for key, label, indent in PHASES:
            cells = []
            for variant in VARIANTS:
                value, total = med[variant][key], med[variant]["total"]
                if key == "graph_ops":
                    cells.append(f"{value:8.0f} {'':>7}")
                    continue
                share = "" if key.startswith("second.") else f"({100 * value / total:3.0f}%)"
                cells.append(f"{value:8.3f} {share:>7}")
            print(f"{'  ' * indent + label:54} " + " ".join(cells))
        first_run, warm_run = base["execute"], base["second.execute"]
        grappler = base["execute"] - med["no_grappler"]["execute"]
        print(
            f"  one-off cost of the first compiled run (first - warm run): {first_run - warm_run:.3f} s; "
            f"Grappler's part (compiled - no Grappler): {grappler:.3f} s"
        )
        compiled_cost = base["trace"] + first_run - warm_run
        print(
            f"  tracing + first-run one-offs: {compiled_cost:.3f} s = "
            f"{100 * compiled_cost / base['total']:.0f}% of the first call; all-eager first call: "
            f"{med['eager']['total']:.3f} s ({med['eager']['total'] / base['total']:.2f}x the compiled one)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--top", type=int, default=0, help="also profile the first call; print N functions")
    parser.add_argument("--profiler", choices=["cprofile", "pyinstrument"], default="cprofile")
    parser.add_argument("--only", choices=TARGETS, help="only this target")
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", metavar="TARGET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(MARK + json.dumps(child(*args.child)), flush=True)
        return
    if args.profile_child:
        profile_child(args.profile_child, args.top, args.profiler)
        return
    targets = [args.only] if args.only else TARGETS
    results = {t: {v: [] for v in VARIANTS} for t in targets}
    start = time.perf_counter()
    for round_index in range(args.rounds):
        for target in targets:
            for variant in VARIANTS:
                out = spawn("--child", target, variant)
                line = [s for s in out.splitlines() if s.startswith(MARK)][-1]
                results[target][variant].append(json.loads(line[len(MARK) :]))
        print(f"round {round_index + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)", flush=True)
    report(results, args.rounds)
    if args.top:
        for target in targets:
            print(f"\n===== {args.profiler}: first visualize_{target}, top {args.top} =====")
            print(spawn("--profile-child", target, "--top", str(args.top), "--profiler", args.profiler))


if __name__ == "__main__":
    main()
