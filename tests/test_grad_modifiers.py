"""Tests for vis.grad_modifiers: elementwise values against numpy."""

import numpy as np
import pytest

from vis import grad_modifiers

EPS = 1e-7


def _grads():
    return np.array([[-2.0, -0.5, 0.0], [0.25, 1.0, 3.0]], dtype="float32")


REFERENCES = {
    "negate": lambda g: -g,
    "absolute": np.abs,
    "invert": lambda g: 1.0 / (g.astype("float64") + EPS),
    "relu": lambda g: np.where(g < 0, 0.0, g),
    "small_values": lambda g: np.abs(1.0 / (g.astype("float64") + EPS)),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_numpy_and_input_untouched(name):
    grads = _grads()
    before = grads.copy()
    result = getattr(grad_modifiers, name)(grads)
    np.testing.assert_array_equal(grads, before)
    assert isinstance(result, np.ndarray)
    assert result is not grads
    assert result.shape == grads.shape
    assert result.dtype == grads.dtype
    np.testing.assert_allclose(result, REFERENCES[name](before), rtol=1e-6)


def test_hand_computed_values():
    g = np.array([-2.0, 0.5, 4.0])
    np.testing.assert_array_equal(grad_modifiers.negate(g), [2.0, -0.5, -4.0])
    np.testing.assert_array_equal(grad_modifiers.absolute(g), [2.0, 0.5, 4.0])
    np.testing.assert_array_equal(grad_modifiers.relu(g), [0.0, 0.5, 4.0])
    np.testing.assert_allclose(grad_modifiers.invert(g), [-0.5, 2.0, 0.25], rtol=1e-6)
    np.testing.assert_allclose(grad_modifiers.small_values(g), [0.5, 2.0, 0.25], rtol=1e-6)
    # At zero the epsilon keeps the inverse finite: 1 / 1e-7.
    assert grad_modifiers.invert(np.zeros(1))[0] == pytest.approx(1e7)


def test_relu_does_not_modify_input():
    # keras-vis' relu clipped the array in place; this one must not.
    g = np.array([-1.0, 2.0])
    grad_modifiers.relu(g)
    np.testing.assert_array_equal(g, [-1.0, 2.0])


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_get_by_name(name):
    assert grad_modifiers.get(name) is getattr(grad_modifiers, name)


def test_get_callable_and_none():
    def custom(grads):
        return grads * 2

    assert grad_modifiers.get(custom) is custom
    assert grad_modifiers.get(np.abs) is np.abs
    assert grad_modifiers.get(None) is None


def test_get_unknown_name():
    with pytest.raises(ValueError) as info:
        grad_modifiers.get("foo")
    message = str(info.value)
    assert message.startswith("Unknown grad_modifier: 'foo'. Valid names: ")
    for name in REFERENCES:
        assert repr(name) in message
    assert message.endswith("Received: grad_modifier='foo'")


@pytest.mark.parametrize("identifier", [3, 1.5, ["absolute"]])
def test_get_wrong_type(identifier):
    with pytest.raises(TypeError, match=r"Received: grad_modifier="):
        grad_modifiers.get(identifier)
