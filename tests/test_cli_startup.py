"""The `vis` command answers before TensorFlow loads, is quiet, and `import vis` stays cheap.

Each case runs in a fresh interpreter: whether TensorFlow was imported is only
visible in a process that did not import it already (as pytest's has).
"""

import os
import subprocess
import sys
from importlib import resources

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_FILE = str(resources.files("vis") / "data" / "mnist_cnn.keras")

# Runs `vis.cli.main(argv)`, then prints whether TensorFlow (or Keras) was imported, and exits with its code.
PROBE = """
import os, sys
from vis.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
print("imported:", "tensorflow" in sys.modules, "keras" in sys.modules, level)
sys.exit(code)
"""


def _python(code: str, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": ROOT, "TF_ENABLE_ONEDNN_OPTS": "0"}
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize(
    "argv, code, stream, text",
    [
        (["--help"], 0, "stdout", "usage: vis [-h] COMMAND"),
        (["cam", "--help"], 0, "stdout", "--penultimate NAME|IDX"),
        (["evaluate", "--help"], 0, "stdout", "The boxes file is CSV"),
        (["saliency", "m.keras", "--bogus"], 2, "stderr", "unrecognized arguments: --bogus"),
        (["cam", "m.keras", "x.png", "--batch-size", "0"], 2, "stderr", "--batch-size: must be an int >= 1"),
        (["saliency", "missing.keras", "x.png"], 2, "stderr", "model file not found: missing.keras"),
        (["cam", "missing.keras", "x.png", "--method", "gradkam"], 2, "stderr", "unknown --method 'gradkam'"),
    ],
)
def test_help_bad_flags_and_missing_files_answer_without_tensorflow(argv, code, stream, text):
    done = _python(PROBE, *argv)
    assert done.returncode == code, done.stderr
    assert text in getattr(done, stream)
    assert "imported: False False" in done.stdout
    assert "Traceback" not in done.stderr


def test_import_vis_neither_imports_tensorflow_nor_changes_the_environment():
    code = (
        "import os, sys\n"
        "before = dict(os.environ)\n"
        "import vis\n"
        "print('tensorflow' in sys.modules, dict(os.environ) == before, vis.__version__)\n"
        "from vis.visualization import visualize_saliency\n"
        "from vis.utils import utils\n"
        "from vis.losses import ActivationMaximization\n"
        "print('tensorflow' in sys.modules, callable(vis.stream), dict(os.environ) == before)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert lines[0].startswith("False True 0.")
    assert lines[1] == "True True True"


@pytest.mark.parametrize(
    "fake, message",
    [
        ("None", "vis needs TensorFlow 2.16 or newer"),  # A None entry makes `import tensorflow` fail.
        ("types.SimpleNamespace(__version__='2.15.1')", "Found: tensorflow==2.15.1"),
    ],
)
def test_missing_or_old_tensorflow_is_a_clear_import_error(fake, message):
    code = (
        "import sys, types\n"
        f"sys.modules['tensorflow'] = {fake}\n"
        "import vis\n"
        "for name in ['vis.visualization', 'vis.utils.utils', 'vis.engine', 'vis.metrics']:\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as error:\n"
        "        print(name, 'ImportError:', error)\n"
        "from vis.cli import main\n"
        f"sys.exit(main(['saliency', {MODEL_FILE!r}, 'x.png']))\n"
    )
    done = _python(code)
    printed = [line for line in done.stdout.splitlines() if "ImportError:" in line]
    assert len(printed) == 4 and all(message in line for line in printed), done.stdout + done.stderr
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_command_silences_tensorflow_unless_the_user_chose_a_log_level(tmp_path):
    argv = ["activation", MODEL_FILE, "--class", "3", "--max-iter", "1", "--out", str(tmp_path)]
    done = _python(PROBE, *argv)
    assert done.returncode == 0, done.stderr
    assert "imported: True True 3" in done.stdout
    assert done.stderr == ""  # No CUDA probing, no absl or oneDNN notices.
    done = _python(PROBE, "saliency", "missing.keras", env={"TF_CPP_MIN_LOG_LEVEL": "1"})
    assert "imported: False False 1" in done.stdout  # The user's level wins.
