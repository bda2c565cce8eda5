"""Prints the zoo table: `python -m tests.zoo.table [--in-process] [--full] [--details] [MODEL_ID ...]`.

Builds the zoo in a temporary folder, runs every model in fresh processes
and prints a markdown table (model x cell: ok / FAIL / - for not applicable,
skip for a cell the default run leaves out, see make_zoo's cost tiers), the per-model
times and sizes, and the total wall time. `--details` also lists each
failure's message.
"""

from __future__ import annotations

import sys
import tempfile
import time

from tests.zoo import make_zoo
from tests.zoo.pool import Zoo, run_zoo

SHORT = {
    "saliency_second_call": "sal2",
    "saliency_mid": "sal_mid",
    "augmentation_deterministic": "aug_det",
    "text_wrt_embedding": "text_emb",
    "apply_modifications": "apply_mod",
    "activation_output": "act_out",
    "activation_mid": "act_mid",
    "multi_input_dict": "mi_dict",
    "multi_input_wrt": "mi_wrt",
    "batch_axis_one": "batch1",
    "batch_of_three": "batch3",
    "keep_batch_axis": "keep_batch",
    "model_unchanged": "unchanged",
    "smoothgrad": "smooth",
    "integrated_gradients": "ig",
    "cam_family": "cam++_layercam",
    "score_cam": "scorecam",
    "guided_cam": "guided_cam",
}


def mark(zoo: Zoo, model_id: str, cell: str, full: bool) -> str:
    if cell not in make_zoo.cells_for(model_id) or (cell.startswith("cli_") and zoo.entries == {}):
        return "-"
    if make_zoo.skipped_for_speed(model_id, cell, full):
        return "skip"
    result = zoo.results.get(model_id, {}).get(cell)
    return "FAIL" if result is None or not result["ok"] else "ok"


def cell_table(zoo: Zoo, ids: list[str], full: bool) -> str:
    cells = [c for c in make_zoo.CELLS if any(mark(zoo, m, c, full) != "-" for m in ids)]
    lines = ["| model | " + " | ".join(SHORT.get(c, c) for c in cells) + " |"]
    lines.append("|---|" + "---|" * len(cells))
    for model_id in ids:
        lines.append(f"| {model_id} | " + " | ".join(mark(zoo, model_id, c, full) for c in cells) + " |")
    return "\n".join(lines)


def time_table(zoo: Zoo, ids: list[str]) -> str:
    """Per model: size, maker's build and save seconds, load seconds, each task's wall and CPU seconds."""
    header = "| model | params | file MB | build s | save s | load s | api s (cpu) | cli s (cpu) |"
    lines = [header, "|---|" + "---|" * 7]
    tasks = {(t["id"], "api" if t["kind"] == "in_process" else t["kind"]): t for t in zoo.tasks}
    for model_id in ids:
        entry = zoo.entries.get(model_id)
        load = zoo.results.get(model_id, {}).get("load", {}).get("seconds")
        cells = (
            [
                f"{entry['params']:,}",
                f"{entry['bytes'] / 1e6:.1f}",
                f"{entry['build_seconds']:.2f}",
                f"{entry['save_seconds']:.2f}",
            ]
            if entry and "bytes" in entry
            else ["", "", "", ""]
        )
        cells.append(f"{load:.2f}" if load is not None else "")
        for kind in ("api", "cli"):
            task = tasks.get((model_id, kind))
            cells.append(f"{task['seconds']:.1f} ({task.get('cpu', float('nan')):.1f})" if task else "")
        lines.append(f"| {model_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def totals(zoo: Zoo) -> str:
    cpu = zoo.maker_cpu + sum(t.get("cpu", 0.0) for t in zoo.tasks)
    return (
        f"maker {zoo.maker_seconds:.1f} s ({zoo.maker_cpu:.1f} s CPU); zoo {zoo.seconds:.1f} s wall; "
        f"CPU of the maker and the tasks {cpu:.1f} s (forkserver and the `python -m vis` run not counted)"
    )


def failures(zoo: Zoo, ids: list[str]) -> str:
    lines = [f"- {key}: {error}" for key, error in zoo.errors.items()]
    for model_id in ids:
        for cell, result in zoo.results.get(model_id, {}).items():
            if not result["ok"]:
                lines.append(f"- {model_id} / {cell}: {result['detail']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    full, in_process, details = "--full" in argv, "--in-process" in argv, "--details" in argv
    chosen = [a for a in argv if not a.startswith("--")]
    ids = chosen or make_zoo.MODEL_IDS
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vis-zoo-") as outdir:
        zoo = run_zoo(outdir, full=full, in_process=in_process, ids=chosen or None)
        mode = (
            "in-process (built, not saved)" if in_process else "saved by the maker, loaded in fresh processes"
        )
        print(f"## Zoo: {mode}{' (full)' if full else ''}\n")
        print(cell_table(zoo, ids, full))
        print("\n" + time_table(zoo, ids))
        if zoo.entry_point:
            print(
                f"\n`python -m vis {' '.join(zoo.entry_point['argv'][2:3])} ...`: exit code "
                f"{zoo.entry_point.get('returncode')}"
            )
        if details:
            print("\n### Failures\n\n" + failures(zoo, ids))
        print(f"\n{totals(zoo)}; total wall time {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
