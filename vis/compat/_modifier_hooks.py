"""`CallAsPre`: a tf-keras-vis input modifier (a callable `batch -> batch`) as a vis input modifier.

Its call becomes vis's `pre` hook, run on the host between compiled steps (numpy code). It lives
outside `vis.compat.tf_keras_vis` so that package's classes keep 0.8.7's own bases and methods.
"""

from __future__ import annotations

from vis import input_modifiers


class CallAsPre(input_modifiers.InputModifier):
    """An input modifier whose `pre` is the object's own call (and `post` the identity)."""

    graph_compatible = False  # Written with numpy/scipy: vis runs them on the host between steps.

    def pre(self, inp):
        """Returns `self(inp)`, the modified batch."""
        return self(inp)
