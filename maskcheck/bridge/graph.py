"""The structure of a model as Keras keeps it privately: sub-layers, functional graph nodes,
call signatures. Keras 3 and tf_keras differ in attribute names; both are handled here."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import keras


def flatten(x: Any) -> list[Any]:
    """Every leaf of a nested structure of lists, tuples and dicts (None dropped), dict values
    in key order as Keras orders them."""
    return [leaf for leaf in keras.tree.flatten(x) if leaf is not None]


def named_leaves(x: Any) -> list[tuple[str | None, Any]]:
    """The leaves of `flatten(x)`, each with its name: the dict keys on its path joined by '/'
    (None for a leaf reached through lists and tuples only)."""
    named = []
    for path, leaf in keras.tree.flatten_with_path(x):
        if leaf is None:
            continue
        keys = [str(k) for k in path if isinstance(k, str)]
        named.append(("/".join(keys) if keys else None, leaf))
    return named


def output_names(model: Any) -> list[str] | None:
    """The names of the model's outputs in `flatten` order, as `fit` pairs losses and labels with
    them: the keys of dict outputs, else `model.output_names` (the output layers' names); None
    when unknown (a subclassed model before it is called)."""
    try:
        named = named_leaves(model.output)
    except Exception:
        named = []
    if named and all(name is not None for name, _ in named):
        return [str(name) for name, _ in named]
    names = list(getattr(model, "output_names", None) or [])
    if names and (not named or len(names) == len(named)):
        return [str(n) for n in names]
    return None


def sublayers(layer: Any) -> list[Any]:
    """The layers `layer` tracks directly (not recursively)."""
    try:
        return list(layer._flatten_layers(include_self=False, recursive=False))
    except Exception:
        return []


def all_layers(model: Any) -> list[Any]:
    """`model` and every layer it tracks, recursively."""
    try:
        return list(model._flatten_layers(include_self=True, recursive=True))
    except Exception:
        return [model]


def is_graph_model(layer: Any) -> bool:
    """Functional (or Sequential backed by a functional graph)."""
    return hasattr(layer, "_nodes_by_depth") or getattr(layer, "_functional", None) is not None


def node_operation(node: Any) -> Any:
    """The layer or operation of a functional graph node (Keras 3 `operation`, Keras 2 `layer`)."""
    op = getattr(node, "operation", None)
    return op if op is not None else getattr(node, "layer", None)


def graph_nodes(model: Any) -> Iterator[Any]:
    """Every non-input node of `model`'s functional graph and of the graphs nested in it."""
    seen: set[int] = set()

    def walk(m: Any) -> Iterator[Any]:
        graph = m if hasattr(m, "_nodes_by_depth") else getattr(m, "_functional", None)
        if graph is None or id(graph) in seen:
            return
        seen.add(id(graph))
        for nodes in graph._nodes_by_depth.values():
            for node in nodes:
                op = node_operation(node)
                if op is None or node.is_input:
                    continue
                yield node
                if op is not m and is_graph_model(op):
                    yield from walk(op)

    yield from walk(model)


def node_outputs(node: Any) -> list[Any]:
    return flatten(node.outputs)


def inbound_nodes(layer: Any) -> list[Any]:
    return list(getattr(layer, "_inbound_nodes", []))


def node_inputs(node: Any) -> list[Any]:
    return flatten(node.input_tensors)


def call_parameters(layer: Any) -> set[str]:
    """The parameter names of the layer's `call`."""
    params = getattr(layer, "call_signature_parameters", None)
    if params is None:
        try:
            params = list(inspect.signature(type(layer).call).parameters)
        except (TypeError, ValueError):
            params = []
    return set(params)


def lambda_takes_mask(layer: Any) -> bool:
    """Whether a `Lambda` layer's function accepts `mask=`."""
    return bool(getattr(layer, "_fn_expects_mask_arg", False))


def takes_dict(model: Any) -> bool:
    """Whether the model's inputs are a dict (a Functional model built on `{"name": Input}`)."""
    try:
        return isinstance(model.input, dict)
    except Exception:  # unbuilt, subclassed: no declared inputs
        return False
