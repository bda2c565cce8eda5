"""Runs the zoo: the maker in a process of its own, then each model in a fresh forkserver process.

The forkserver preloads TensorFlow, Keras and vis once (about 4 s); each
task is a new process forked from it (about 0.15 s), so Keras's per-process
name counters start at zero in every task, as in a user's fresh script, and
a crash (a segfault in TensorFlow) takes one task down, not the run. Tasks
start as soon as the maker has written their model file.
"""

from __future__ import annotations

import collections
import contextlib
import json
import multiprocessing
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import forkserver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRELOAD = ["__main__", "tensorflow", "keras", "vis.visualization"]  # "__main__": children skip re-running it


def environment() -> dict:
    """The subprocesses' environment: no oneDNN (a crash, DATA.md), quiet TF, this tree's `vis` first."""
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}


@contextlib.contextmanager
def _environ(env: dict):
    """`os.environ = env` for the block (the forkserver copies it when it starts)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _task(kind: str, model_id: str, entry, outdir: str, full: bool, result_path: str) -> None:
    """Runs in a fresh forked process: one model's API cells, its `vis` command cells, or in-process."""
    with open(result_path + ".log", "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    import vis
    from tests.zoo import run_model

    start = time.perf_counter()
    if not os.path.abspath(vis.__file__).startswith(ROOT + os.sep):
        results = {"load": {"ok": False, "detail": f"imported the wrong vis: {vis.__file__}", "seconds": 0}}
    elif kind == "in_process":
        results = run_model.run_in_process(model_id, full)
    else:
        results = run_model.run_entry(entry, outdir, full, cli=kind == "cli")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(result_path, "w") as f:
        json.dump(
            {
                "results": results,
                "seconds": time.perf_counter() - start,
                "cpu": usage.ru_utime + usage.ru_stime,
            },
            f,
        )


@dataclass
class Zoo:
    """What a zoo run produced."""

    outdir: str
    entries: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    tasks: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)
    entry_point: dict = field(default_factory=dict)
    seconds: float = 0.0
    maker_seconds: float = 0.0
    maker_cpu: float = 0.0


class _Scheduler:
    """Keeps up to `jobs` task processes running; API tasks before `vis` command tasks."""

    def __init__(self, context, zoo: Zoo, jobs: int, full: bool) -> None:
        self.context, self.zoo, self.jobs, self.full = context, zoo, jobs, full
        self.pending = {"api": collections.deque(), "cli": collections.deque()}
        self.running: dict = {}
        self.start = time.perf_counter()

    def submit(self, kind: str, model_id: str, entry=None) -> None:
        self.pending["cli" if kind == "cli" else "api"].append((kind, model_id, entry))

    def busy(self) -> bool:
        return bool(self.running or self.pending["api"] or self.pending["cli"])

    def poll(self) -> None:
        for process, task in list(self.running.items()):
            if process.exitcode is not None:
                self._collect(process, task)
        while len(self.running) < self.jobs and (self.pending["api"] or self.pending["cli"]):
            kind, model_id, entry = (self.pending["api"] or self.pending["cli"]).popleft()
            path = os.path.join(self.zoo.outdir, "results", f"{model_id}.{kind}.json")
            args = (kind, model_id, entry, self.zoo.outdir, self.full, path)
            process = self.context.Process(target=_task, args=args, name=f"zoo-{model_id}-{kind}")
            process.start()
            self.running[process] = (kind, model_id, path, time.perf_counter())

    def _collect(self, process, task) -> None:
        kind, model_id, path, started = task
        del self.running[process]
        now = time.perf_counter()
        record = {"id": model_id, "kind": kind, "start": started - self.start, "seconds": now - started}
        try:
            with open(path) as f:
                found = json.load(f)
            self.zoo.results.setdefault(model_id, {}).update(found["results"])
            record["cpu"] = found["cpu"]
        except (OSError, ValueError):
            tail = _tail(path + ".log")
            self.zoo.errors[f"{model_id}.{kind}"] = f"task process exited with {process.exitcode}: {tail}"
        record["exitcode"] = process.exitcode
        self.zoo.tasks.append(record)

    def stop(self) -> None:
        for process in self.running:
            process.kill()
            process.join()


def _tail(path: str, size: int = 600) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:]
    except OSError:
        return "(no log)"


