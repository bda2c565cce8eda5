"""keras-vis visualizations: saliency, grad-CAM and activation maximization."""

from vis.visualization.common import get_num_filters, overlay
from vis.visualization.saliency import visualize_saliency, visualize_saliency_with_losses

__all__ = [
    "get_num_filters",
    "overlay",
    "visualize_saliency",
    "visualize_saliency_with_losses",
]
