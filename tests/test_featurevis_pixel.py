"""The keras-vis default path (`image_param='pixel'`, no transforms) is unchanged, bit for bit."""

import numpy as np

from tests import featurevis_reference


def test_the_pixel_path_equals_the_outputs_recorded_before_the_new_options():
    recorded = np.load(featurevis_reference.PATH)
    now = featurevis_reference.outputs()
    assert sorted(recorded.files) == sorted(now)
    for name in recorded.files:
        assert now[name].dtype == recorded[name].dtype, name
        np.testing.assert_array_equal(now[name], recorded[name], err_msg=name)
    assert np.ptp(now["fused_float"]) > 0.1  # A real image, not a constant.
