"""Running a symbolic Keras graph on tensors: one ordered list of calls, nested models inlined.

A `Plan` reads the graph that loss expressions describe (down to the model's
inputs) once, and turns it into a flat list of calls: every operation once,
every nested Functional or Sequential model inlined layer by layer, so that
any inner layer's output is a tensor the gradient can be taken against.
Running the plan calls each operation on real tensors (eagerly, or while a
`tf.function` traces), in inference mode.

Tensors are bound by identity, never by name: Keras names layers from a
per-process counter, and a model loaded in a fresh process can hold several
operations of the same name (its own `input_layer` and a loss's placeholder,
or two copies of a reloaded `Sequential`'s graph). Names are never read here.

A loss built on a layer *inside* a nested model (`base.get_layer(...).output`)
lies on the nested model's own graph, which starts at the nested model's
input, not at the user's. Such tensors are "detached": the plan first runs
the outer model up to the nested model's call (through any preprocessing
before it) and binds them to the values computed there.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import keras

from vis.engine import graph, inference
from vis.engine.graph import producer

Replace = Callable[[keras.layers.Layer], Callable | None]


class _Step:
    """One call: `function(*args, **kwargs)` with arguments read from registers."""

    __slots__ = ("function", "arguments", "feeds", "outputs", "training")

    def __init__(self, function, arguments, feeds: list, outputs: list, training: bool) -> None:
        self.function = function
        self.arguments = arguments  # a node's `SymbolicArguments`, or None: one positional input
        self.feeds = feeds  # [(id(keras_tensor), register)], or [register] when `arguments` is None
        self.outputs = outputs
        self.training = training

    def run(self, values: list):
        if self.arguments is None:
            args, kwargs = (values[self.feeds[0]],), {}
        else:
            args, kwargs = self.arguments.fill_in({key: values[r] for key, r in self.feeds})
        if self.training:
            kwargs["training"] = False
        return self.function(*args, **kwargs)

    def inputs(self) -> list[int]:
        return list(self.feeds) if self.arguments is None else [r for _, r in self.feeds]


class _Scope:
    """Registers of the tensors of one graph: the user's, or a nested model's for one call."""

    def __init__(self, bound: dict | None = None, main: bool = False) -> None:
        self.memo = dict(bound or {})
        self.main = main


class Plan:
    """The calls that compute `outputs` from the model inputs and run-time placeholders.

    Args:
        inputs: The model's input Keras tensors, in the order seeds are fed.
        outputs: Keras tensors to compute (loss expressions, model outputs).
        placeholders: `keras.Input` tensors of the losses, fed by `run`'s `args`.
        replace: Optional policy `layer -> stand-in callable or None`.
        record: Keras tensors whose every occurrence in the flat graph `run`
            returns (the `wrt_tensor`: a layer called on several copies of a
            graph, or in a nested model called twice, has several).

    Attributes:
        replaced: The layers the policy replaced.
        layers: Every layer the plan calls, nested ones included.

    Raises:
        ValueError: If an output depends on an input that is none of `inputs`,
            or a recorded tensor does not feed the outputs.
    """

    def __init__(
        self, inputs: list, outputs: list, placeholders=(), replace: Replace | None = None, record=()
    ):
        self.inputs, self.replace = list(inputs), replace
        self.steps: list[_Step] = []
        self.replaced: list = []
        self.layers: list = []
        self.size = 0
        self.occurrences: dict = collections.defaultdict(list)
        self._keep: list = []  # operations whose ids key `occurrences`
        self.seed_registers = [self._register() for _ in self.inputs]
        self.arg_registers = [self._register() for _ in placeholders]
        self._placeholders = {id(p): r for p, r in zip(placeholders, self.arg_registers)}
        self._input_ops = {id(producer(t)[0]): i for i, t in enumerate(self.inputs)}
        self.main = _Scope(main=True)
        self._detached = self._find_detached(outputs)
        self._visit_call_sites()
        self.output_registers = [self._visit(t, self.main) for t in outputs]
        self.records = [list(self.occurrences.get(_key(t), [])) for t in record]
        self._prune()

    def register_of(self, tensor) -> int | None:
        """The register of a tensor of the user's graph (loss expressions), if the plan computes it."""
        return self.main.memo.get(id(tensor))

    def run(self, seeds: list, args=(), watch: Callable | None = None) -> tuple[list, list]:
        """Runs the calls on tensors in inference mode.

        Args:
            seeds: One tensor per model input.
            args: One tensor per placeholder.
            watch: Optional `(register, value)` callback for every computed value.

        Returns:
            `(outputs, records)`: the output values, and for each recorded tensor the list of its values.
        """
        values = [None] * self.size
        for register, value in zip(self.seed_registers + self.arg_registers, [*seeds, *args]):
            values[register] = value
        with inference.mode():
            for step in self.steps:
                results = keras.tree.flatten(step.run(values))
                for register, value in zip(step.outputs, results):
                    values[register] = value
                    if watch is not None:
                        watch(register, value)
        outputs = [values[r] for r in self.output_registers]
        return outputs, [[values[r] for r in registers] for registers in self.records]

    def _register(self) -> int:
        self.size += 1
        return self.size - 1

    # Building -----------------------------------------------------------------------------------------

    def _find_detached(self, outputs: list) -> set[int]:
        """Ids of the tensors whose graph starts at a nested model's input rather than the user's."""
        leaves = [t for t in graph.ancestry(outputs) if graph.is_input(t)]
        self._nested_inputs = {}
        if any(self._kind_of_input(t) == "other" for t in leaves):
            self._nested_inputs = graph.nested_inputs(self.inputs)
        nested = [t for t in leaves if self._kind_of_input(t) == "nested"]
        self._detached_leaves = nested
        if not nested:
            return set()
        detached = {id(t) for t in nested}
        for tensor in graph.postorder(outputs):
            if any(id(p) in detached for p in graph.parents(tensor)):
                detached.add(id(tensor))
        return detached

    def _kind_of_input(self, tensor) -> str:
        if id(tensor) in self._placeholders:
            return "placeholder"
        op = id(producer(tensor)[0])
        return "model" if op in self._input_ops else "nested" if op in self._nested_inputs else "other"

    def _visit_call_sites(self) -> None:
        """Runs the outer graph up to each nested model a detached tensor starts in."""
        for leaf in self._detached_leaves:
            node = self._nested_inputs[id(producer(leaf)[0])]
            for tensor in node.outputs:
                self._visit(tensor, self.main)

    def _visit(self, root, scope: _Scope) -> int:
        """Adds the calls computing `root` (depth-first, iteratively) and returns its register."""
        stack = [(root, False)]
        while stack:
            tensor, expanded = stack.pop()
            if id(tensor) in scope.memo:
                continue
            if self._leaf(tensor, scope):
                continue
            operation, node_index, _ = graph.history(tensor)
            node = operation._inbound_nodes[node_index]
            parents = node.arguments.keras_tensors
            if not expanded:
                stack.append((tensor, True))
                stack.extend((p, False) for p in parents if id(p) not in scope.memo)
                continue
            feeds = [(id(p), scope.memo[id(p)]) for p in parents]
            registers = self._call(operation, node.arguments, feeds, len(node.outputs))
            for output, register in zip(node.outputs, registers):
                scope.memo[id(output)] = register
        return scope.memo[id(root)]

    def _leaf(self, tensor, scope: _Scope) -> bool:
        """Binds a tensor that is not computed from its parents here; returns whether it did."""
        if scope.main and id(tensor) in self._detached:
            found = self.occurrences.get(_key(tensor))
            if found:
                scope.memo[id(tensor)] = found[0]
                return True
            if graph.is_input(tensor):
                raise ValueError(
                    f"The losses use a layer of a nested model whose input '{tensor.name}' the model's "
                    "inputs do not reach."
                )
        if not graph.is_input(tensor):
            return False
        if not scope.main:
            raise ValueError(f"Input '{tensor.name}' of a nested model is not fed by the model around it.")
        kind = self._kind_of_input(tensor)
        if kind == "placeholder":
            scope.memo[id(tensor)] = self._placeholders[id(tensor)]
        elif kind == "model":
            scope.memo[id(tensor)] = self.seed_registers[self._input_ops[id(producer(tensor)[0])]]
        else:  # Another copy of the user's input (a reloaded Sequential): matched by name or shape.
            index = graph.match_sources([tensor], self.inputs)[0]
            scope.memo[id(tensor)] = self.seed_registers[index]
        return True

    def _call(self, operation, arguments, feeds: list, n_outputs: int) -> list[int]:
        """Adds the call of one operation (a nested model is inlined) and returns its output registers."""
        if isinstance(operation, keras.Sequential):
            registers = self._sequential(operation, feeds[0][1])
        elif graph.is_inlinable(operation):
            registers = self._functional(operation, arguments, feeds)
        else:
            registers = self._step(operation, arguments, feeds, n_outputs)
        self._record(operation, registers)
        return registers

    def _step(self, operation, arguments, feeds, n_outputs: int) -> list[int]:
        function = operation
        if isinstance(operation, keras.layers.Layer):
            self.layers.append(operation)
            stand_in = self.replace(operation) if self.replace is not None else None
            if stand_in is not None:
                self.replaced.append(operation)
                function = stand_in
        training = bool(getattr(function, "_call_has_training_arg", False))
        outputs = [self._register() for _ in range(n_outputs)]
        self.steps.append(_Step(function, arguments, feeds, outputs, training))
        return outputs

    def _sequential(self, model, register: int) -> list[int]:
        for layer in graph.input_layers(model):
            self._record(layer, [register])
        for layer in model.layers:
            if isinstance(layer, keras.Sequential):
                (register,) = self._sequential(layer, register)
            elif graph.is_inlinable(layer):
                (register,) = self._functional(layer, None, [(None, register)])
            else:
                (register,) = self._step(layer, None, [register], 1)
            self._record(layer, [register])
        return [register]

    def _functional(self, model, arguments, feeds: list) -> list[int]:
        registers = _inner_input_registers(model, arguments, feeds)
        inner = _Scope({id(t): r for t, r in zip(model.inputs, registers)})
        for tensor, register in zip(model.inputs, registers):
            self._record(producer(tensor)[0], [register])
        return [self._visit(t, inner) for t in model.outputs]

    def _record(self, operation, registers: list[int]) -> None:
        self._keep.append(operation)
        for index, register in enumerate(registers):
            self.occurrences[(id(operation), index)].append(register)

    def _prune(self) -> None:
        """Drops the calls the outputs do not need (the rest of a nested base after a mid layer)."""
        live = set(self.output_registers)
        kept = []
        for step in reversed(self.steps):
            if live.intersection(step.outputs):
                kept.append(step)
                live.update(step.inputs())
        self.steps = kept[::-1]
        live.update(self.seed_registers)
        live.update(self.arg_registers)
        self.records = [[r for r in registers if r in live] for registers in self.records]


def _key(tensor) -> tuple:
    operation, index = producer(tensor)
    return id(operation), index


def _inner_input_registers(model, arguments, feeds: list) -> list[int]:
    """Maps a nested Functional model's inputs to the registers of the arguments it is called on."""
    if arguments is None:
        return [feeds[0][1]]
    by_id, given = dict(feeds), arguments.args[0]
    if isinstance(given, dict):
        struct = getattr(model, "_inputs_struct", None)
        names = list(struct) if isinstance(struct, dict) else [producer(t)[0].name for t in model.inputs]
        return [by_id[id(given[name])] for name in names]
    return [by_id[id(t)] for t in keras.tree.flatten(given)]