def _maker(outdir: str, ids: list, connection) -> None:
    """Runs in a forked process (TensorFlow already imported): `make_zoo.make`, lines sent to the parent."""
    with open(os.path.join(outdir, "make_zoo.log"), "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    from tests.zoo import make_zoo

    make_zoo.make(outdir, ids, emit=connection.send)


def _read_maker(connection, lines: queue.Queue) -> None:
    """Forwards the maker's lines; None when it is done (or died: the pipe closes)."""
    try:
        while True:
            lines.put(connection.recv())
    except (EOFError, OSError):
        lines.put(None)


def _entry_point(zoo: Zoo, entry: dict, env: dict):
    """Starts one real `python -m vis saliency` run on a model the maker wrote."""
    out = os.path.join(zoo.outdir, "entry_point")
    argv = [sys.executable, "-m", "vis", "saliency", entry["file"], "rgb.png", "--out", out]
    zoo.entry_point = {"argv": argv[1:], "out": out, "stem": "rgb_saliency"}
    return subprocess.Popen(argv, cwd=zoo.outdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish_entry_point(zoo: Zoo, process, timeout: float) -> None:
    try:
        stdout, stderr = process.communicate(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    zoo.entry_point.update(
        returncode=process.returncode, stdout=stdout.decode()[-2000:], stderr=stderr.decode()[-2000:]
    )


def run_zoo(
    outdir: str,
    full: bool = False,
    in_process: bool = False,
    jobs: int | None = None,
    timeout: float = 900.0,
    ids=None,
) -> Zoo:
    """Builds the zoo in `outdir` (unless `in_process`) and runs every model; returns a `Zoo`."""
    from tests.zoo import make_zoo

    jobs = jobs or int(os.environ.get("VIS_ZOO_JOBS", "2"))
    zoo, env, deadline = Zoo(outdir), environment(), time.perf_counter() + timeout
    os.makedirs(os.path.join(outdir, "results"), exist_ok=True)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with _environ(env):  # Start it now: its imports overlap the maker's. Tasks inherit its environment.
        forkserver.ensure_running()
    scheduler = _Scheduler(context, zoo, jobs, full)
    lines: queue.Queue = queue.Queue()
    if in_process:
        for model_id in ids or make_zoo.active_ids(full):
            scheduler.submit("in_process", model_id)
        lines.put(None)
    else:  # The maker is a process of its own too, forked from the forkserver: no second TF import.
        receiver, sender = context.Pipe(duplex=False)
        args = (outdir, list(ids or make_zoo.active_ids(full)), sender)
        maker = context.Process(target=_maker, args=args, name="zoo-maker")
        maker.start()
        sender.close()
        threading.Thread(target=_read_maker, args=(receiver, lines), daemon=True).start()
    entry_point = _loop(zoo, scheduler, lines, env, full, deadline)
    if not in_process:
        maker.join(timeout=5)
        if maker.is_alive():
            maker.kill()
            maker.join()
        if maker.exitcode != 0:
            zoo.errors["maker"] = (
                f"make_zoo exited with {maker.exitcode}: {_tail(os.path.join(outdir, 'make_zoo.log'))}"
            )
    if entry_point is not None:
        _finish_entry_point(zoo, entry_point, deadline - time.perf_counter())
    zoo.seconds = time.perf_counter() - scheduler.start
    return zoo


def _loop(zoo: Zoo, scheduler: _Scheduler, lines: queue.Queue, env: dict, full: bool, deadline: float):
    """Feeds the scheduler with the maker's models until everything ran (or the deadline passed)."""
    from tests.zoo import make_zoo

    maker_done, entry_point = False, None
    try:
        while (not maker_done or scheduler.busy()) and time.perf_counter() < deadline:
            while not maker_done:
                try:
                    line = lines.get(timeout=0.05)
                except queue.Empty:
                    break
                if line is None:
                    maker_done, zoo.maker_seconds = True, time.perf_counter() - scheduler.start
                elif line.startswith("ZOO-DONE "):
                    zoo.maker_cpu = float(line.split()[1])
                elif line.startswith("ZOO-MODEL "):
                    entry = json.loads(line[len("ZOO-MODEL ") :])
                    zoo.entries[entry["id"]] = entry
                    scheduler.submit("api", entry["id"], entry)
                    if any(
                        c in entry["cells"] and not make_zoo.skipped_for_speed(entry["id"], c, full)
                        for c in make_zoo.CLI_CELLS
                    ):
                        scheduler.submit("cli", entry["id"], entry)
                    if entry["id"] == "seq_input" and entry_point is None:
                        entry_point = _entry_point(zoo, entry, env)
            scheduler.poll()
            time.sleep(0.02)
    finally:
        if scheduler.busy():
            zoo.errors["deadline"] = (
                f"the zoo did not finish in time; still running: {len(scheduler.running)}"
            )
        scheduler.stop()
    return entry_point
