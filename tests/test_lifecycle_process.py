"""The engine in a process's life: a one-map script exits at once; Ctrl+C anywhere is a plain interrupt.

Each case runs a child Python process, as a user's script or notebook kernel would.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

_ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONUNBUFFERED": "1",
    "PYTHONFAULTHANDLER": "1",  # A crash prints its Python stack.
}
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PRELUDE = """
import sys, threading, time
sys.path.insert(0, {root!r})
import keras, numpy as np
from vis.engine import compiling
from vis.visualization import visualize_saliency

def build():
    keras.utils.set_random_seed(0)  # A model whose compile takes about as long as a few eager calls.
    return keras.applications.MobileNetV2(
        weights=None, input_shape=(96, 96, 3), alpha=0.35, classes=10, classifier_activation=None)

x = np.random.default_rng(0).uniform(-1, 1, (96, 96, 3)).astype("float32")
"""

_ONE_MAP = """
import contextlib
model = build()
with compiling.policy(sys.argv[1]) if sys.argv[1] != "auto" else contextlib.nullcontext():
    visualize_saliency(model, -1, 3, x)
print("THREADS", [t.name for t in threading.enumerate()])
print("DONE_AT", time.time(), flush=True)
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    script = _PRELUDE.format(root=_ROOT) + code
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_ENV,
    )


def _exit_delay(policy: str) -> tuple[float, str]:
    child = _child(_ONE_MAP, policy)
    out, err = child.communicate(timeout=300)
    ended = time.time()
    assert child.returncode == 0, err[-2000:]
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return ended - float(lines["DONE_AT"]), lines["THREADS"]


def test_a_one_map_script_exits_as_promptly_as_under_the_eager_policy():
    # Two interleaved rounds, the fastest of each compared: the suite runs on parallel workers, and a
    # load spike in the other worker during one child must not read as a slow exit.
    rounds = [(_exit_delay("auto"), _exit_delay("eager")) for _ in range(2)]
    auto, eager = min(a for (a, _), _ in rounds), min(e for _, (e, _) in rounds)
    assert {threads for (_, threads), _ in rounds} == {"['MainThread']"}  # Nothing left for exit to wait for.
    assert auto <= eager + 0.3, f"exit took {auto:.2f} s after the map, {eager:.2f} s under policy('eager')"


_INTERRUPTED = """
from tensorflow.python.framework import ops

names = ("Conv2D", "DepthwiseConv2dNative", "Relu6")
registry = {name: ops._gradient_registry.lookup(name) for name in names}
with compiling.policy("eager"):
    expected = [visualize_saliency(build(), -1, c, x) for c in (3, 4, 5)]
print("READY", flush=True)
for k in range(int(sys.argv[1])):
    model = build()
    print("GO", k, flush=True)
    start = time.perf_counter()
    try:
        visualize_saliency(model, -1, 3, x)   # eager
        visualize_saliency(model, -1, 4, x)   # compiles
        print("DONE", k, time.perf_counter() - start, flush=True)
        time.sleep(60)  # The interrupt lands here when it comes after both calls.
    except KeyboardInterrupt:
        pass
    print("INT", k, round(time.perf_counter() - start, 3), flush=True)
    assert compiling._POLICY.get() == "auto"
    assert all(ops._gradient_registry.lookup(n) is f for n, f in registry.items())
    for c, want in zip((3, 4, 5), expected):
        np.testing.assert_allclose(visualize_saliency(model, -1, c, x), want, atol=1e-5)
    print("OK", k, flush=True)
"""


def _read_until(child: subprocess.Popen, word: str) -> list[str]:
    while True:
        line = child.stdout.readline()
        if not line:
            raise AssertionError(f"child ended before {word!r}: {child.stderr.read()[-3000:]}")
        if line.startswith(word):
            return line.split()


def test_ctrl_c_at_random_points_of_first_and_second_calls_is_a_plain_interrupt():
    rounds = 4
    child = _child(_INTERRUPTED, str(rounds + 1))
    try:
        _read_until(child, "READY")
        _read_until(child, "GO")
        duration = float(_read_until(child, "DONE")[2])  # Round 0, uninterrupted: how long both calls take.
        child.send_signal(signal.SIGINT)
        _read_until(child, "OK")
        rng = np.random.default_rng(24)
        for k in range(1, rounds + 1):
            _read_until(child, "GO")
            time.sleep(rng.uniform(0.0, duration))
            child.send_signal(signal.SIGINT)
            assert _read_until(child, "OK")[1] == str(k)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-3000:]
    assert "terminate called" not in err and "Aborted" not in err


def test_an_uncaught_ctrl_c_during_the_compile_ends_the_process_as_python_does():
    code = """
model = build()
visualize_saliency(model, -1, 3, x)
print("COMPILING", flush=True)
visualize_saliency(model, -1, 4, x)
print("FINISHED", flush=True)
"""
    child = _child(code)
    try:
        _read_until(child, "COMPILING")
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert "FINISHED" not in out, "the compile finished before the interrupt: make the model larger"
    assert child.returncode in (-signal.SIGINT, 130), (child.returncode, err[-3000:])
    assert err.rstrip().endswith("KeyboardInterrupt"), err[-3000:]
    assert "terminate called" not in err
