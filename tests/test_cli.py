"""The `vis` command: the demo on the shipped model, a user's model and images, and bad input."""

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.models import saved_by_another_process
from vis import cli
from vis.backend import set_random_seed
from vis.visualization import methods, visualize_cam, visualize_integrated_gradients, visualize_saliency

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fresh_venv_with_vis(tmp_path) -> str:
    """Builds vis's wheel and installs it into a new virtual environment; returns its `bin/` folder.

    Offline: the wheel is built without build isolation, and the new
    environment reaches TensorFlow and the other dependencies of this
    interpreter through a `.pth` file (installing TensorFlow again would
    download 600 MB). vis itself, its data files and the `vis` script come
    only from the wheel.
    """
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "site", ".pytest_cache")
    shutil.copytree(ROOT, src, ignore=ignore)
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*build, "-w", str(dist), str(src)], check=True, capture_output=True)
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    python = str(bin_dir / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    wheel = next(dist.glob("keras_vis-*.whl"))
    install = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    # Only now the dependencies: with this interpreter's packages visible, pip would find
    # the keras-vis installed here "already satisfied" and skip the wheel.
    parent = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "_parent_dependencies.pth").write_text("\n".join(sorted(parent)) + "\n")
    return str(bin_dir)


@pytest.mark.slow
def test_demo_in_a_fresh_virtual_environment(tmp_path):
    bin_dir = _fresh_venv_with_vis(tmp_path)
    where = subprocess.run(
        [os.path.join(bin_dir, "python"), "-c", "import vis; print(vis.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTHONPATH", None)
    run = subprocess.run(
        [os.path.join(bin_dir, "vis"), "demo", "--out", "demo"], cwd=tmp_path, env=env, capture_output=True
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    out = tmp_path / "demo"
    assert str(out.resolve()) in run.stdout.decode()
    expected = {"saliency.png", "guided_saliency.png", "grad_cam.png", "activation_maximization.png"}
    assert expected | {"overview.png", "maps.npz", "evaluation.csv", "evaluation.png"} <= set(os.listdir(out))
    assert "| edge map " in run.stdout.decode()  # The table of vis evaluate.
    with np.load(out / "maps.npz") as maps:
        images, heat = maps["images"] / 255.0, maps["grad_cam"]
        assert maps["activation"].shape == (10, 28, 28)
        assert sorted(maps["labels"].tolist()) == list(range(10))
    for image, heatmap in zip(images, heat):
        strokes = image > 0.5
        assert heatmap.sum() > 0
        ratio = (heatmap[strokes].sum() / heatmap.sum()) / strokes.mean()
        assert ratio >= 1.5, ratio


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    """A small CNN with a softmax head, on 16x16 RGB images, saved by another process."""
    return saved_by_another_process(
        tmp_path_factory.mktemp("model") / "tiny.keras",
        "keras.Input((16, 16, 3)), layers.Conv2D(4, 3, activation='relu', name='conv'), layers.Flatten(), "
        "layers.Dense(3, activation='softmax', name='out')",
    )


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


@pytest.fixture(scope="module")
def two_conv_h5_file(tmp_path_factory):
    """A CNN with two convolution layers and a softmax head, saved as legacy HDF5 by another process."""
    return saved_by_another_process(
        tmp_path_factory.mktemp("h5") / "two_conv.h5",
        "keras.Input((16, 16, 3)), layers.Conv2D(4, 3, activation='relu', name='conv1'), "
        "layers.Conv2D(4, 3, activation='relu', name='conv2'), layers.GlobalAveragePooling2D(name='gap'), "
        "layers.Dense(3, activation='softmax', name='out')",
    )


@pytest.mark.parametrize("penultimate", [None, "conv1", "0"])
def test_cam_on_an_h5_model_with_a_chosen_penultimate_layer(
    penultimate, two_conv_h5_file, png_file, tmp_path
):
    out = tmp_path / "out"
    extra = [] if penultimate is None else ["--penultimate", penultimate]
    argv = ["cam", two_conv_h5_file, png_file, "--class", "1", "--scale", "0.01", "--out", str(out), *extra]
    assert cli.main(argv) == 0
    written = np.load(out / "picture_cam.npy")
    # The same map from the Python API on the same file and pixels.
    model = cli.linear_head(cli.load_model(two_conv_h5_file), 3)
    _, x = cli.load_image(png_file, (16, 16, 3), 0.01)
    layer = {None: None, "conv1": "conv1", "0": 0}[penultimate]
    expected = visualize_cam(model, 3, 1, x, penultimate_layer_idx=layer)
    np.testing.assert_allclose(written, expected, atol=1e-6)
    default = visualize_cam(model, 3, 1, x)  # conv2, the last conv layer
    assert (penultimate is None) == np.allclose(written, default, atol=1e-6)


@pytest.mark.parametrize("method", ["gradcam++", "layercam", "scorecam"])
def test_cam_methods_write_the_map_of_the_python_api(method, two_conv_h5_file, png_file, tmp_path):
    out = tmp_path / "out"
    argv = ["cam", two_conv_h5_file, png_file, "--class", "1", "--scale", "0.01", "--out", str(out)]
    assert cli.main([*argv, "--method", method]) == 0
    written = np.load(out / f"picture_{method}.npy")
    linear = cli.linear_head(cli.load_model(two_conv_h5_file), 3)
    # Score-CAM keeps the softmax: its weights are probabilities.
    model = cli.load_model(two_conv_h5_file) if method == "scorecam" else linear
    _, x = cli.load_image(png_file, (16, 16, 3), 0.01)
    np.testing.assert_allclose(written, methods.get(method)(model, 3, 1, x), atol=1e-6)
    assert not np.allclose(written, visualize_cam(linear, 3, 1, x), atol=1e-3)


def test_smoothgrad_and_integrated_gradients_write_the_maps_of_the_python_api(
    tiny_model_file, png_file, tmp_path
):
    out = tmp_path / "out"
    set_random_seed(4)
    common = [tiny_model_file, png_file, "--class", "2", "--out", str(out)]
    assert cli.main(["saliency", *common, "--smooth", "5"]) == 0
    assert cli.main(["ig", *common, "--steps", "8", "--baseline", "0.5"]) == 0
    model = cli.linear_head(cli.load_model(tiny_model_file), 2)
    _, x = cli.load_image(png_file, (16, 16, 3), 1 / 255)
    set_random_seed(4)
    smooth = visualize_saliency(model, 2, 2, x, smooth_samples=5)
    np.testing.assert_allclose(np.load(out / "picture_saliency.npy"), smooth, atol=1e-6)
    assert not np.allclose(smooth, visualize_saliency(model, 2, 2, x), atol=1e-3)
    expected = visualize_integrated_gradients(model, 2, 2, x, baseline=0.5, steps=8)
    np.testing.assert_allclose(np.load(out / "picture_ig.npy"), expected, atol=1e-6)


def test_unknown_cam_method_and_bad_counts(capsys, tiny_model_file, png_file, tmp_path):
    err = _error(capsys, ["cam", tiny_model_file, png_file, "--method", "gradkam", "--out", str(tmp_path)])
    assert "unknown --method 'gradkam'" in err and "gradcam++" in err and "Received: --method gradkam" in err
    # The API's argument names become the flags the user typed.
    err = _error(capsys, ["saliency", tiny_model_file, png_file, "--smooth", "-1", "--out", str(tmp_path)])
    assert "--smooth must be an int >= 0" in err and "Received: --smooth -1" in err
    assert "smooth_samples" not in err
    err = _error(capsys, ["ig", tiny_model_file, png_file, "--steps", "0"])
    assert "Received: --steps 0" in err and "steps=" not in err


@pytest.mark.parametrize(
    "argv, typed, api_name",
    [
        (
            ["activation", "{model}", "--class", "12", "--max-iter", "2"],
            "Received: --class 12",
            "filter_indices",
        ),
        (["saliency", "{model}", "{png}", "--layer", "conv", "--class", "7"], "--class 7", "filter_indices"),
        (["activation", "{model}", "--class", "0", "--max-iter", "0"], "Received: --max-iter 0", "max_iter"),
        (
            ["cam", "{model}", "{png}", "--penultimate", "out"],
            "Received: --penultimate out",
            "penultimate_layer",
        ),
    ],
)
def test_errors_name_the_flags_the_user_typed(
    argv, typed, api_name, capsys, tiny_model_file, png_file, tmp_path
):
    argv = [a.format(model=tiny_model_file, png=png_file) for a in argv]
    err = _error(capsys, [*argv, "--out", str(tmp_path / "out")])
    assert typed in err and api_name not in err


def test_cam_rejects_a_penultimate_layer_that_is_not_conv_or_pooling(
    capsys, two_conv_h5_file, png_file, tmp_path
):
    argv = ["cam", two_conv_h5_file, png_file, "--penultimate", "out", "--out", str(tmp_path)]
    err = _error(capsys, argv)
    assert "Received: --penultimate out" in err and "penultimate_layer_idx" not in err


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


@pytest.fixture
def image_folder(tmp_path):
    """30 files: 29 PNG/JPEG images of two sizes and one corrupt 'broken.png'."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(29):
        size = (30, 40) if i % 2 else (16, 16)
        pixels = (rng.random((*size, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:02d}.{'png' if i % 3 else 'jpg'}")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return folder


@pytest.mark.parametrize("command", ["saliency", "cam"])
def test_a_folder_in_batches_skips_the_corrupt_file(command, tiny_model_file, image_folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        command,
        tiny_model_file,
        str(image_folder),
        "--batch-size",
        "8",
        "--class",
        "1",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "skipping" in captured.err and "broken.png" in captured.err and "Traceback" not in captured.err
    assert "skipped 1 of 30 files" in captured.err
    assert len(list(out.glob("*.png"))) == 29 and len(list(out.glob("*.npy"))) == 29
    model = cli.linear_head(cli.load_model(tiny_model_file), 2)
    _, x = cli.load_image(str(image_folder / "img_05.png"), (16, 16, 3), 1 / 255, quiet=True)
    function = {"saliency": visualize_saliency, "cam": visualize_cam}[command]
    np.testing.assert_allclose(np.load(out / f"img_05_{command}.npy"), function(model, 2, 1, x), atol=1e-6)
    with Image.open(out / f"img_05_{command}.png") as overlay:
        assert overlay.size == (40, 30)


def test_a_glob_with_stacked_maps_and_predicted_classes(tiny_model_file, image_folder, tmp_path):
    out = tmp_path / "out"
    pattern = str(image_folder / "img_1*.png")
    assert (
        cli.main(["saliency", tiny_model_file, pattern, "--stack", "--batch-size", "4", "--out", str(out)])
        == 0
    )
    listed = (out / "saliency_maps.txt").read_text().split()
    assert [Path(p).name for p in listed] == [
        "img_10.png",
        "img_11.png",
        "img_13.png",
        "img_14.png",
        "img_16.png",
        "img_17.png",
        "img_19.png",
    ]
    stacked = np.load(out / "saliency_maps.npy")
    assert stacked.shape == (7, 16, 16) and not list(out.glob("img_*.npy"))
    model = cli.linear_head(cli.load_model(tiny_model_file), 2)
    _, x = cli.load_image(listed[2], (16, 16, 3), 1 / 255, quiet=True)
    predicted = int(np.argmax(model.predict(x[None], verbose=0)[0]))
    np.testing.assert_allclose(stacked[2], visualize_saliency(model, 2, predicted, x), atol=1e-6)


def test_a_folder_of_only_unreadable_files_is_an_error(capsys, tiny_model_file, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_text("no")
    err = _error(capsys, ["saliency", tiny_model_file, str(folder), "--out", str(tmp_path / "out")])
    assert "none of the 1 image files could be read" in err
    assert not (tmp_path / "out").exists()  # No empty output folder is left behind.
    kept = tmp_path / "kept"
    kept.mkdir()
    _error(capsys, ["saliency", tiny_model_file, str(folder), "--out", str(kept)])
    assert kept.is_dir()  # A folder that was there before stays.


def test_demo_writes_its_digits_and_prints_a_command_that_runs(tmp_path, capsys, monkeypatch):
    from vis import demo

    # The maps and the table are checked elsewhere (test_demo_in_a_fresh_virtual_environment): stubbed here.
    monkeypatch.setattr(demo, "compute_maps", lambda model, images, labels, progress: _blank_maps(images))
    monkeypatch.setattr(demo, "evaluate", lambda model, images, out, paths: "(table)")
    out = tmp_path / "demo"
    paths = demo.run_demo(str(out))
    printed = capsys.readouterr().out
    for label in range(10):
        with Image.open(out / f"digit_{label}.png") as digit:
            assert digit.size == (28, 28) and str(out / f"digit_{label}.png") in paths
    lines = [line.strip() for line in printed.splitlines() if line.strip().startswith("vis saliency ")]
    assert len(lines) == 1, printed
    words = shlex.split(lines[0])
    assert words[3] == str(out / "digit_3.png")
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "vis", *words[1:]], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "try" / "digit_3_saliency.png").exists() and "predicted class 3" in done.stdout


def _blank_maps(images):
    blank = np.zeros(images.shape, dtype="float32")
    return {"saliency": blank, "guided_saliency": blank, "grad_cam": blank, "activation": blank}
