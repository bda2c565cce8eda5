"""vis: keras-vis visualizations (saliency, grad-CAM, activation maximization) on Keras 3.

`import vis` is cheap: it does not import TensorFlow. TensorFlow's presence and
version are checked the first time a submodule is imported (`vis.visualization`,
`vis.utils.utils`, `vis.losses`, `vis.stream`, ...; all of them but the command
line `vis.cli`, which imports TensorFlow only when it loads a model), so a
missing or too old TensorFlow raises a clear ImportError there.
"""

import importlib.abc
import sys

__version__ = "0.6.0"

# Submodules that do not need TensorFlow to be imported (the command line answers `--help` without it).
_WITHOUT_TENSORFLOW = ("vis.cli", "vis.__main__")


def _needs_tensorflow(fullname: str) -> bool:
    """Whether importing the module `fullname` needs TensorFlow: every vis submodule but the command line."""
    if not fullname.startswith("vis."):
        return False
    return not any(fullname == name or fullname.startswith(name + ".") for name in _WITHOUT_TENSORFLOW)


def _require_tensorflow() -> None:
    """Imports TensorFlow and checks its version.

    Raises:
        ImportError: If TensorFlow is not installed or older than 2.16 (Keras 3).
    """
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            "vis needs TensorFlow 2.16 or newer (Keras 3). Install it with "
            '`pip install tensorflow` (or tensorflow-cpu), or install vis as `pip install ".[tensorflow]"`.'
        ) from error
    major, minor = (int(part) for part in tf.__version__.split(".")[:2])
    if (major, minor) < (2, 16):
        raise ImportError(
            f"vis needs TensorFlow 2.16 or newer (Keras 3). Found: tensorflow=={tf.__version__}"
        )


class _TensorFlowCheck(importlib.abc.MetaPathFinder):
    """Checks TensorFlow before the first vis submodule that needs it is imported, then steps aside.

    It finds no module itself (`find_spec` returns None, so the usual finders
    import the submodule); it only runs `_require_tensorflow` first. Once the
    check has passed it removes itself from `sys.meta_path`.
    """

    def find_spec(self, fullname, path, target=None):
        if not _needs_tensorflow(fullname):
            return None
        _require_tensorflow()
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        return None


sys.meta_path.insert(0, _TensorFlowCheck())


def __getattr__(name: str):
    # `vis.stream` without importing the visualization modules at `import vis`.
    if name == "stream":
        from vis.streaming import stream

        return stream
    raise AttributeError(f"module 'vis' has no attribute {name!r}")
