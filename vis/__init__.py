"""vis: keras-vis visualizations (saliency, grad-CAM, activation maximization) on Keras 3.

`import vis` is cheap: it does not import TensorFlow, so the command line
(`vis.cli`) answers `--help` and argument errors at once. The packages that
need TensorFlow (`vis.utils`, `vis.engine`, `vis.visualization`,
`vis.metrics`, `vis.backend`) check its presence and version when they are
imported, so a missing or too old TensorFlow raises a clear ImportError there.
"""

__version__ = "0.6.0"


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


def __getattr__(name: str):
    # `vis.stream` without importing the visualization modules at `import vis`.
    if name == "stream":
        from vis.streaming import stream

        return stream
    raise AttributeError(f"module 'vis' has no attribute {name!r}")
