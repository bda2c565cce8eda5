"""VGG16 with a linear output, at the module path keras-vis 0.1 to 0.2.1 had.

Tutorials of those releases start with `from vis.utils.vggnet import VGG16`
and `model = VGG16(weights='imagenet', include_top=True)`: the ImageNet VGG16
of `keras.applications` whose last layer, 'predictions', is linear instead
of softmax, so that the gradient of one class does not depend on the others.
This module builds exactly that model with
`keras.applications.VGG16(..., classifier_activation=None)`.
"""

from __future__ import annotations

import keras


def VGG16(  # noqa: N802 - the keras-vis (and keras.applications) name.
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor=None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
) -> keras.Model:
    """Instantiates VGG16 with a linear 'predictions' layer, as keras-vis's `vggnet.VGG16` did.

    The arguments are those of `keras.applications.VGG16` (and of keras-vis,
    in the same order); the classifier activation is always linear. With
    `weights='imagenet'` the ImageNet weights are downloaded once into
    `~/.keras/models` by Keras; the logits they give are the ones the
    softmax model would turn into probabilities.

    Example:

    ```python
    from vis.utils.vggnet import VGG16
    model = VGG16(weights='imagenet', include_top=True)
    layer_idx = utils.find_layer_idx(model, 'predictions')
    ```

    Args:
        include_top: Whether to include the three fully-connected layers.
        weights: `'imagenet'`, None (random initialisation) or the path of a
            weights file.
        input_tensor: Optional Keras tensor (output of `keras.Input()`) to
            use as the image input.
        input_shape: Optional shape tuple, only when `include_top` is False
            (otherwise `(224, 224, 3)`, or `(3, 224, 224)` channels-first);
            at least 32 pixels wide and high, with 3 channels.
        pooling: With `include_top=False`: None for the last convolution
            block's 4D output, `'avg'` or `'max'` for a global pooling.
        classes: Number of classes, only with `include_top=True` and no
            ImageNet weights.

    Returns:
        A `keras.Model` named 'vgg16'. With `include_top`, its last layer is
        the linear Dense layer 'predictions'.

    Raises:
        ValueError: For an invalid `weights`, `input_shape` or `classes`
            (raised by `keras.applications.VGG16`).
    """
    return keras.applications.VGG16(
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=None,
    )


__all__ = ["VGG16"]
