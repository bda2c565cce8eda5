"""Loads ONE zoo model in this process and runs every applicable cell on it.

    python -m tests.zoo.run_model OUTDIR/MODEL_FILE [--cli] [--full]
    python -m tests.zoo.run_model --in-process MODEL_ID [--full]

Prints a JSON dict `{cell: {"ok": bool, "detail": str, "seconds": float}}`.
The file's manifest entry is read from `manifest.json` next to it. With
`--cli` only the `vis` command cells run (they must load the file first in
their process). `--in-process` builds the model with make_zoo's builder in
this process instead of loading a file: the engine works on such models
today, so agreement there validates the references.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from tests.conftest import snapshot  # noqa: E402
from tests.zoo import (  # noqa: E402
    cells_methods,  # noqa: E402, F401 - registers its cells
    cells_more,  # noqa: E402, F401 - registers its cells
    cli_cells,
    make_zoo,
)
from tests.zoo.cells import CELLS  # noqa: E402
from tests.zoo.context import Context  # noqa: E402


def describe_error(error: BaseException) -> str:
    """`Type: message [at vis/file.py:line]`: the deepest frame in vis, or in the zoo's references."""
    frames = traceback.extract_tb(error.__traceback__)
    where = [f for f in frames if f"{os.sep}vis{os.sep}" in f.filename]
    where = where or [f for f in frames if "references" in f.filename] or frames[-1:]
    place = ""
    if where:
        frame = where[-1]
        place = f" [at {os.path.relpath(frame.filename)}:{frame.lineno} in {frame.name}]"
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message[:400]}{place}"


def timed(function, *args) -> dict:
    """Runs a cell: `{"ok", "detail", "seconds"}`, and `"cpu"`: this process's CPU seconds (all threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        detail, ok = function(*args), True
    except Exception as error:  # noqa: BLE001 - every failure is a result
        detail, ok = describe_error(error), False
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"ok": ok, "detail": str(detail), "seconds": round(seconds, 3), "cpu": round(cpu, 3)}


def _api_cells(entry: dict, full: bool) -> list[str]:
    skip = {"load", "model_unchanged", *make_zoo.CLI_CELLS}
    return [
        c for c in entry["cells"] if c not in skip and not make_zoo.skipped_for_speed(entry["id"], c, full)
    ]


def _unchanged(model, before, probe) -> str:
    import numpy as np

    after = snapshot(model)
    if len(after[0]) != len(before[0]) or any(not np.array_equal(a, b) for a, b in zip(after[0], before[0])):
        raise AssertionError("the model's weights changed")
    if after[1:] != before[1:3]:
        raise AssertionError("the layers' activations or trainable flags changed")
    now = model(probe, training=False)
    for a, b in zip(keras.tree.flatten(now), keras.tree.flatten(before[3])):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), "the model's predictions changed"
        )
    return f"{len(after[0])} weight arrays, activations, trainable flags and predictions unchanged"


def run_api(model, entry: dict, full: bool = False) -> dict:
    """Runs the API cells (and `model_unchanged` last) on a loaded or built model."""
    ctx = Context(model, entry)
    probe = ctx.batch if len(ctx.batch) > 1 else ctx.batch[0]
    before = (*snapshot(model), model(probe, training=False))
    results = {name: timed(CELLS[name], ctx) for name in _api_cells(entry, full)}
    results["model_unchanged"] = timed(_unchanged, model, before, probe)
    return results


def _load(path: str):
    start = time.perf_counter()
    model = keras.models.load_model(path)
    return model, time.perf_counter() - start


def run_file(path: str, full: bool = False, cli: bool = False) -> dict:
    """Loads the model file (the first thing this process does with Keras) and runs its cells."""
    outdir = os.path.dirname(os.path.abspath(path))
    with open(os.path.join(outdir, "manifest.json")) as f:
        entry = next(e for e in json.load(f) if e["file"] == os.path.basename(path))
    return run_entry(entry, outdir, full, cli)


def run_entry(entry: dict, outdir: str, full: bool = False, cli: bool = False) -> dict:
    """`run_file` for a manifest entry."""
    import vis

    origin = f"vis from {os.path.dirname(vis.__file__)}"
    if cli:
        return _run_cli(entry, outdir, origin)
    path = os.path.join(outdir, entry["file"])
    start = time.perf_counter()
    try:
        model, seconds = _load(path)
    except Exception as error:  # noqa: BLE001 - reported as the load cell; the others cannot run
        failed = {"ok": False, "detail": "the model did not load", "seconds": 0.0}
        results = {cell: dict(failed) for cell in [*_api_cells(entry, full), "model_unchanged"]}
        load = {"ok": False, "detail": describe_error(error), "seconds": time.perf_counter() - start}
        return {"load": load, **results}
    load = {"ok": True, "detail": f"loaded in {seconds:.2f} s; {origin}", "seconds": round(seconds, 3)}
    return {"load": load, **run_api(model, entry, full)}


def _run_cli(entry: dict, outdir: str, origin: str) -> dict:
    run = cli_cells.run_commands(entry, outdir)
    results, ctx = {}, None
    for name, (error, seconds) in run["outcomes"].items():
        if error is not None:
            results[name] = {"ok": False, "detail": describe_error(error), "seconds": round(seconds, 3)}
            continue
        if ctx is None:  # The command ran first in this process; now load the file for the references.
            try:
                ctx = Context(cli_cells.load_after(run), entry)
            except Exception as error:  # noqa: BLE001 - reported on the cell
                detail = f"loading the model for the reference: {describe_error(error)}"
                results[name] = {"ok": False, "detail": detail, "seconds": round(seconds, 3)}
                continue
        result = timed(cli_cells.CHECKS[name], ctx, run)
        result["seconds"] = round(result["seconds"] + seconds, 3)
        results[name] = result
    return results


def run_in_process(model_id: str, full: bool = False) -> dict:
    """Builds the model in this process (no save, no load) and runs the API cells on it."""
    model, info, seconds = make_zoo.build(model_id)
    entry = make_zoo.entry(model_id, model, info)
    load = {
        "ok": True,
        "detail": f"built in-process in {seconds:.2f} s (no file)",
        "seconds": round(seconds, 3),
    }
    return {"load": load, **run_api(model, entry, full)}


def main(argv: list[str]) -> int:
    full = "--full" in argv
    args = [a for a in argv if a not in ("--full", "--cli")]
    if args and args[0] == "--in-process":
        results = run_in_process(args[1], full)
    else:
        results = run_file(args[0], full, cli="--cli" in argv)
    print(json.dumps(results, indent=1))
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
