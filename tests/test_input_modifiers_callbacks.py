"""Input modifiers (Jitter, Rotate, Scale) and optimizer callbacks (Print, GifGenerator, ProgressBar)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.models import small_cnn
from vis import input_modifiers
from vis.callbacks import GifGenerator, OptimizerCallback, Print, ProgressBar
from vis.input_modifiers import InputModifier, Jitter, Rotate, Scale
from vis.losses import ActivationMaximization
from vis.optimizer import Optimizer
from vis.regularizers import TotalVariation


def _grid(rows=20, cols=30):
    return np.arange(rows * cols, dtype="float32").reshape(1, rows, cols, 1)


def _offsets(original, shifted):
    """Finds the circular shift (rows, cols) that maps `original` to `shifted`."""
    row, col = np.argwhere(shifted[0, ..., 0] == original[0, 0, 0, 0])[0]
    return int(row), int(col)


def test_jitter_is_a_bounded_circular_shift_and_leaves_the_input_alone():
    image = _grid()
    before = image.copy()
    seen = set()
    for k in range(60):
        out = Jitter(jitter=0.1).pre(image, seed=tf.constant([k, 7], tf.int64))
        assert isinstance(out, np.ndarray) and out.shape == image.shape
        row, col = _offsets(image, out)
        np.testing.assert_array_equal(out, np.roll(image, (row, col), axis=(1, 2)))
        # 0.1 of 20 rows = 2 pixels, 0.1 of 30 columns = 3 pixels.
        dr, dc = (row + 2) % 20 - 2, (col + 3) % 30 - 3
        assert abs(dr) <= 2 and abs(dc) <= 3
        seen.add((dr, dc))
    np.testing.assert_array_equal(image, before)
    assert len(seen) > 10  # the offsets are random over the whole range


def test_jitter_per_axis_values_in_pixels_and_tensors():
    image = _grid()
    for k in range(20):
        out = Jitter(jitter=(0, 4)).pre(tf.constant(image), seed=tf.constant([k, 1], tf.int64))
        assert tf.is_tensor(out)
        row, col = _offsets(image, out.numpy())
        assert row == 0 and min(col, 30 - col) <= 4


def test_jitter_without_seed_uses_numpy_random_state():
    image = _grid()
    np.random.seed(3)
    first = Jitter(5).pre(image)
    np.random.seed(3)
    np.testing.assert_array_equal(Jitter(5).pre(image), first)


@pytest.mark.parametrize("jitter", [-1, -0.1, (0.1, -2), float("nan"), "a", ()])
def test_jitter_rejects_bad_values(jitter):
    with pytest.raises(ValueError, match="Received: jitter="):
        Jitter(jitter)


def test_jitter_value_count_must_match_image_axes():
    with pytest.raises(ValueError, match="one per image axis"):
        Jitter((1, 2, 3)).pre(_grid())


def _ramp(size=33):
    cols = np.arange(size, dtype="float32") - (size - 1) / 2
    return np.tile(cols, (size, 1))[None, :, :, None]


def test_scale_zooms_around_the_centre():
    image = _ramp()
    out = Scale(low=2.0, high=2.0).pre(image)
    # Zooming by 2 halves the slope of a ramp; the centre column stays.
    np.testing.assert_allclose(out[0, 16, 8:25, 0], image[0, 16, 8:25, 0] / 2, atol=1e-4)
    out = Scale(low=0.5, high=0.5).pre(image)
    np.testing.assert_allclose(out[0, 16, 12:21, 0], image[0, 16, 12:21, 0] * 2, atol=1e-4)


def test_rotate_turns_a_ramp_by_at_most_degrees():
    image = _ramp()
    angles = []
    for k in range(8):
        out = Rotate(degrees=20).pre(image, seed=tf.constant([k, 0], tf.int64))[0, 8:25, 8:25, 0]
        # A rotated horizontal ramp is cos(a) * x - sin(a) * y in the interior.
        ys, xs = np.mgrid[8:25, 8:25].astype("float32") - 16
        (cos, sin), *_ = np.linalg.lstsq(np.stack([xs.ravel(), -ys.ravel()], 1), out.ravel(), rcond=None)
        np.testing.assert_allclose(cos**2 + sin**2, 1, atol=1e-3)
        angles.append(np.degrees(np.arctan2(sin, cos)))
    assert max(abs(a) for a in angles) <= 20 + 1e-3
    assert np.std(angles) > 1  # random angles
    np.testing.assert_allclose(Rotate(degrees=0).pre(image), image, atol=1e-4)


def test_rotate_and_scale_validate_and_need_2d_images():
    with pytest.raises(ValueError, match="Received: degrees=-1"):
        Rotate(degrees=-1)
    with pytest.raises(ValueError, match="Received: low=0"):
        Scale(low=0)
    with pytest.raises(ValueError, match="Received: high=0.5"):
        Scale(low=0.9, high=0.5)
    with pytest.raises(ValueError, match="rank 4"):
        Rotate().pre(np.zeros((1, 8, 8, 8, 1), "float32"))


def test_modifiers_follow_channels_first():
    keras.config.set_image_data_format("channels_first")
    image = np.moveaxis(_grid(), -1, 1)  # (1, 1, 20, 30)
    out = Jitter(jitter=(0, 3)).pre(image, seed=tf.constant([1, 2], tf.int64))
    np.testing.assert_array_equal(out[:, 0], np.roll(image[:, 0], int(np.argmax(out[0, 0, 0] == 0)), axis=2))
    assert Scale().pre(image).shape == image.shape


def test_get_and_graph_compatibility():
    assert isinstance(input_modifiers.get("jitter"), Jitter)
    assert isinstance(input_modifiers.get("Rotate"), Rotate)
    custom = Jitter(2)
    assert input_modifiers.get(custom) is custom
    with pytest.raises(ValueError, match="Unknown input modifier"):
        input_modifiers.get("blur")
    with pytest.raises(TypeError, match="pre"):
        input_modifiers.get(3)

    class NumpyModifier(InputModifier):
        def pre(self, inp):
            return np.flip(inp, axis=1)

    assert input_modifiers.runs_in_graph(Jitter()) and input_modifiers.runs_in_graph(InputModifier())
    assert not input_modifiers.runs_in_graph(NumpyModifier())
    identity = InputModifier()
    image = _grid()
    assert identity.pre(image) is image and identity.post(image) is image


@pytest.fixture(scope="module")
def cnn():
    return small_cnn((16, 16, 1), classes=3)


def _optimizer(model):
    image = model.inputs[0]
    return Optimizer(
        image, [(ActivationMaximization(model.get_layer("preds"), 1), 1), (TotalVariation(image), 1)]
    )


class Recorder(OptimizerCallback):
    def __init__(self):
        self.steps, self.ends = [], 0

    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        assert self.ends == 0
        self.steps.append((i, named_losses, overall_loss, grads.shape, wrt_value.copy()))

    def on_end(self):
        self.ends += 1


def test_callbacks_are_called_every_step_then_on_end_once(cnn):
    recorder = Recorder()
    callbacks = [recorder]
    _optimizer(cnn).minimize(max_iter=7, callbacks=callbacks, verbose=False)
    assert [s[0] for s in recorder.steps] == list(range(7))
    assert recorder.ends == 1
    assert callbacks == [recorder]
    names = [name for name, _ in recorder.steps[0][1]]
    assert names == ["ActivationMax Loss", "TV(2.0) Loss"]
    i, named, overall, grads_shape, wrt = recorder.steps[0]
    assert grads_shape == (1, 16, 16, 1) and wrt.shape == (1, 16, 16, 1)
    assert overall == pytest.approx(sum(value for _, value in named), rel=1e-5)


def test_print_names_every_loss(cnn, capsys):
    _optimizer(cnn).minimize(max_iter=3, verbose=True)
    lines = capsys.readouterr().out
    assert lines.count("Iteration:") == 3 and "Iteration: 3," in lines
    assert lines.count("ActivationMax Loss") == 3 and lines.count("TV(2.0) Loss") == 3
    Print().callback(0, [("a", 1.0)], 1.0, None, None)
    assert "named_losses: [('a', 1.0)], overall loss: 1.0" in capsys.readouterr().out


def test_gif_generator_writes_one_labelled_frame_per_step(cnn, tmp_path):
    gif = GifGenerator(str(tmp_path / "progress"))
    assert gif.path.endswith("progress.gif")
    _optimizer(cnn).minimize(max_iter=5, callbacks=[gif], verbose=False)
    with Image.open(tmp_path / "progress.gif") as image:
        assert image.n_frames == 5
        assert min(image.size) >= 128  # small inputs are enlarged so "Step N" stays legible
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(np.asarray(image.convert("L"), dtype="float32"))
    assert not np.array_equal(frames[0], frames[1])


def _gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(np.asarray(image.convert("RGB"), dtype="float32"))
    return frames


def test_gif_generator_writes_colour_frames_with_captions_and_their_colours(tmp_path, caplog):
    from vis.utils import images

    images._font_file.cache_clear()  # keras-vis's FreeSans.ttf would warn again (it is missing here).
    rows, cols = np.mgrid[0:64, 0:96]
    gif = GifGenerator(tmp_path / "colour.gif")
    inputs = []
    for step in range(40):
        rgb = np.stack([rows * 4, cols * 2 + step, np.full_like(rows, 128)], axis=-1).astype("float32")
        rgb[40:, 60:] = 128  # A flat grey corner, away from the caption.
        inputs.append(rgb)
        with caplog.at_level("WARNING"):
            gif.callback(step, [], 0.0, None, rgb[None])
    gif.on_end()
    assert not [r for r in caplog.records if "font" in r.getMessage()]
    frames = _gif_frames(tmp_path / "colour.gif")
    assert len(frames) == 40 and frames[0].shape == (128, 192, 3)  # Enlarged twice: 64 < 128 rows.
    from vis.utils import utils

    rescaled = [np.clip(utils.deprocess_input(x, (0, 255)), 0, 255).astype("uint8") for x in inputs]
    enlarged = [np.repeat(np.repeat(x, 2, axis=0), 2, axis=1).astype("float32") for x in rescaled]
    caption = (slice(8, 30), slice(8, 90))  # "Step N" at (10, 10), 14 px DejaVu Sans.
    for frame, original in zip(frames, enlarged):
        away = np.ones(frame.shape[:2], dtype=bool)
        away[caption] = False
        # One shared palette keeps the colours: within a few levels away from the caption.
        assert np.abs(frame[away] - original[away]).mean() < 4
        np.testing.assert_allclose(frame[80:, 120:], original[80:, 120:], atol=3)
        # The caption is drawn: near-black pixels, where the input has none.
        assert (frame[caption].max(axis=-1) < 40).sum() > 30 and original[caption].max(axis=-1).min() >= 40
    assert not np.array_equal(frames[0][caption], frames[11][caption])  # "Step 1" and "Step 12".


def test_gif_generator_rejects_a_missing_folder_and_non_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="Received: path="):
        GifGenerator(str(tmp_path / "missing" / "x.gif"))
    gif = GifGenerator(tmp_path / "x.gif")
    with pytest.raises(ValueError, match="2D images"):
        gif.callback(0, [], 0.0, None, np.zeros((1, 10)))


def test_progress_bar_reports_steps(cnn, capsys):
    _optimizer(cnn).minimize(max_iter=4, callbacks=[ProgressBar()], verbose=False)
    out = capsys.readouterr().out
    assert "4/4" in out and "ActivationMax Loss" in out


def test_callbacks_without_methods_are_rejected_by_name(cnn):
    class Half:
        def callback(self, *args):
            pass

    with pytest.raises(TypeError, match="Half"):
        _optimizer(cnn).minimize(max_iter=1, callbacks=[Half()], verbose=False)
    with pytest.raises(TypeError, match="Received: callbacks containing 3"):
        _optimizer(cnn).minimize(max_iter=1, callbacks=[3], verbose=False)
