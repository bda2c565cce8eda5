"""Feature visualization: activation maximization that shows features instead of noise.

The method of Olah et al., "Feature Visualization" (Distill 2017), and of
lucid's `optvis`, on vis's own optimizer loop. The pieces are kept apart:

- `vis.featurevis.param`: parametrisations (pixels; a 1/f-scaled Fourier spectrum).
- `vis.featurevis.color`: decorrelated colour and the sigmoid into `input_range`.
- `vis.featurevis.transforms`: random pad, jitter, scale and rotate inside the step.
- `vis.featurevis.objectives`: what to maximise (a channel, a neuron, a layer).
- `vis.featurevis.render`: the pipeline the compiled step runs (parameters to model input).

The render loop itself is `vis.optimizer.Optimizer` / `vis.optimizer_loop`,
reached from `visualize_activation(..., image_param='fft', decorrelate=True,
transforms='robust')`.
"""

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
from vis.featurevis.render import Renderer

__all__ = ["Renderer"]
