"""The public surface of `vis.compat.tf_keras_vis` equals tf-keras-vis 0.8.7's, module by module.

Every module of the installed tf-keras-vis 0.8.7 (found by walking its package;
its wheel's top-level `tests` package is never imported) has a twin under
`vis.compat.tf_keras_vis`, holding every public name: the classes and
functions of tf-keras-vis (defined or re-exported there) with the same
parameters (names, kinds and defaults, callables compared as callables), the
same tf-keras-vis base classes and public methods (a class may add methods of
its own: the compat input modifiers are also vis input modifiers), and the
same constants.
A name added to, removed from or changed in either side fails here.
"""

import importlib
import inspect
import pkgutil
import warnings

import pytest

tf_keras_vis = pytest.importorskip("tf_keras_vis")

COMPAT = "vis.compat.tf_keras_vis"


def _modules() -> list[str]:
    names = ["tf_keras_vis"]
    for info in pkgutil.walk_packages(tf_keras_vis.__path__, "tf_keras_vis."):
        names.append(info.name)
    return sorted(names)


MODULES = _modules()


def _import(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated alias modules warn on import
        return importlib.import_module(name)


def _twin(name: str) -> str:
    return COMPAT + name[len("tf_keras_vis") :]


def _public(module) -> dict:
    """The module's public tf-keras-vis classes and functions, and its constants."""
    found = {}
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        origin = getattr(value, "__module__", None) or ""
        if (inspect.isclass(value) or callable(value)) and origin.startswith("tf_keras_vis"):
            found[name] = value
        elif isinstance(value, (str, int, float, bool, type(None))):
            found[name] = value
    return found


def _parameters(function) -> list:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    described = []
    for p in signature.parameters.values():
        default = p.default
        if callable(default) and default is not inspect.Parameter.empty:
            default = "<callable>"
        elif isinstance(default, list):
            default = [("<callable>" if callable(item) else item) for item in default]
        described.append((p.name, p.kind, default))
    return described


def _methods(cls) -> dict:
    names = {n for n, v in vars(cls).items() if callable(v) and (not n.startswith("_") or n == "__call__")}
    names |= {"__init__"}
    return {n: _parameters(getattr(cls, n)) for n in sorted(names) if hasattr(cls, n)}


def _bases(cls, root: str) -> set:
    return {(b.__module__[len(root) :], b.__name__) for b in cls.__mro__[1:] if b.__module__.startswith(root)}


def test_the_walk_finds_every_0_8_7_module():
    assert tf_keras_vis.__version__ == "0.8.7"
    expected = {
        "tf_keras_vis.saliency",
        "tf_keras_vis.gradcam",
        "tf_keras_vis.gradcam_plus_plus",
        "tf_keras_vis.layercam",
        "tf_keras_vis.scorecam",
        "tf_keras_vis.activation_maximization.callbacks",
        "tf_keras_vis.utils.model_modifiers",
        "tf_keras_vis.utils.scores",
        "tf_keras_vis.utils.test",
        "tf_keras_vis.utils.losses",
    }
    assert expected <= set(MODULES)
    assert not any(name.startswith("tests") for name in MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_module_mirrors_0_8_7(module_name):
    theirs = _import(module_name)
    ours = _import(_twin(module_name))
    public = _public(theirs)
    missing = sorted(set(public) - set(vars(ours)))
    assert not missing, f"{_twin(module_name)} lacks {missing}"
    for name, value in public.items():
        mine = getattr(ours, name)
        where = f"{_twin(module_name)}.{name}"
        if inspect.isclass(value):
            assert inspect.isclass(mine), where
            theirs_methods, my_methods = _methods(value), _methods(mine)
            assert {n: my_methods.get(n) for n in theirs_methods} == theirs_methods, where
            assert _bases(mine, COMPAT) == _bases(value, "tf_keras_vis"), where
        elif callable(value):
            assert callable(mine) and not inspect.isclass(mine), where
            assert _parameters(mine) == _parameters(value), where
        elif name != "__version__":
            assert mine == value, where


def test_no_public_name_beyond_0_8_7_but_the_documented_switch():
    """Our modules add no public class or function that 0.8.7 lacks (helpers are private)."""
    extra = {}
    for module_name in MODULES:
        try:
            ours = _import(_twin(module_name))
        except ImportError:
            continue
        theirs = set(_public(_import(module_name)))
        mine = {
            n
            for n, v in vars(ours).items()
            if not n.startswith("_")
            and (inspect.isclass(v) or inspect.isfunction(v))
            and getattr(v, "__module__", "") == ours.__name__
        }
        if mine - theirs:
            extra[module_name] = sorted(mine - theirs)
    allowed = {
        "tf_keras_vis": ["check_training", "current_definitions"],
        "tf_keras_vis.gradcam_plus_plus": ["tf_keras_vis_weights"],
        "tf_keras_vis.utils.model_modifiers": ["output_layers", "penultimate", "sub_model"],
        "tf_keras_vis.utils.scores": ["check_binary_output", "check_categorical_output"],
    }
    assert extra == allowed  # A name added or gone: update the list.


def test_importing_vis_compat_does_not_import_tensorflow():
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    code = "import sys, vis.compat; print(vis.compat.__file__, 'tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.split()[0].startswith(str(root))
    assert result.stdout.split()[1] == "False"
