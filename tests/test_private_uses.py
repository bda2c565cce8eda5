"""Each private Keras use of vis (listed in docs/architecture.md) is where vis expects it.

vis falls back to public behaviour when one of them moves (so users keep
working), which would otherwise go unnoticed: these tests fail loudly instead,
naming what moved. Behaviour tests elsewhere check what each use buys.
"""

import keras

from vis import backprop_modifiers
from vis.engine import graph, inference
from vis.visualization import feature_maps


def test_keras_call_context():
    """`vis.engine.inference`: sublayers called without a `training` flag run in inference mode."""
    assert inference.global_state is not None and inference.CallContext is not None, (
        "Keras's call context moved"
    )
    with inference.mode():
        context = inference.global_state.get_global_attribute(inference._CONTEXT)
        assert context is not None and context.training is False
    assert inference.global_state.get_global_attribute(inference._CONTEXT) is None


def test_keras_functional_class():
    """`vis.engine.graph`: nested Functional models are inlined layer by layer."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    assert isinstance(model, graph.Functional) and graph.is_inlinable(model)


def test_keras_graph_attributes():
    """`vis.engine.graph` / `plan`: Keras has no public way to walk a functional graph."""
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(inputs))
    assert graph.history(model.outputs[0]).operation is dense
    assert dense._inbound_nodes and dense._inbound_nodes[0].input_tensors[0] is inputs
    assert graph.producer(inputs)[0]._outbound_nodes
    assert dense in list(model._flatten_layers(include_self=False))


def test_keras_convolution_and_pooling_base_classes():
    """`vis.visualization.feature_maps`: user subclasses of Keras's base classes count as conv/pool."""
    from keras.src.layers.convolutional.base_conv import BaseConv
    from keras.src.layers.pooling.base_pooling import BasePooling

    assert BaseConv in feature_maps._SPATIAL_TYPES and BasePooling in feature_maps._SPATIAL_TYPES


def test_keras_autocast_scope():
    """`vis.backprop_modifiers`: guided stand-ins read a mixed-precision layer's weights as float16."""
    layer = keras.layers.Dense(2, dtype="mixed_float16")
    layer.build((None, 3))
    scope = backprop_modifiers._autocast(layer)
    with scope:
        assert layer.kernel.value.dtype == "float16"
