"""Small helpers over selectolax trees shared by the cleaning and rendering steps."""

from __future__ import annotations

from collections.abc import Iterable

from selectolax.lexbor import LexborNode


def ancestor_ids(nodes: Iterable[LexborNode]) -> set[int]:
    """Return the `mem_id` of every ancestor of `nodes`.

    The walk up stops at the first ancestor already marked, because everything above
    it is marked too, so the cost stays linear in the size of the tree.
    """
    marked: set[int] = set()
    for node in nodes:
        parent = node.parent
        while parent is not None and parent.mem_id not in marked:
            marked.add(parent.mem_id)
            parent = parent.parent
    return marked
