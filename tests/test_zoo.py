"""Issue 11: models saved by one process and visualised in another, as users have them.

A session fixture runs `tests.zoo.make_zoo` once in a subprocess (so every
model file is written by another process), then `tests.zoo.run_model` for
each model in a fresh process forked from a preloaded forkserver (Keras's
name counters at zero, as in a user's new script). There is one test per
(model, cell): the references are hand-written `tf.GradientTape`
computations on the loaded model (see `tests/zoo/references.py`).

The heaviest keras.applications models, and some cells of the others, run
only with `VIS_ZOO_FULL=1` (see the cost tiers in `tests/zoo/make_zoo.py`);
`python -m tests.zoo.table [--full] [--in-process]` prints the whole table.
"""

import os

import numpy as np
import pytest

from tests.zoo import make_zoo
from tests.zoo.pool import run_zoo

FULL = os.environ.get("VIS_ZOO_FULL") == "1"
PAIRS = [(model_id, cell) for model_id in make_zoo.MODEL_IDS for cell in make_zoo.cells_for(model_id)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    return run_zoo(str(tmp_path_factory.mktemp("zoo")), full=FULL)


@pytest.mark.parametrize("model_id, cell", PAIRS, ids=[f"{m}-{c}" for m, c in PAIRS])
def test_zoo_cell(zoo, model_id, cell):
    if make_zoo.skipped_for_speed(model_id, cell, FULL):
        pytest.skip("too slow for the default run (see make_zoo's cost tiers): VIS_ZOO_FULL=1 runs it")
    if model_id not in zoo.entries:
        pytest.fail(f"the maker did not write {model_id}: {zoo.errors}; see make_zoo.log in {zoo.outdir}")
    result = zoo.results.get(model_id, {}).get(cell)
    if result is None:
        task_errors = {key: error for key, error in zoo.errors.items() if key.startswith(model_id + ".")}
        pytest.fail(f"no result for {model_id}/{cell}: {task_errors or zoo.errors or 'task not run'}")
    assert result["ok"], result["detail"]


def test_the_maker_wrote_every_model_and_its_manifest(zoo):
    assert sorted(zoo.entries) == sorted(make_zoo.active_ids(FULL)), zoo.errors
    for entry in zoo.entries.values():
        assert os.path.isfile(os.path.join(zoo.outdir, entry["file"]))
        assert entry["cells"] == make_zoo.cells_for(entry["id"])
    assert os.path.isfile(os.path.join(zoo.outdir, "manifest.json"))


def test_python_m_vis_entry_point_on_a_model_written_by_another_process(zoo):
    run = zoo.entry_point
    assert run, "the entry point was not run"
    assert run["returncode"] == 0, run["stderr"][-1500:]
    written = np.load(os.path.join(run["out"], run["stem"] + ".npy"))
    assert written.shape == (16, 16) and 0 <= written.min() <= written.max() <= 1
    assert os.path.isfile(os.path.join(run["out"], run["stem"] + ".png"))
