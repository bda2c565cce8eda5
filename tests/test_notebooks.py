"""The example notebooks in examples/ run from start to end, and are committed without outputs.

Each notebook ends with a cell that prints a summary dict and asserts on it;
the slow tests run the notebooks with nbclient, side by side, each in an
empty temporary working directory, and check that summary again from the
executed notebook.
"""

import ast
import asyncio
import json
import os
import pathlib
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(path.name for path in EXAMPLES.glob("*.ipynb"))
EXPECTED = ["imagenet_attention.ipynb", "mnist_activation_maximization.ipynb", "mnist_attention.ipynb"]
CELL_TIMEOUT = 600  # seconds; ResNet50 on two busy CPU cores takes well under a minute per cell


def test_the_example_notebooks_are_there():
    assert set(EXPECTED) <= set(NOTEBOOKS), NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    notebook = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code_cells
    for cell in code_cells:
        source = "".join(cell["source"])
        assert cell["outputs"] == [], f"{name}: a cell has outputs; clear them before committing:\n{source}"
        assert cell["execution_count"] is None, f"{name}: a cell has an execution count:\n{source}"


def _kernel_environment(monkeypatch) -> None:
    """The kernels inherit os.environ: quiet TensorFlow, no oneDNN, and the `vis` these tests import."""
    import vis

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    source_root = pathlib.Path(vis.__file__).resolve().parent.parent
    if source_root == ROOT:  # A source checkout: the kernels run elsewhere, so point them at this tree.
        paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


async def _execute(name: str, cwd: pathlib.Path):
    """Runs a notebook in `cwd`; returns it with its outputs (or the error it raised) and its seconds."""
    import nbclient
    import nbformat

    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    start = time.perf_counter()
    try:
        await client.async_execute()
    except Exception as error:  # noqa: BLE001 - handed to the notebook's own test, which re-raises it
        return error, time.perf_counter() - start
    return notebook, time.perf_counter() - start


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict:
    """Runs all the notebooks at once, each in its own empty folder: `{name: (result, seconds, folder)}`.

    Much of a notebook's time is single-threaded (starting the kernel,
    importing TensorFlow, tracing the gradient programs), so running the
    three side by side on two cores takes about half as long as in turn.
    """
    pytest.importorskip("nbclient")
    pytest.importorskip("nbformat")
    folders = {name: tmp_path_factory.mktemp(name.removesuffix(".ipynb")) for name in NOTEBOOKS}

    async def run_all():
        return await asyncio.gather(*(_execute(name, folders[name]) for name in NOTEBOOKS))

    with pytest.MonkeyPatch.context() as monkeypatch:
        _kernel_environment(monkeypatch)
        results = asyncio.run(run_all())
    return {name: (*result, folders[name]) for name, result in zip(NOTEBOOKS, results)}


def _stdout(notebook) -> list[str]:
    """The text each code cell printed."""
    return [
        "".join(output.get("text", "") for output in cell.outputs if output.get("name") == "stdout")
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def _summary(notebook) -> dict:
    """The summary dict the last code cell prints."""
    lines = _stdout(notebook)[-1].strip().splitlines()
    return ast.literal_eval(lines[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, executed):
    notebook, seconds, folder = executed[name]
    print(f"{name} ran in {seconds:.0f} s (side by side with the other notebooks)")  # shown by pytest -rP
    if isinstance(notebook, BaseException):
        raise notebook
    assert list(folder.iterdir()) == []  # The notebooks write no files.
    if name not in EXPECTED:
        return
    summary = _summary(notebook)
    if name == "mnist_attention.ipynb":
        assert summary["accuracy"] > 0.85
        assert summary["maps_shape"] == [4, 5, 28, 28]  # saliency, guided, rectified, grad-CAM x 5 digits
        assert summary["finite"] and summary["in_range"]
        assert summary["cam_nonzero"] == 5
    elif name == "mnist_activation_maximization.ipynb":
        assert summary["accuracy"] > 0.85
        assert summary["generated_shape"] == [10, 28, 28, 1]
        assert summary["filters_shape"] == [16, 28, 28, 1]
        assert summary["in_range"]
        assert summary["diagonal_minus_off_diagonal"] > 0
    else:
        assert summary["maps_shape"] == [3, 224, 224]
        assert summary["finite"] and summary["in_range"]
        assert 0 <= summary["class_idx"] < 1000
        if not summary["pretrained"]:  # Offline: the fallback must say loudly that its maps mean nothing.
            assert "RANDOM WEIGHTS" in "".join(_stdout(notebook))
