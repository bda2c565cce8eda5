"""keras-vis visualizations: saliency (and SmoothGrad), Integrated Gradients, the CAM family and
activation maximization."""

import vis._tensorflow_check  # noqa: F401  (a clear ImportError without TensorFlow 2.16+)
from vis.visualization import methods
from vis.visualization.activation_maximization import visualize_activation, visualize_activation_with_losses
from vis.visualization.cam import (
    visualize_cam,
    visualize_cam_plus_plus,
    visualize_cam_with_losses,
    visualize_guided_cam,
    visualize_layer_cam,
)
from vis.visualization.common import get_num_filters, overlay
from vis.visualization.integrated_gradients import integrated_gradients, visualize_integrated_gradients
from vis.visualization.legacy import (
    visualize_class_cam,
    visualize_class_saliency,
    visualize_regression_cam,
    visualize_regression_saliency,
)
from vis.visualization.saliency import visualize_saliency, visualize_saliency_with_losses
from vis.visualization.score_cam import visualize_score_cam

methods.register("saliency", visualize_saliency, per_sample=True)
methods.register("guided", visualize_saliency, per_sample=True, backprop_modifier="guided")
methods.register("rectified", visualize_saliency, per_sample=True, backprop_modifier="rectified")
methods.register("smoothgrad", visualize_saliency, smooth_samples=20)
methods.register("ig", visualize_integrated_gradients)
methods.register("gradcam", visualize_cam, kind="cam", per_sample=True)
methods.register("cam", visualize_cam, kind="cam", per_sample=True)
methods.register("gradcam++", visualize_cam_plus_plus, kind="cam", per_sample=True)
methods.register("layercam", visualize_layer_cam, kind="cam", per_sample=True)
methods.register("guided_gradcam", visualize_guided_cam, kind="cam", per_sample=True)
methods.register("scorecam", visualize_score_cam, kind="forward")

__all__ = [
    "methods",
    "visualize_activation",
    "visualize_activation_with_losses",
    "get_num_filters",
    "overlay",
    "visualize_cam",
    "visualize_cam_with_losses",
    "visualize_cam_plus_plus",
    "visualize_layer_cam",
    "visualize_guided_cam",
    "visualize_score_cam",
    "visualize_saliency",
    "visualize_saliency_with_losses",
    "integrated_gradients",
    "visualize_integrated_gradients",
    "visualize_class_cam",
    "visualize_class_saliency",
    "visualize_regression_cam",
    "visualize_regression_saliency",
]
