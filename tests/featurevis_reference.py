"""The keras-vis default of `visualize_activation` (pixels, RMSProp, no transforms) on fixed seeds.

`python -m tests.featurevis_reference` wrote `tests/fixtures/featurevis_pixel_reference.npz`
from the code before the feature-visualization options existed (commit 64fb34d);
`tests/test_featurevis_pixel.py` checks today's outputs equal it bit for bit.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

from tests.models import small_cnn  # noqa: E402
from vis.backend import set_random_seed  # noqa: E402
from vis.callbacks import OptimizerCallback  # noqa: E402
from vis.input_modifiers import Jitter  # noqa: E402
from vis.visualization import visualize_activation  # noqa: E402

PATH = os.path.join(os.path.dirname(__file__), "fixtures", "featurevis_pixel_reference.npz")


class _Last(OptimizerCallback):
    def callback(self, i, named_losses, overall_loss, grads, wrt_value):
        self.value = np.array(wrt_value)


def outputs() -> dict:
    """The outputs of the fused loop, the stepwise loop (callback) and a `Jitter` run, float and uint8."""
    model = small_cnn((12, 12, 3), classes=4, seed=0)
    found = {}
    for name, kwargs in [
        ("fused", {}),
        ("fused_float", {"input_range": (0.0, 1.0)}),
        ("jitter", {"input_modifiers": [Jitter(2)]}),
        ("filters", {"filter_indices": [1, 2], "tv_weight": 1}),
    ]:
        set_random_seed(7)
        params = {"filter_indices": 1, "max_iter": 12, **kwargs}
        found[name] = visualize_activation(model, "preds", **params)
    set_random_seed(7)
    last = _Last()
    found["stepwise"] = visualize_activation(model, "preds", 3, max_iter=12, callbacks=[last])
    found["stepwise_last"] = last.value
    return found


if __name__ == "__main__":
    np.savez(PATH, **outputs())
    print("wrote", PATH)
