"""The `vis` command: the demo on the shipped model, a user's model and images, and bad input."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from vis import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_demo_writes_figures_and_grad_cam_lands_on_the_strokes(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out)]) == 0
    expected = {"saliency.png", "guided_saliency.png", "grad_cam.png", "activation_maximization.png"}
    assert expected | {"overview.png", "maps.npz"} <= set(os.listdir(out))
    assert str(out.resolve()) in capsys.readouterr().out
    with np.load(out / "maps.npz") as maps:
        images, heat = maps["images"] / 255.0, maps["grad_cam"]
        assert maps["activation"].shape == (10, 28, 28)
    assert sorted(maps_labels(out)) == list(range(10))
    for image, heatmap in zip(images, heat):
        strokes = image > 0.5
        assert heatmap.sum() > 0
        ratio = (heatmap[strokes].sum() / heatmap.sum()) / strokes.mean()
        assert ratio >= 1.5, ratio


def maps_labels(out):
    """The labels the demo stored with its maps."""
    with np.load(out / "maps.npz") as maps:
        return maps["labels"].tolist()


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    """A small saved CNN with a softmax head, on 16x16 RGB images."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return str(path)


@pytest.fixture
def png_file(tmp_path):
    """A 40x30 (width x height) grayscale PNG: a different size and channel count than the model's."""
    pixels = (np.random.default_rng(0).random((30, 40)) * 255).astype(np.uint8)
    path = tmp_path / "picture.png"
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.mark.parametrize("command", ["saliency", "cam"])
def test_attention_on_a_saved_model_writes_overlay_of_image_size(
    command, tiny_model_file, png_file, tmp_path, capsys
):
    out = tmp_path / "out"
    assert cli.main([command, tiny_model_file, png_file, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resized" in printed and "predicted class" in printed and "softmax" in printed
    with Image.open(out / f"picture_{command}.png") as overlay:
        assert overlay.size == (40, 30)
        assert overlay.mode == "RGB"
    heatmap = np.load(out / f"picture_{command}.npy")
    assert heatmap.shape == (16, 16)
    assert 0.0 <= heatmap.min() <= heatmap.max() <= 1.0


def test_guided_saliency_with_layer_and_class(tiny_model_file, png_file, tmp_path):
    out = tmp_path / "out"
    args = ["saliency", tiny_model_file, png_file, "--layer", "-1", "--class", "2", "--backprop", "guided"]
    assert cli.main([*args, "--out", str(out)]) == 0
    assert np.load(out / "picture_saliency.npy").shape == (16, 16)


def test_activation_needs_no_image(tiny_model_file, tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(["activation", tiny_model_file, "--class", "1", "--max-iter", "5", "--out", str(out)]) == 0
    )
    with Image.open(out / "activation_out_1.png") as image:
        assert image.size == (16, 16)
    assert np.load(out / "activation_out_1.npy").shape == (16, 16, 3)


def _error(capsys, argv):
    """Runs the command, expecting exit code 2; returns its stderr."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_missing_model_file(capsys, tmp_path):
    err = _error(capsys, ["cam", str(tmp_path / "missing.keras"), "x.png"])
    assert "model file not found" in err


def test_unreadable_model(capsys, tmp_path, png_file):
    for name in ["broken.keras", "broken.h5"]:
        path = tmp_path / name
        path.write_bytes(b"not a model")
        assert "could not read the model file" in _error(capsys, ["saliency", str(path), png_file])


def test_missing_image_file(capsys, tiny_model_file, tmp_path):
    err = _error(capsys, ["saliency", tiny_model_file, str(tmp_path / "nothing.png")])
    assert "image file not found" in err


def test_unreadable_image_file(capsys, tiny_model_file, tmp_path):
    path = tmp_path / "text.png"
    path.write_text("not an image")
    assert "text.png" in _error(capsys, ["cam", tiny_model_file, str(path), "--out", str(tmp_path)])


@pytest.mark.parametrize("layer", ["no_such_layer", "7", "-9"])
def test_unknown_layer(capsys, tiny_model_file, png_file, layer, tmp_path):
    err = _error(capsys, ["saliency", tiny_model_file, png_file, "--layer", layer, "--out", str(tmp_path)])
    assert "unknown layer" in err


def test_python_m_vis_reports_missing_model_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vis", "saliency", "missing.keras"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=120,
    )
    assert result.returncode == 2
    assert "model file not found: missing.keras" in result.stderr
    assert "Traceback" not in result.stderr
