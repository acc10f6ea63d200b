"""A state machine's Distributed Map states, rewritten into what moto's Step Functions runs.

moto (5.2) runs a Map state with an S3 ``ItemReader`` (ListObjectsV2) and a ``ResultWriter``,
but its ASL parser has no ``ItemBatcher``: a definition holding one is refused at
CreateStateMachine. :func:`for_moto` replaces each batcher with an ``ItemSelector`` that hands
the iteration ``{"Items": [the one item], **BatchInput}``: the same Lambda, with the same input
shape, over the same listing items, in batches of one. Everything else in the definition
(retries, the reduce step, paths) is the template's own. Documented in the README ("Building
the catalogue").
"""

from __future__ import annotations

import copy
from typing import Any


def for_moto(definition: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``definition`` (ASL as a dict) where every Map state's ``ItemBatcher`` is
    replaced by an ``ItemSelector`` making a batch of one item; nested states included."""
    out = copy.deepcopy(definition)
    _rewrite(out.get("States", {}))
    return out


def _rewrite(states: dict[str, Any]) -> None:
    for state in states.values():
        if state.get("Type") == "Map":
            batcher = state.pop("ItemBatcher", None)
            if batcher is not None:
                if "ItemSelector" in state or "Parameters" in state:
                    raise ValueError("a Map state with both an ItemBatcher and an ItemSelector cannot be rewritten")
                state["ItemSelector"] = {"Items.$": "States.Array($$.Map.Item.Value)",
                                         **(batcher.get("BatchInput") or {})}
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    _rewrite(state[key].get("States", {}))
        if state.get("Type") == "Parallel":
            for branch in state.get("Branches", []):
                _rewrite(branch.get("States", {}))
