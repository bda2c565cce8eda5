"""`vis evaluate`: the table, CSV and figure on a saved model, the Python API's numbers, and bad input.

The model file is the demo CNN that ships with vis, saved by `scripts/train_demo_model.py` in another
process (as users' files are: Keras names layers per process).
"""

import csv
from importlib import resources

import numpy as np
import pytest
from PIL import Image

from vis import cli, metrics
from vis.demo import load_demo_data
from vis.visualization import methods

MODEL_FILE = str(resources.files("vis") / "data" / "mnist_cnn.keras")


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """Three demo digits as 28x28 PNG files, and a boxes file: all of the "0", a corner of the "1"."""
    folder = tmp_path_factory.mktemp("digits")
    _, images, _, _ = load_demo_data()
    paths = []
    for digit in range(3):
        paths.append(str(folder / f"digit{digit}.png"))
        Image.fromarray(images[digit]).save(paths[-1])
    boxes = folder / "boxes.csv"
    boxes.write_text(
        f"image,x_min,y_min,x_max,y_max\ndigit0.png,0,0,28,28\ndigit1.png,0,0,2,2\n{paths[2]},0,0,28,28\n"
    )
    return paths, str(boxes)


@pytest.fixture(scope="module")
def evaluated(digit_files, tmp_path_factory):
    paths, boxes = digit_files
    out = tmp_path_factory.mktemp("out")
    argv = ["evaluate", MODEL_FILE, *paths, "--methods", "saliency,gradcam", "--boxes", boxes]
    code = cli.main([*argv, "--random-layers", "2", "--steps", "7", "--out", str(out)])
    with open(out / "evaluation.csv", encoding="utf-8") as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}
    return code, rows, out


def test_evaluate_writes_the_table_as_csv_and_a_figure(evaluated):
    code, rows, out = evaluated
    assert code == 0
    assert list(rows) == ["saliency", "gradcam", "random map", "edge map"]
    with Image.open(out / "evaluation.png") as figure:
        assert figure.size[0] > 600 and figure.size[1] > 200
    for name in ["saliency", "gradcam"]:
        assert 0 < float(rows[name]["ms_per_map"]) < 5000
        # Both maps beat a random ranking of the pixels on this trained CNN.
        assert float(rows[name]["deletion_auc"]) < float(rows["random map"]["deletion_auc"]) - 1
        assert float(rows[name]["insertion_auc"]) > float(rows["random map"]["insertion_auc"]) + 1
        assert float(rows[name]["pointing_game"]) == pytest.approx(2 / 3)  # The corner box of the "1" misses.
    assert float(rows["edge map"]["randomization_top"]) == pytest.approx(1.0)
    assert rows["random map"]["randomization_top"] == ""


def test_the_csv_holds_the_numbers_of_the_python_api(digit_files, evaluated):
    _, rows, _ = evaluated
    model = cli.load_model(MODEL_FILE)
    x = np.stack([cli.load_image(p, (28, 28, 1), 1 / 255)[1] for p in digit_files[0]])
    classes = np.argmax(model.predict(x, verbose=0), axis=1)
    maps = np.stack([methods.get("gradcam")(model, -1, int(c), s) for c, s in zip(classes, x)])
    deletion = metrics.deletion(model, -1, classes.tolist()[0], x[:1], maps[:1], steps=7)
    per_image = [metrics.deletion(model, -1, int(c), s, m, steps=7)[0] for c, s, m in zip(classes, x, maps)]
    assert per_image[0] == pytest.approx(deletion[0])
    assert float(rows["gradcam"]["deletion_auc"]) == pytest.approx(np.mean(per_image), rel=1e-6)


def test_evaluate_prints_the_table(digit_files, tmp_path, capsys):
    argv = ["evaluate", MODEL_FILE, digit_files[0][0], "--methods", "saliency", "--class", "0"]
    assert cli.main([*argv, "--random-layers", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| saliency " in printed and "| edge map " in printed and "deletion AUC" in printed
    assert "Randomised layers, top first: predictions" in printed


def _error(capsys, argv):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_unknown_method_box_out_of_range_and_missing_box(digit_files, tmp_path, capsys):
    paths, _ = digit_files
    base = ["evaluate", MODEL_FILE, *paths[:2], "--out", str(tmp_path)]
    err = _error(capsys, [*base, "--methods", "saliency,gradkam"])
    assert "Unknown method: 'gradkam'" in err and "'gradcam'" in err
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("digit0.png,0,0,29,10\ndigit1.png,0,0,5,5\n")
    err = _error(capsys, [*base, "--boxes", str(boxes)])
    assert "line 1" in err and "x_max <= 28" in err and "Received: 0,0,29,10" in err
    boxes.write_text("digit0.png,0,0,5,5\n")
    assert "no box for" in _error(capsys, [*base, "--boxes", str(boxes)])
    missing = ["evaluate", MODEL_FILE, paths[0], str(tmp_path / "missing.png"), "--out", str(tmp_path)]
    assert "image file not found" in _error(capsys, missing)
