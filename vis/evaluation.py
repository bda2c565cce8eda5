"""Every map method scored by every metric on one model: the table of `vis evaluate` and `vis demo`.

`evaluate_methods` runs each method on a batch of seeds, then deletion,
insertion, the randomisation test (cascading over the top few layers with
weights) and, given object masks, the pointing game. Two reference maps that do
not look at the model are scored alongside: a random map (what no information
gives) and the seed's own edge map (what "shows the image" gives: it survives
randomisation by construction).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from vis import metrics
from vis.metrics.common import Target, input_channel_axis, method_maps, seed_batch, spatial_shape
from vis.metrics.randomization import correlations, weighted_layers
from vis.visualization import methods as registry

RANDOM, EDGES = "random map", "edge map"
REFERENCES = (RANDOM, EDGES)


def default_methods() -> list[str]:
    """The registered method names, one per method (aliases such as `'cam'` for `'gradcam'` left out).

    Returns:
        The names, in registration order.
    """
    seen, names = set(), []
    for name in registry.names():
        method = registry.get(name)
        key = (method.function, tuple(sorted(method.fixed.items())))
        if key not in seen:
            seen.add(key)
            names.append(name)
    return names


def edge_map(model, layer_idx, filter_indices, seed_input, **kwargs) -> np.ndarray:
    """The seeds' own edge maps: Sobel gradient magnitude, channels summed, each min-max scaled to [0, 1].

    A map method that never looks at the model (only at `seed_input`): the
    reference for "shows the image".

    Args:
        model: The model (only its input shape is read, to check the seeds).
        layer_idx: Ignored (the map method signature).
        filter_indices: Ignored.
        seed_input: One input or a batch.
        **kwargs: Ignored.

    Returns:
        float64 `(batch, *spatial)` maps in [0, 1], batch axis first.
    """
    batch = seed_batch(model, seed_input)
    channel = input_channel_axis(batch.ndim)
    spatial = [a for a in range(1, batch.ndim) if a != channel]
    edges = np.sqrt(sum(_sobel(batch.astype("float64"), a, spatial) ** 2 for a in spatial))
    edges = edges if channel is None else edges.sum(axis=channel)
    flat = edges.reshape(len(edges), -1)
    low, span = flat.min(axis=1, keepdims=True), np.ptp(flat, axis=1, keepdims=True)
    return ((flat - low) / np.where(span > 0, span, 1.0)).reshape(edges.shape)


def _sobel(batch: np.ndarray, axis: int, spatial: list) -> np.ndarray:
    """The Sobel derivative along `axis`, smoothed along the other spatial axes only (not across seeds)."""
    result = ndimage.correlate1d(batch, [-1.0, 0.0, 1.0], axis=axis, mode="nearest")
    for other in spatial:
        if other != axis:
            result = ndimage.correlate1d(result, [1.0, 2.0, 1.0], axis=other, mode="nearest")
    return result


@dataclass
class Evaluation:
    """Scores of several map methods on one model and batch of seeds (all per seed, batch axis first).

    Attributes:
        names: The methods, then the reference maps (`'random map'`, `'edge map'`).
        ms_per_map: Milliseconds per map of each method (a warm second run); None for the references.
        deletion: Deletion curves `(batch, steps + 1)` per name.
        insertion: Insertion curves `(batch, steps + 1)` per name.
        randomization: Cascading rank correlations `(batch, layers)` per name; None for the random map.
        layers: The randomised layers, top first (the columns of `randomization`).
        pointing: Pointing-game hits `(batch,)` per name, or None without object masks.
    """

    names: list
    ms_per_map: dict
    deletion: dict
    insertion: dict
    randomization: dict
    layers: list
    pointing: dict | None = field(default=None)

    def rows(self) -> list[dict]:
        """One summary row per name: the means over the seeds (NaN correlations left out).

        Returns:
            A list of dicts: `method`, `ms_per_map`, `deletion_auc`, `insertion_auc`,
            `randomization_top`, `randomization_all` (and `pointing_game` with masks).
        """
        rows = []
        for name in self.names:
            rho = self.randomization[name]
            row = {
                "method": name,
                "ms_per_map": self.ms_per_map[name],
                "deletion_auc": float(metrics.area_under_curve(self.deletion[name]).mean()),
                "insertion_auc": float(metrics.area_under_curve(self.insertion[name]).mean()),
                "randomization_top": None if rho is None else _nanmean(rho[:, 0]),
                "randomization_all": None if rho is None else _nanmean(rho[:, -1]),
            }
            if self.pointing is not None:
                row["pointing_game"] = float(np.mean(self.pointing[name]))
            rows.append(row)
        return rows

    def table(self) -> str:
        """The summary as a fixed-width text table (also valid Markdown)."""
        headers = {
            "method": "method",
            "ms_per_map": "ms/map",
            "deletion_auc": "deletion AUC (lower=better)",
            "insertion_auc": "insertion AUC (higher=better)",
            "randomization_top": "rand. corr. top layer (lower=better)",
            "randomization_all": f"rand. corr. top {len(self.layers)} layers",
            "pointing_game": "pointing game (higher=better)",
        }
        rows = self.rows()
        keys = list(rows[0])
        cells = [[headers[k] for k in keys]] + [[_cell(row[k]) for k in keys] for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in cells]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def write_csv(self, path: str) -> None:
        """Writes the summary rows (one per method, means over the seeds) as CSV.

        Args:
            path: The CSV file to write.
        """
        rows = self.rows()
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)

    def write_figure(self, path: str, title: str = "") -> None:
        """Writes a PNG: mean deletion and insertion curves, and the rank correlation per randomised layer.

        Args:
            path: The PNG file to write.
            title: The figure's title.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
        for name in self.names:
            style = (
                {"linestyle": "--", "color": "gray" if name == RANDOM else "black"}
                if name in REFERENCES
                else {}
            )
            for axis, curves in zip(axes[:2], (self.deletion[name], self.insertion[name])):
                axis.plot(np.linspace(0, 1, curves.shape[1]), curves.mean(axis=0), label=name, **style)
            if self.randomization[name] is not None:
                rho = [_nanmean(column) for column in self.randomization[name].T]
                axes[2].plot(range(len(self.layers)), rho, marker="o", label=name, **style)
        for axis, text in zip(axes[:2], ("deletion: pixels removed", "insertion: pixels revealed")):
            axis.set_xlabel(f"fraction of {text.split(': ')[1]} (map order)")
            axis.set_ylabel("score (mean over seeds)")
            axis.set_title(
                text.split(":")[0] + (" (lower is better)" if "del" in text else " (higher is better)")
            )
        axes[2].set_xticks(range(len(self.layers)), [f"+{n}" for n in self.layers], rotation=30, ha="right")
        axes[2].set_ylim(-0.2, 1.05)
        axes[2].set_ylabel("rank correlation with the trained map")
        axes[2].set_title("randomisation, cascading (lower is better)")
        # One legend for the three plots, to the right of them: inside one, it covered its curves.
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
        fig.suptitle(title or "Can I trust this map? (vis evaluate)")
        fig.tight_layout(rect=(0, 0, 0.88, 1))
        fig.savefig(path, dpi=72)
        plt.close(fig)


