"""keras-vis visualizations: saliency, grad-CAM and activation maximization."""

from vis.visualization import methods
from vis.visualization.activation_maximization import visualize_activation, visualize_activation_with_losses
from vis.visualization.cam import visualize_cam, visualize_cam_with_losses
from vis.visualization.common import get_num_filters, overlay
from vis.visualization.legacy import (
    visualize_class_cam,
    visualize_class_saliency,
    visualize_regression_cam,
    visualize_regression_saliency,
)
from vis.visualization.saliency import visualize_saliency, visualize_saliency_with_losses

methods.register("saliency", visualize_saliency, per_sample=True)
methods.register("guided", visualize_saliency, per_sample=True, backprop_modifier="guided")
methods.register("rectified", visualize_saliency, per_sample=True, backprop_modifier="rectified")
methods.register("gradcam", visualize_cam, kind="cam", per_sample=True)
methods.register("cam", visualize_cam, kind="cam", per_sample=True)

__all__ = [
    "methods",
    "visualize_activation",
    "visualize_activation_with_losses",
    "get_num_filters",
    "overlay",
    "visualize_cam",
    "visualize_cam_with_losses",
    "visualize_saliency",
    "visualize_saliency_with_losses",
    "visualize_class_cam",
    "visualize_class_saliency",
    "visualize_regression_cam",
    "visualize_regression_saliency",
]
