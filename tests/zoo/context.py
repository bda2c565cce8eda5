"""What every cell needs about one loaded model: its layers, seeds, cached references, comparisons."""

from __future__ import annotations

import warnings

import numpy as np

from tests.zoo import references as refs

ATOL = 1e-4  # float32 maps of small models: vis's compiled graph and an eager tape agree to about 1e-7
# Float16 maps, and maps of deep ReLU networks (keras.applications: TensorFlow's own compiled and
# eager gradients of a ResNet50 differ by about 3%, rounding flips a few ReLU gates), are compared
# by correlation, with a bound on the largest difference.
MIN_CORRELATION = {"mixed": 0.999, "deep": 0.995}
LOOSE_ATOL = 0.1
DEEP = 60  # layers


class Context:
    """One model, its manifest entry, seeds and lazily computed references (batch of one seed)."""

    def __init__(self, model, entry: dict) -> None:
        self.model, self.entry = model, entry
        self.layer_name = entry["layer"]
        self.layer = refs.find(model, self.layer_name)
        self.classes = entry["classes"]
        self.k1, self.k2 = 1 % self.classes, 2 % self.classes
        self.mixed = "mixed" in entry["flags"]
        self.loose = self.mixed or entry["layers"] > DEEP
        self.min_correlation = MIN_CORRELATION["deep" if entry["layers"] > DEEP else "mixed"]
        self.single = len(entry["inputs"]) == 1
        self.seed = self.seeds(seed=0)
        self._cache: dict = {}

    def seeds(self, seed: int = 0, batch: int | None = None) -> list[np.ndarray]:
        """One seed per input (inside `input_range`; integers for token inputs)."""
        rng = np.random.default_rng(seed)
        low, high = self.entry["input_range"]
        found = []
        for spec in self.entry["inputs"]:
            shape = tuple(spec["shape"]) if batch is None else (batch, *spec["shape"])
            if "int" in spec["dtype"]:
                found.append(rng.integers(int(low), int(high), shape).astype(spec["dtype"]))
            else:
                found.append(rng.uniform(low, high, shape).astype(spec["dtype"]))
        return found

    @property
    def arg(self):
        """The seed as a user passes it: an array, or a list of arrays for a multi-input model."""
        return self.seed[0] if self.single else list(self.seed)

    @property
    def batch(self) -> list[np.ndarray]:
        return [s[None] for s in self.seed]

    def spatial(self) -> tuple:
        """The grad-CAM map's shape: the (first) image-like input's shape less its channel axis."""
        spec = self.entry["inputs"][0]
        shape = tuple(spec["shape"])
        return shape if "int" in spec["dtype"] else shape[:-1]

    def cached(self, key, compute):
        if key not in self._cache:
            try:
                self._cache[key] = compute()
            except Exception as error:  # noqa: BLE001 - a broken reference is reported as such
                raise RuntimeError(f"reference {key!r} failed: {type(error).__name__}: {error}") from error
        return self._cache[key]

    def saliency_ref(self, modifier=None) -> dict:
        """`{k: [map per input]}` (no batch axis) for the two classes the cells use."""
        found = self.cached(
            ("saliency", modifier),
            lambda: refs.saliency(self.model, self.batch, self.layer, sorted({self.k1, self.k2}), modifier),
        )
        return {k: [m[0] for m in maps] for k, maps in found.items()}

    def cam_ref(self, path: str) -> dict:
        """`{k: map}` for every class, the penultimate layer at `path`."""
        penultimate = refs.find(self.model, path)
        found = self.cached(
            ("cam", path),
            lambda: refs.grad_cam(
                self.model, self.batch, self.layer, range(self.classes), penultimate, self.spatial()
            ),
        )
        return {k: m[0] for k, m in found.items()}

    def cam_class(self, path: str) -> int:
        """The class whose reference map varies most (a random net's map can be all zero for one class)."""
        refs = self.cam_ref(path)
        return max(refs, key=lambda k: np.ptp(refs[k]))

    def score(self, seeds: list, layer) -> np.ndarray:
        """`(batch, filters)`: S of every filter of `layer` at one seed (one array per input)."""
        return refs.layer_scores(self.model, [np.asarray(s)[None] for s in seeds], layer)


def check_map(got, expected, ctx: Context, what: str = "map") -> str:
    """Asserts a vis map equals a reference map; returns a short description of the agreement."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: shape {got.shape}, expected {expected.shape}")
    if not np.all(np.isfinite(got)):
        raise AssertionError(f"{what}: non-finite values")
    diff = float(np.abs(got.astype("float64") - expected).max()) if got.size else 0.0
    if ctx.loose and np.ptp(expected) > 0 and np.ptp(got) > 0:
        correlation = float(np.corrcoef(got.ravel(), expected.ravel())[0, 1])
        if correlation < ctx.min_correlation or diff > LOOSE_ATOL:
            raise AssertionError(
                f"{what}: correlation {correlation:.4f} (min {ctx.min_correlation}), max |vis - "
                f"reference| {diff:.3g} (max {LOOSE_ATOL})"
            )
        return f"{what}: correlation {correlation:.5f}, max|diff| {diff:.1e}"
    if diff > ATOL:
        raise AssertionError(f"{what}: max |vis - reference| = {diff:.3g} > {ATOL}")
    return f"{what}: max|diff| {diff:.1e}"


def check_maps(got, expected: list, ctx: Context, what: str = "map") -> str:
    """`check_map` on one map (single-input model) or on a list of maps (one per input)."""
    if ctx.single:
        return check_map(got, expected[0], ctx, what)
    if not isinstance(got, (list, tuple)) or len(got) != len(expected):
        raise AssertionError(
            f"{what}: expected a list of {len(expected)} maps (one per input), got {_kind(got)}"
        )
    return "; ".join(check_map(g, e, ctx, f"{what}[{i}]") for i, (g, e) in enumerate(zip(got, expected)))


def _kind(value) -> str:
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"an array of shape {np.shape(value)}"


class Recorded(warnings.catch_warnings):
    """`warnings.catch_warnings(record=True)` that records every warning, repeated ones included."""

    def __init__(self) -> None:
        super().__init__(record=True)

    def __enter__(self):
        log = super().__enter__()
        warnings.simplefilter("always")
        return log


def messages(log, category=Warning) -> list[str]:
    return [str(w.message) for w in log if issubclass(w.category, category)]


