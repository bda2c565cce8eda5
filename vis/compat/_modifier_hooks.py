"""A callable input modifier as a vis input modifier: its call is vis's `pre` hook.

tf-keras-vis's modifiers are callables `modifier(batch) -> batch` applied
before each step; vis's `Optimizer.minimize` calls `pre` before and `post`
after each step. Deriving from `CallAsPre` makes the former usable as the
latter (run on the host between compiled steps, as numpy code must be). It
lives outside `vis.compat.tf_keras_vis` so that package's classes keep
tf-keras-vis 0.8.7's own bases and methods.
"""

from __future__ import annotations

from vis import input_modifiers


class CallAsPre(input_modifiers.InputModifier):
    """An input modifier whose `pre` is the object's own call (and `post` the identity)."""

    graph_compatible = False  # Written with numpy/scipy: vis runs them on the host between steps.

    def pre(self, inp):
        """Returns `self(inp)`: the modified batch.

        Args:
            inp: A batch of inputs.

        Returns:
            The modified batch.
        """
        return self(inp)
