"""Ctrl+C during a long fused activation-maximization loop is a plain interrupt, within a chunk.

The fused loop runs a chunk of steps per compiled call (`vis.optimizer_loop.fused`),
so the interrupt lands between two calls instead of after the last step; the
process then goes on (the loop runs again) and exits normally.
"""

import os
import select
import signal
import subprocess
import sys
import time

import pytest

from vis import optimizer_loop

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONUNBUFFERED": "1"}
_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import keras, numpy as np
from vis.visualization import visualize_activation

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, name="preds")])
seed = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype("float32")
short = visualize_activation(model, -1, 1, seed_input=seed, max_iter=3)
print("GO", flush=True)
start = time.perf_counter()
try:
    visualize_activation(model, -1, 1, seed_input=seed, max_iter=10**7)  # hours: only Ctrl+C ends it
    print("FINISHED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
np.testing.assert_array_equal(visualize_activation(model, -1, 1, seed_input=seed, max_iter=3), short)
print("OK", flush=True)
"""


@pytest.mark.slow
def test_ctrl_c_stops_a_long_fused_loop_within_a_chunk_and_the_process_goes_on():
    assert optimizer_loop.CHUNK_SECONDS <= 1.0
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(root=_ROOT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_ENV,
    )
    try:
        assert child.stdout.readline().strip() == "GO", child.stderr.read()[-3000:]
        time.sleep(0.5)  # Into the long call (traced by the short one before it).
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        ready = select.select([child.stdout], [], [], 10.0)[0]
        waited = time.perf_counter() - sent
        assert ready, "no interrupt within 10 s: the loop ran on"
        line = child.stdout.readline().strip()
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert line == "INTERRUPTED", err[-3000:]
    assert waited < 3.0, f"the interrupt took {waited:.2f} s to land"
    assert out.split() == ["OK"] and child.returncode == 0, err[-3000:]
