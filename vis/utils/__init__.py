"""Helpers shared by the visualizations (keras-vis `vis.utils`)."""

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
