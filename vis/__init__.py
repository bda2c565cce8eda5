"""vis: keras-vis visualizations (saliency, grad-CAM, activation maximization) on Keras 3."""

__version__ = "0.6.0"


def _require_tensorflow() -> None:
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            "vis needs TensorFlow 2.16 or newer (Keras 3). Install it with "
            "`pip install tensorflow` (or tensorflow-cpu), or install vis as `pip install \".[tensorflow]\"`."
        ) from error
    major, minor = (int(part) for part in tf.__version__.split(".")[:2])
    if (major, minor) < (2, 16):
        raise ImportError(
            f"vis needs TensorFlow 2.16 or newer (Keras 3). Found: tensorflow=={tf.__version__}"
        )


_require_tensorflow()


def __getattr__(name: str):
    # `vis.stream` without importing the visualization modules at `import vis`.
    if name == "stream":
        from vis.streaming import stream

        return stream
    raise AttributeError(f"module 'vis' has no attribute {name!r}")