def _nanmean(values) -> float:
    values = np.asarray(values, dtype="float64")
    return float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"


def evaluate_methods(
    model,
    layer_idx,
    filter_indices,
    seed_input,
    methods: list | None = None,
    steps: int = 10,
    baseline=0.0,
    num_layers: int | None = 3,
    masks=None,
) -> Evaluation:
    """Scores each method's maps of `seed_input` with every metric of `vis.metrics`.

    Args:
        model: A Keras model with one input.
        layer_idx: The layer the maps explain and the metrics score.
        filter_indices: As for `vis.metrics.deletion`, `'predicted'` included.
        seed_input: One input or a batch.
        methods: Method names or map functions; None for every registered one.
        steps: Deletion and insertion steps.
        baseline: Deletion and insertion baseline (a number, an array or `'blur'`).
        num_layers: How many layers (with weights, from the top) the cascading
            randomisation goes through; None for all.
        masks: Optional object masks or boxes, one per seed, for the pointing game.

    Returns:
        An `Evaluation`.

    Raises:
        ValueError: For an unknown method name, and what the metrics check.
    """
    functions = [registry.get(m) for m in (default_methods() if methods is None else methods)]
    target = Target(model, layer_idx, filter_indices)
    batch = seed_batch(model, seed_input)
    edges = registry.Method(EDGES, edge_map, per_sample=True)
    calls = {f.name: target.calls(batch, f) for f in [*functions, edges]}
    maps, times = {}, {}
    for function in functions:
        method_maps(function, model, layer_idx, calls[function.name], batch)  # Compiles (the first call).
        start = time.perf_counter()
        maps[function.name] = method_maps(function, model, layer_idx, calls[function.name], batch)
        times[function.name] = 1000.0 * (time.perf_counter() - start) / len(batch)
    maps[RANDOM] = np.random.default_rng(0).random((len(batch), *spatial_shape(batch)))
    maps[EDGES] = edge_map(model, layer_idx, None, batch)
    names = [f.name for f in functions] + list(REFERENCES)
    curves = {}
    for kind, function in (("deletion", metrics.deletion_curves), ("insertion", metrics.insertion_curves)):
        curves[kind] = {
            name: function(model, layer_idx, filter_indices, batch, maps[name], steps, baseline)
            for name in names
        }
    chosen = weighted_layers(model, layer_idx, num_layers)
    rho = {RANDOM: None}
    for function in [*functions, edges]:
        name = function.name
        rho[name] = correlations(
            function, model, layer_idx, calls[name], batch, maps[name], chosen, "cascading", {}
        )
    pointing = None if masks is None else {name: metrics.pointing_game(maps[name], masks) for name in names}
    return Evaluation(
        names,
        {**times, RANDOM: None, EDGES: None},
        curves["deletion"],
        curves["insertion"],
        rho,
        [layer.name for layer in chosen],
        pointing,
    )
