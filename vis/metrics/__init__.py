"""Faithfulness metrics: which map can you trust on your model?

Three questions, three modules:

- `vis.metrics.perturbation`: does the model's score follow the pixels the map
  ranks first? `deletion` (lower is better) and `insertion` (higher is better).
- `vis.metrics.localization`: does the map's maximum fall on the object?
  `pointing_game`, from boxes or masks, no model needed.
- `vis.metrics.randomization`: does the map change when the model's weights are
  randomised? `randomization_test` (low correlation is good: a map that survives
  randomisation shows the image, not the model).

And for Integrated Gradients, `vis.metrics.completeness`: do the attributions add
up to the change of the score between the baseline and the seed?

Every result is a numpy array with the batch axis first, also for one seed.
Maps can come from any method in `vis.visualization.methods` or be your own
arrays. Every model evaluation is a batched forward call of
`vis.engine.evaluate`; the user's model is never changed.
"""

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
from vis.metrics.completeness import completeness
from vis.metrics.localization import pointing_game
from vis.metrics.perturbation import (
    area_under_curve,
    deletion,
    deletion_curves,
    insertion,
    insertion_curves,
)
from vis.metrics.randomization import randomization_test, randomized_layers, rank_correlation

__all__ = [
    "area_under_curve",
    "completeness",
    "deletion",
    "deletion_curves",
    "insertion",
    "insertion_curves",
    "pointing_game",
    "randomization_test",
    "randomized_layers",
    "rank_correlation",
]
