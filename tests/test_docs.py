"""The documentation site builds, covers every public module, and its examples run.

The runnable examples of the guides are the fenced ```python blocks that follow a
`<!-- runnable -->` line; the blocks of one page run in order in one namespace, like
notebook cells, on the demo model that ships with vis.
"""

import ast
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API = DOCS / "api"

# Modules with no API page of their own, and why.
INTERNAL = {
    "vis": "the package itself: only the version and the TensorFlow check",
    "vis.engine.graph": "reads Keras graphs for the engine; no user-facing function",
    "vis.engine.plan": "runs a graph on tensors, nested models inlined; engine internals",
    "vis.engine.inference": "the inference-mode context of the engine's runs",
    "vis.engine.dispatch": "runs a program here or across the replicas of a tf.distribute strategy",
    "vis.engine.program": "the compiled program behind `vis.engine.compute`, documented in vis.engine",
    "vis.engine.results": "what a program returns (`EngineResult`, re-exported by vis.engine)",
    "vis.optimizer_loop": "the compiled loop behind `Optimizer.minimize`, documented in vis.optimizer",
    "vis.optimizer_checks": "the checks of `Optimizer`'s arguments, documented in vis.optimizer",
    "vis.engine.diagnostics": "turns the engine's missing gradients into error messages",
    "vis.engine.compiling": "the one tf.function wrapper of the engine and the optimizer loop",
    "vis.utils.layers": "layer and channel-axis lookup used by the visualization functions",
    "vis.streaming_data": "reads data sets in batches and writes .npy files for vis.stream",
    "vis.cli.images": "the image-file part of the vis command, documented with vis.cli",
    "vis.cli.model": "loads the vis command's model and resolves its layer, documented with vis.cli",
    "vis.cli.attention": "the saliency, ig and cam commands, documented with vis.cli",
    "vis.cli.activation": "the activation command, documented with vis.cli",
    "vis.metrics.common": "the checks and the forward scoring shared by the metrics",
}
# Modules whose public names are re-exported by, and documented in, another module's page.
RE_EXPORTED = {
    "vis.utils.images": "vis.utils.utils",
    "vis.utils.colors": "vis.utils.utils",
    "vis.utils.data_format": "vis.utils.utils",
    "vis.utils.modifications": "vis.utils.utils",
    "vis.losses_base": "vis.losses",
}

RUNNABLE = "<!-- runnable -->"
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]*\ssrc=\"([^\"]+)\"")
DIRECTIVE = re.compile(r"^::: *([\w.]+)[ \t]*\n((?:[ \t]+\S.*\n?|[ \t]*\n)*)", re.MULTILINE)


def _modules() -> list[str]:
    """Every importable module under vis/, from the file tree (nothing is imported)."""
    names = []
    for path in sorted((ROOT / "vis").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__" or any(part.startswith("_") for part in parts):
            continue
        names.append(".".join(parts))
    return names


def _directives() -> dict[str, dict]:
    """`::: module` directives of the API pages: module name -> its options."""
    found = {}
    for page in sorted(API.glob("*.md")):
        for match in DIRECTIVE.finditer(page.read_text()):
            options = yaml.safe_load(textwrap.dedent(match.group(2))) if match.group(2).strip() else None
            found[match.group(1)] = (options or {}).get("options", {})
    return found


def _public_names(module: str) -> list[str]:
    """A module's `__all__`, or its public top-level functions and classes."""
    path = ROOT / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    ]


def _pages() -> list[pathlib.Path]:
    return sorted(DOCS.rglob("*.md"))


def _runnable_blocks(page: pathlib.Path) -> list[str]:
    text = page.read_text()
    return [m.group(1) for m in FENCE.finditer(text) if text[: m.start()].rstrip().endswith(RUNNABLE)]


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
    result = subprocess.run(
        command + ["-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert (tmp_path / "site" / "api" / "visualization" / "index.html").exists()


def test_every_public_module_has_an_api_page():
    directives = _directives()
    for module in INTERNAL:
        assert module in _modules(), f"stale entry in INTERNAL: {module}"
    missing = [m for m in _modules() if m not in directives and m not in INTERNAL and m not in RE_EXPORTED]
    assert missing == [], f"add a `::: module` directive under docs/api/ for: {missing}"


def test_re_exported_names_are_documented_where_users_find_them():
    directives = _directives()
    for module, owner in RE_EXPORTED.items():
        members = directives[owner].get("members") or []
        absent = [name for name in _public_names(module) if name not in members]
        assert absent == [], f"list {absent} (from {module}) in the members of `::: {owner}`"


def test_nav_lists_every_page():
    config = (ROOT / "mkdocs.yml").read_text()
    for page in _pages():
        relative = page.relative_to(DOCS).as_posix()
        assert f" {relative}" in config, f"{relative} is missing from the nav of mkdocs.yml"


def test_referenced_images_exist_and_stay_small():
    for page in [*_pages(), ROOT / "README.md"]:
        for match in IMAGE.finditer(page.read_text()):
            target = match.group(1) or match.group(2)
            if re.match(r"[a-z]+://", target):
                continue
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.relative_to(ROOT)} shows a missing image: {target}"
    for image in (DOCS / "images").glob("*.png"):
        assert image.stat().st_size < 150_000, f"{image.name} is over 150 KB"


def test_python_blocks_are_valid_python():
    for page in _pages():
        for number, match in enumerate(FENCE.finditer(page.read_text())):
            if not match.group(1).lstrip().startswith(">>>"):  # Interactive sessions are not scripts.
                compile(match.group(1), f"{page.relative_to(ROOT)} block {number}", "exec")


RUNNABLE_PAGES = [page for page in _pages() if _runnable_blocks(page)]


def test_guides_have_runnable_examples():
    names = {page.relative_to(DOCS).as_posix() for page in RUNNABLE_PAGES}
    assert {"guides/saliency.md", "guides/grad-cam.md", "guides/activation-maximization.md"} <= names


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_runnable_examples_run(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # Examples may write files (a GIF).
    namespace = {"__name__": "__docs__"}
    for number, code in enumerate(_runnable_blocks(page)):
        exec(compile(code, f"{page.relative_to(ROOT)} runnable block {number}", "exec"), namespace)
    plt.close("all")
