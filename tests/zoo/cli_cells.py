"""The `vis` command on a zoo model: `vis.cli.main([...])` in a fresh process, maps checked.

These cells run in a process of their own (not after the API cells): the
command must be the first thing to load the file, as when a user runs it.
"""

from __future__ import annotations

import contextlib
import io
import os
import time

import keras
import numpy as np

from tests.zoo import references as refs
from tests.zoo.context import Context, check_map
from vis import cli


def _run(argv: list[str]) -> str:
    """Runs the command; raises with its output unless it exits with 0; returns its stdout."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code
    if code != 0:
        raise AssertionError(
            f"vis {' '.join(argv[:1])} exited with {code}: {(err.getvalue() or out.getvalue())[-400:]}"
        )
    return out.getvalue()


def _written(folder: str, stem: str, shape: tuple) -> np.ndarray:
    for suffix in (".png", ".npy"):
        if not os.path.isfile(os.path.join(folder, stem + suffix)):
            raise AssertionError(f"{stem}{suffix} not written; the folder has {sorted(os.listdir(folder))}")
    array = np.load(os.path.join(folder, stem + ".npy"))
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise AssertionError(
            f"{stem}.npy: shape {array.shape} (expected {shape}), finite {np.isfinite(array).all()}"
        )
    return array


def run_commands(entry: dict, outdir: str) -> dict:
    """Runs the three commands; returns where they wrote and `{cell: (error or None, seconds)}`."""
    path = os.path.join(outdir, entry["file"])
    shape = tuple(entry["inputs"][0]["shape"])
    image = os.path.join(outdir, "gray.png" if shape[-1] == 1 else "rgb.png")
    folder = os.path.join(outdir, "cli", entry["id"])
    commands = {
        "cli_saliency": ["saliency", path, image, "--layer", entry["layer"], "--class", "1", "--out", folder],
        "cli_cam": ["cam", path, image, "--layer", entry["layer"], "--class", "1", "--out", folder],
        "cli_activation": ["activation", path, "--class", "0", "--max-iter", "5", "--out", folder],
    }
    outcomes = {}
    for name, argv in commands.items():
        start = time.perf_counter()
        try:
            _run(argv)
            outcomes[name] = (None, time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001 - reported per cell
            outcomes[name] = (error, time.perf_counter() - start)
    return {"folder": folder, "image": image, "path": path, "outcomes": outcomes}


def check_saliency(ctx: Context, run: dict) -> str:
    shape = tuple(ctx.entry["inputs"][0]["shape"])
    got = _written(run["folder"], "rgb_saliency" if shape[-1] == 3 else "gray_saliency", shape[:-1])
    _, x = cli.load_image(run["image"], shape, 1 / 255)
    linear = _is_softmax(ctx.layer)
    expected = refs.gradients(ctx.model, [x[None]], ctx.layer, [1], linear=linear)[0][1][0][0]
    return check_map(got, refs.input_map(expected)[0], ctx, "saliency.npy") + (" (logits)" if linear else "")


def check_cam(ctx: Context, run: dict) -> str:
    shape = tuple(ctx.entry["inputs"][0]["shape"])
    got = _written(run["folder"], "rgb_cam" if shape[-1] == 3 else "gray_cam", shape[:-1])
    _, x = cli.load_image(run["image"], shape, 1 / 255)
    penultimate = refs.find(ctx.model, ctx.entry["cam_auto"])
    expected = refs.grad_cam(
        ctx.model, [x[None]], ctx.layer, [1], penultimate, shape[:-1], _is_softmax(ctx.layer)
    )
    return check_map(got, expected[1][0], ctx, "cam.npy")


def check_activation(ctx: Context, run: dict) -> str:
    shape = tuple(ctx.entry["inputs"][0]["shape"])
    _written(run["folder"], f"activation_{ctx.entry['first_output_layer']}_0", shape)
    return f"activation_{ctx.entry['first_output_layer']}_0.png/.npy written"


def _is_softmax(layer) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"


CHECKS = {"cli_saliency": check_saliency, "cli_cam": check_cam, "cli_activation": check_activation}


def load_after(run: dict):
    return keras.models.load_model(run["path"])
