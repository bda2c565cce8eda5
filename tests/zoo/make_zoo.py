"""Builds and saves the zoo: `python -m tests.zoo.make_zoo OUTDIR [MODEL_ID ...]`.

Each model is built from a cleared Keras session (names as a user's own
script gets them) with random weights and saved to OUTDIR. One line
`ZOO-MODEL {json}` is printed per saved model as soon as it is written (so a
consumer can start on it while the others are built), then `manifest.json`
(the list of entries) is written and `ZOO-DONE <cpu seconds>` printed.

`MODELS` and `CELLS` are static: tests parametrize over them before the zoo
exists. Each model declares its flags; `describe` measures them on the
built model and the maker refuses to write a manifest where they disagree.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # A oneDNN crash on these CPUs (see DATA.md).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from tests.zoo import builders, builders_apps  # noqa: E402
from tests.zoo.describe import describe  # noqa: E402

# id: (file, builder, declared flags). Build order = this order: seq_input first (the one real
# `python -m vis` run uses it), then the slowest to check.
MODELS = {
    "seq_input": ("seq_input.keras", builders.seq_input, {"image", "relu", "softmax"}),
    "convnext_tiny": (
        "convnext_tiny.keras",
        builders_apps.convnext_tiny,
        {"image", "softmax", "nested", "operators"},
    ),
    "densenet121": ("densenet121.keras", builders_apps.densenet121, {"image", "relu", "softmax"}),
    "efficientnetb0": ("efficientnetb0.keras", builders_apps.efficientnetb0, {"image", "softmax"}),
    "resnet50": ("resnet50.keras", builders_apps.resnet50, {"image", "relu", "softmax"}),
    "mobilenetv2": ("mobilenetv2.keras", builders_apps.mobilenetv2, {"image", "relu", "softmax"}),
    "transfer_functional": (
        "transfer_functional.keras",
        builders_apps.transfer_functional,
        {"image", "relu", "nested", "operators"},
    ),
    "transfer_sequential": (
        "transfer_sequential.keras",
        builders_apps.transfer_sequential,
        {"image", "relu", "softmax", "nested"},
    ),
    "transfer_h5": ("transfer_h5.h5", builders_apps.transfer_h5, {"image", "relu", "softmax", "nested"}),
    "seq_input_h5": ("seq_input_h5.h5", builders.seq_input, {"image", "relu", "softmax"}),
    "seq_input_shape": ("seq_input_shape.keras", builders.seq_input_shape, {"image", "relu", "softmax"}),
    "seq_fit": ("seq_fit.keras", builders.seq_fit, {"image", "relu"}),
    "functional_residual": (
        "functional_residual.keras",
        builders.functional_residual,
        {"image", "relu", "softmax", "operators"},
    ),
    "functional_h5": ("functional_h5.h5", builders.functional_branches, {"image", "relu", "softmax"}),
    "nested_block": ("nested_block.h5", builders.nested_block, {"image", "relu", "nested"}),
    "augment_nested": (
        "augment_nested.keras",
        builders.augment_nested,
        {"image", "relu", "random", "nested"},
    ),
    "augment_flat": ("augment_flat.keras", builders.augment_flat, {"image", "relu", "softmax", "random"}),
    "conv1d": ("conv1d.keras", builders.conv1d, {"relu"}),
    "text": ("text.keras", builders.text, {"integer", "relu", "softmax"}),
    "transformer": ("transformer.keras", builders.transformer, {"relu", "softmax", "operators", "no_conv"}),
    "mixed_precision": (
        "mixed_precision.keras",
        builders.mixed_precision,
        {"image", "relu", "softmax", "mixed"},
    ),
    "multi_output": (
        "multi_output.keras",
        builders.multi_output,
        {"image", "relu", "softmax", "multi_output"},
    ),
    "multi_input": ("multi_input.keras", builders.multi_input, {"relu", "multi_input"}),
}
MODEL_IDS = list(MODELS)

CELLS = [
    "load",
    "saliency",
    "saliency_second_call",
    "saliency_mid",
    "guided",
    "rectified",
    "grad_cam",
    "activation_output",
    "activation_mid",
    "text_wrt_embedding",
    "custom_loss",
    "legacy_api",
    "apply_modifications",
    "augmentation_deterministic",
    "multi_input_dict",
    "multi_input_wrt",
    "batch_axis_one",
    "batch_of_three",
    "keep_batch_axis",
    "smoothgrad",
    "integrated_gradients",
    "cam_family",
    "score_cam",
    "guided_cam",
    "cli_saliency",
    "cli_cam",
    "cli_activation",
    "model_unchanged",
]
CLI_CELLS = ["cli_saliency", "cli_cam", "cli_activation"]

# Cost tiers, from CPU seconds measured here (2 cores): a trace of a whole keras.applications
# network costs 1-9 s, each function traces it again, and one gradient through ConvNeXtTiny takes
# about 10 s on these CPUs. To keep the default run near 40 s of wall time, without VIS_ZOO_FULL=1
# the FULL_ONLY models are not even built (the two transfer-learning models that stay cover a
# nested MobileNetV2 and a nested VGG16), and the SLOW cells of a model are left out (activation
# maximization: a while-loop trace plus ten eager reference steps through the base, about 6 s
# each on MobileNetV2; the `vis` command cells: about 10 s for a MobileNetV2 transfer model).
FULL_ONLY = {"convnext_tiny", "densenet121", "efficientnetb0", "resnet50", "mobilenetv2", "transfer_h5"}
SLOW = {
    "transfer_functional": {"activation_output", "activation_mid", *CLI_CELLS},
    "transfer_sequential": {"activation_output", "activation_mid"},
}


def applies(cell: str, flags) -> bool:
    """Whether a cell applies to a model with these flags."""
    flags = set(flags)
    gradient_input = "integer" not in flags
    single = gradient_input and "multi_input" not in flags
    rules = {
        "text_wrt_embedding": "integer" in flags,
        "custom_loss": "multi_input" not in flags,
        "legacy_api": single,
        "batch_axis_one": single,
        "batch_of_three": single,
        "keep_batch_axis": single,
        "smoothgrad": gradient_input,
        "integrated_gradients": single,
        "score_cam": "multi_input" not in flags,
        "guided_cam": single,
        "apply_modifications": "softmax" in flags,
        "augmentation_deterministic": "random" in flags,
        "multi_input_dict": "multi_input" in flags,
        "multi_input_wrt": "multi_input" in flags,
        **{c: "image" in flags for c in CLI_CELLS},
        **{
            c: gradient_input
            for c in [
                "saliency",
                "saliency_second_call",
                "saliency_mid",
                "guided",
                "rectified",
                "activation_mid",
            ]
        },
    }
    return rules.get(cell, True)


def cells_for(model_id: str) -> list[str]:
    """The cells that apply to a model (whether or not a default run includes them)."""
    return [cell for cell in CELLS if applies(cell, MODELS[model_id][2])]


def skipped_for_speed(model_id: str, cell: str, full: bool) -> bool:
    """Whether a cell is left out of a default (not full) run to keep the zoo fast."""
    if full:
        return False
    return model_id in FULL_ONLY or cell in SLOW.get(model_id, ())


def active_ids(full: bool) -> list[str]:
    """The models a run builds: those with at least one cell it runs."""
    return [m for m in MODEL_IDS if any(not skipped_for_speed(m, c, full) for c in cells_for(m))]


def build(model_id: str):
    """Builds one model from a cleared session; returns `(model, info, seconds)`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(MODEL_IDS.index(model_id))
    start = time.perf_counter()
    model, info = MODELS[model_id][1]()
    return model, info, time.perf_counter() - start


