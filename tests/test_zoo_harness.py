"""The zoo's cells can fail: a wrong map, a skipped warning or a changed model is reported.

Each test runs one cell of `tests/zoo` on a small model built in this
process, with the vis function the cell calls swapped for a subtly wrong
one, and expects the cell to fail. The first test checks the cells pass
with the real functions on such a model (the engine handles models built in
the process today).
"""

import numpy as np
import pytest

from tests.zoo import cells, cells_methods, cells_more, make_zoo, run_model
from tests.zoo.context import Context
from vis.utils.utils import deprocess_input
from vis.visualization import visualize_cam, visualize_saliency

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Layer 'dense' ends in a softmax")]


@pytest.fixture(scope="module")
def ctx():
    model, info, _ = make_zoo.build("seq_input")
    return Context(model, make_zoo.entry("seq_input", model, info))


def _run(cell, ctx):
    return run_model.timed(cell, ctx)


@pytest.mark.parametrize(
    "cell",
    [
        "saliency",
        "guided",
        "rectified",
        "grad_cam",
        "activation_mid",
        "legacy_api",
        "smoothgrad",
        "integrated_gradients",
        "cam_family",
        "score_cam",
        "guided_cam",
    ],
)
def test_cells_pass_with_the_real_functions(ctx, cell):
    result = _run(cells.CELLS[cell], ctx)
    assert result["ok"], result["detail"]


def _wrong_class(model, layer, filter_indices, seed, **kwargs):
    other = 0 if filter_indices == 1 else 1
    return visualize_saliency(model, layer, other, seed, **kwargs)


def _flipped(model, layer, filter_indices, seed, **kwargs):
    return visualize_saliency(model, layer, filter_indices, seed, **kwargs)[::-1]


def _unguided(model, layer, filter_indices, seed, backprop_modifier=None, **kwargs):
    return visualize_saliency(model, layer, filter_indices, seed, **kwargs)


@pytest.mark.parametrize(
    "cell, wrong",
    [
        ("saliency", _wrong_class),
        ("saliency", _flipped),
        ("saliency_second_call", _wrong_class),
        ("saliency_mid", _wrong_class),
        ("guided", _unguided),
        ("rectified", _unguided),
        ("batch_of_three", _flipped),
    ],
)
def test_a_wrong_saliency_map_fails(ctx, monkeypatch, cell, wrong):
    monkeypatch.setattr(cells, "visualize_saliency", wrong)
    monkeypatch.setattr(cells_more, "visualize_saliency", wrong)
    function = cells.CELLS[cell]
    assert not _run(function, ctx)["ok"]


def test_a_missing_no_relu_warning_fails(ctx, monkeypatch):
    no_relu = {**ctx.entry, "flags": [f for f in ctx.entry["flags"] if f != "relu"]}
    other = Context(ctx.model, no_relu)  # vis finds ReLUs here: it warns nothing and modifies the map.
    assert not _run(cells.CELLS["guided"], other)["ok"]


def test_a_wrong_cam_fails(ctx, monkeypatch):
    def squared(*args, **kwargs):
        return visualize_cam(*args, **kwargs) ** 2

    monkeypatch.setattr(cells, "visualize_cam", squared)
    assert not _run(cells.CELLS["grad_cam"], ctx)["ok"]


def test_a_cam_of_the_wrong_layer_fails(ctx, monkeypatch):
    def first_conv(model, layer, filter_indices, seed, penultimate_layer_idx=None):
        return visualize_cam(model, layer, filter_indices, seed, penultimate_layer_idx=0)

    monkeypatch.setattr(cells, "visualize_cam", first_conv)
    assert not _run(cells.CELLS["grad_cam"], ctx)["ok"]


def test_an_input_that_was_not_optimized_fails(ctx, monkeypatch):
    def unchanged(model, layer, index, seed_input=None, input_range=(0, 255), **kwargs):
        return deprocess_input(seed_input, input_range)

    monkeypatch.setattr(cells, "visualize_activation", unchanged)
    assert not _run(cells.CELLS["activation_output"], ctx)["ok"]


def test_a_wrong_legacy_image_fails(ctx, monkeypatch):
    monkeypatch.setattr(
        cells_more, "visualize_class_saliency", lambda *a, **k: np.zeros((16, 16, 3), np.uint8)
    )
    assert not _run(cells.CELLS["legacy_api"], ctx)["ok"]


def test_apply_modifications_that_ignores_the_change_fails(ctx, monkeypatch):
    monkeypatch.setattr(cells_more.utils, "apply_modifications", lambda model: model)
    assert not _run(cells.CELLS["apply_modifications"], ctx)["ok"]


def test_a_changed_model_fails(ctx):
    model = make_zoo.build("seq_input")[0]
    probe = ctx.batch[0]
    before = (*run_model.snapshot(model), model(probe, training=False))
    weights = model.get_weights()
    model.set_weights([w + 1e-3 for w in weights])
    assert not run_model.timed(run_model._unchanged, model, before, probe)["ok"]


def _swapped(name: str, wrong):
    """The vis function `name` of cells_methods, changed by `wrong(function, args, kwargs)`."""
    real = getattr(cells_methods, name)
    return name, lambda *args, **kwargs: wrong(real, args, kwargs)


@pytest.mark.parametrize(
    "cell, swap",
    [
        ("smoothgrad", _swapped("visualize_saliency", lambda f, a, k: f(*a, **{**k, "smooth_noise": 0.5}))),
        (
            "integrated_gradients",
            _swapped("integrated_gradients", lambda f, a, k: f(*a, **{**k, "steps": 1})),
        ),
        ("cam_family", _swapped("visualize_layer_cam", lambda f, a, k: f(*a, **k) ** 2)),
        ("cam_family", _swapped("visualize_cam_plus_plus", lambda f, a, k: visualize_cam(*a, **k))),
        ("score_cam", _swapped("visualize_score_cam", lambda f, a, k: f(*a, **{**k, "max_n": 1}))),
        (
            "guided_cam",
            _swapped("visualize_guided_cam", lambda f, a, k: f(*a, **{**k, "backprop_modifier": None})),
        ),
    ],
)
def test_a_wrong_map_of_the_new_methods_fails(ctx, monkeypatch, cell, swap):
    name, wrong = swap
    monkeypatch.setattr(cells_methods, name, wrong)
    assert not _run(cells.CELLS[cell], ctx)["ok"]
