"""The Keras 2.0-2.2 names of keras.applications layers, and the layers they became.

keras-vis's examples name layers as keras.applications named them then
(`'fc1000'`, `'res5c_branch2c'`). Keras has renamed some of those layers since
(`'predictions'`, `'conv5_block3_3_conv'`). The old names are derived here from
each architecture's own naming rules, so that a lookup that fails can try the
name the layer has now.

Only architectures whose names changed are covered: ResNet50, DenseNet
(121, 169 and 201) and MobileNet. VGG16, VGG19, InceptionV3 and Xception kept
the names they gave their layers; their other layers were numbered by Keras
(`'conv2d_12'`, `'add_3'`), and such numbers depend on the session, so they
are never mapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

# ResNet50's stages and how many blocks each has, as in keras.applications.
_RESNET50_STAGES = ((2, 3), (3, 4), (4, 6), (5, 3))
# keras-vis era branch suffix -> current convolution index in a ResNet block.
_RESNET_BRANCHES = {"1": 0, "2a": 1, "2b": 2, "2c": 3}
_DENSENET_STEM = ("conv", "bn", "relu")


def _resnet50_names() -> dict[str, str]:
    """ResNet50's old names (`'res5c_branch2c'`, `'bn4f_branch1'`, ...) and the new ones.

    Block letters count the blocks of a stage (`'a'` is block 1) and the
    branches number the block's convolutions: `'1'` is the shortcut (`_0_`,
    first block of a stage only), `'2a'`, `'2b'` and `'2c'` are `_1_` to `_3_`.

    Returns:
        A dict from each old name to its new name.
    """
    names = {"conv1": "conv1_conv", "bn_conv1": "conv1_bn", "fc1000": "predictions"}
    for stage, blocks in _RESNET50_STAGES:
        for block in range(1, blocks + 1):
            letter = chr(ord("a") + block - 1)
            for branch, index in _RESNET_BRANCHES.items():
                if index == 0 and block > 1:
                    continue  # Only the first block of a stage has a shortcut convolution.
                new = f"conv{stage}_block{block}_{index}"
                names[f"res{stage}{letter}_branch{branch}"] = f"{new}_conv"
                names[f"bn{stage}{letter}_branch{branch}"] = f"{new}_bn"
    return names


def _densenet_names() -> dict[str, str]:
    """DenseNet's old names: the stem's `'conv1/conv'` (Keras 3 names have no `/`) and `'fc1000'`.

    Returns:
        A dict from each old name to its new name.
    """
    names = {f"conv1/{part}": f"conv1_{part}" for part in _DENSENET_STEM}
    names["fc1000"] = "predictions"
    return names


def _mobilenet_names() -> dict[str, str]:
    """MobileNet's old softmax `'act_softmax'`, now the last layer `'predictions'`.

    Returns:
        A dict from each old name to its new name.
    """
    return {"act_softmax": "predictions"}


@dataclasses.dataclass(frozen=True)
class Scheme:
    """How one keras.applications architecture named its layers in Keras 2.0-2.2.

    Attributes:
        architecture: The keras.applications model, e.g. `'ResNet50'`.
        signature: Layer names that only that architecture's current models
            have all of; a model without them is not taken for it.
        names: Builds the dict from old names to new names.
    """

    architecture: str
    signature: tuple[str, ...]
    names: Callable[[], dict[str, str]]

    def matches(self, layer_names: Collection[str]) -> bool:
        """Returns whether a model with these layer names looks like the architecture."""
        return all(name in layer_names for name in self.signature)


SCHEMES = (
    Scheme(
        architecture="ResNet50",
        signature=("conv1_conv", "conv1_bn", "conv2_block1_0_conv", "conv2_block1_3_conv"),
        names=_resnet50_names,
    ),
    Scheme(
        architecture="DenseNet",
        signature=("conv1_conv", "pool1", "conv2_block1_0_bn", "conv2_block1_concat"),
        names=_densenet_names,
    ),
    Scheme(
        architecture="MobileNet",
        signature=("conv1", "conv_dw_1", "conv_pw_1", "conv_preds"),
        names=_mobilenet_names,
    ),
)


def legacy_names(architecture: str) -> dict[str, str]:
    """Returns the old names of an architecture's renamed layers, each with its new name.

    Args:
        architecture: `'ResNet50'`, `'DenseNet'` or `'MobileNet'`.

    Returns:
        A dict from old name (Keras 2.0-2.2) to new name (Keras 3).

    Raises:
        ValueError: If the architecture is not one whose names changed.
    """
    for scheme in SCHEMES:
        if scheme.architecture == architecture:
            return scheme.names()
    known = ", ".join(repr(scheme.architecture) for scheme in SCHEMES)
    raise ValueError(f"`architecture` must be one of {known}. Received: architecture={architecture!r}")


def resolve(name: str, layer_names: Collection[str]) -> tuple[str, str] | None:
    """Returns the new name of an old keras.applications layer name, for a model's layers.

    The name is mapped only when the model looks like the architecture that
    used it (its layers include the architecture's signature) and the new
    layer exists. For a path `'nested/old_name'` the last part is mapped.

    Args:
        name: The name that no layer has.
        layer_names: The names of the model's layers, nested models' included.

    Returns:
        `(new_name, architecture)`, or None if the name does not map.
    """
    outer, _, last = name.rpartition("/")
    attempts = [("", name)] + ([(f"{outer}/", last)] if outer else [])
    for scheme in SCHEMES:
        if not scheme.matches(layer_names):
            continue
        names = scheme.names()
        for prefix, old in attempts:
            new = names.get(old)
            if new is not None and new in layer_names:
                return prefix + new, scheme.architecture
    return None


def renamings(name: str) -> list[tuple[str, str]]:
    """Returns what an old name became in each architecture that used it, whatever the model.

    Args:
        name: A layer name, e.g. `'fc1000'`.

    Returns:
        `(architecture, new_name)` pairs; empty if no architecture used the name.
    """
    last = name.rpartition("/")[2]
    found = []
    for scheme in SCHEMES:
        names = scheme.names()
        new = names.get(name, names.get(last))
        if new is not None:
            found.append((scheme.architecture, new))
    return found