def entry(model_id: str, model, info: dict) -> dict:
    """The manifest entry of a built model; raises if its measured flags differ from the declared ones."""
    file, _, declared = MODELS[model_id]
    described = describe(model, info)
    measured = set(described.pop("flags"))
    expected = set(declared) - {"mixed"}  # Declared only: the dtype policy is not a graph property.
    if measured != expected:
        raise AssertionError(f"{model_id}: declared flags {sorted(expected)}, measured {sorted(measured)}")
    builder = MODELS[model_id][1]
    return {
        "id": model_id,
        "file": file,
        "format": os.path.splitext(file)[1][1:],
        "kind": builder.__name__,
        "class": type(model).__name__,
        "description": (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else "",
        "flags": sorted(declared),
        **described,
        "cells": cells_for(model_id),
    }


def write_images(outdir: str) -> None:
    """Two small pictures for the `vis` command (not the models' sizes: the command resizes)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(os.path.join(outdir, "rgb.png"))
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(os.path.join(outdir, "gray.png"))


def make(outdir: str, ids=None, emit=None) -> list[dict]:
    """Builds and saves the models (all, or `ids`); emits one line per model; writes manifest.json.

    Args:
        emit: Called with each line (default: print it and flush).
    """
    emit = emit or (lambda line: print(line, flush=True))
    os.makedirs(outdir, exist_ok=True)
    write_images(outdir)
    entries = []
    for model_id in ids or MODEL_IDS:
        model, info, build_seconds = build(model_id)
        item = entry(model_id, model, info)
        path = os.path.join(outdir, item["file"])
        start = time.perf_counter()
        model.save(path)
        item.update(build_seconds=build_seconds, save_seconds=time.perf_counter() - start)
        item["bytes"] = os.path.getsize(path)
        entries.append(item)
        emit("ZOO-MODEL " + json.dumps(item))
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    emit(f"ZOO-DONE {usage.ru_utime + usage.ru_stime:.2f}")
    return entries


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.zoo.make_zoo OUTDIR [MODEL_ID ...]")
    make(sys.argv[1], sys.argv[2:] or None)
