"""How one engine call runs: on this device, or split across the replicas of a `tf.distribute` strategy.

Inside `with strategy.scope():` (a `MirroredStrategy` over several GPUs or
CPU devices, a `MultiWorkerMirroredStrategy`, a `TPUStrategy`, ...), a call's
batch is split into one share per replica, the program's compiled function
runs on every replica through `strategy.run`, and `strategy.gather` puts the
per-replica results back together in batch order, on every worker. Samples
do not interact, so the maps equal the single-device ones.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vis.engine.compiling import compile_method

_DISTRIBUTED_ATTR = "_vis_distributed"


def run(program, function, seeds: list, args: list, weights):
    """Runs `function(seeds, args, weights)` here, or across the replicas of the current strategy.

    Run-time arguments with one row per sample (`PerSample` filter
    selections) are split across replicas like the seeds; the others go to
    every replica whole.
    """
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync <= 1:
        seeds = [tf.convert_to_tensor(s, dtype=t.dtype) for s, t in zip(seeds, program.input_tensors)]
        args = [tf.convert_to_tensor(a, dtype=p.dtype) for a, p in zip(args, program.placeholders)]
        return function(seeds, args, weights)
    return _distributed(program, strategy, getattr(function, "compiled", function), seeds, args, weights)


def _distributed(program, strategy, function, seeds: list, args: list, weights):
    replicas = strategy.num_replicas_in_sync
    batch = int(np.shape(seeds[0])[0])
    split = [
        i
        for i, (a, p) in enumerate(zip(args, program.placeholders))
        if batch > 1 and p.shape and p.shape[0] is None and np.shape(a)[0] == batch
    ]
    rows = [np.asarray(s) for s in seeds] + [np.asarray(args[i]) for i in split]
    if batch < replicas:  # Every replica gets a sample: the last one repeated, dropped afterwards.
        rows = [np.concatenate([r, np.repeat(r[-1:], replicas - batch, axis=0)]) for r in rows]
    bounds = np.linspace(0, max(batch, replicas), replicas + 1).round().astype(int)
    dtypes = [t.dtype for t in program.input_tensors] + [program.placeholders[i].dtype for i in split]
    shares = [[r[bounds[i] : bounds[i + 1]] for r in rows] for i in range(replicas)]

    def share(context):
        part = shares[context.replica_id_in_sync_group]
        return [tf.convert_to_tensor(r, dtype=d) for r, d in zip(part, dtypes)]

    values = strategy.experimental_distribute_values_from_function(share)
    replicated = _replicated(program, strategy, function, tuple(split), len(seeds))
    results = replicated(values, [tf.constant(a) for a in args], weights)
    return _first(results, batch)


def _replicated(program, strategy, function, split: tuple, n_seeds: int):
    """The compiled `strategy.run(function, ...)`, cached on the program per strategy and function.

    `values` holds each replica's seeds, then its rows of the split arguments.
    """
    cache = program.__dict__.setdefault(_DISTRIBUTED_ATTR, {})
    key = (id(strategy), id(function), split)
    if key not in cache:

        def replica(
            values, args, weights
        ):  # A plain function: `run` would hand a tf.function PerReplica values.
            args = list(args)
            for position, index in enumerate(split):
                args[index] = values[n_seeds + position]
            return function(values[:n_seeds], args, weights)

        def replicated(values, args, weights):
            results = strategy.run(replica, args=(values, args, weights))
            return _gathered(strategy, results)

        cache[key] = (strategy, compile_method(replicated))
    return cache[key][1]


def _first(results: tuple, batch: int) -> tuple:
    """The results of the first `batch` samples (the stacked losses are `(n_losses, batch)`)."""
    head = [results[0][:, :batch]]
    for item in results[1:]:
        head.append([t[:batch] for t in item] if isinstance(item, list) else item[:batch])
    return tuple(head)


def _gathered(strategy, results: tuple) -> tuple:
    """Gathers per-replica results from every replica (of every worker) in replica order.

    The stacked losses `(n_losses, batch)` are gathered on axis 1, the rest on axis 0.
    """
    joined = [strategy.gather(results[0], axis=1)]
    for item in results[1:]:
        if isinstance(item, (list, tuple)):
            joined.append([strategy.gather(t, axis=0) for t in item])
        else:
            joined.append(strategy.gather(item, axis=0))
    return tuple(joined)
