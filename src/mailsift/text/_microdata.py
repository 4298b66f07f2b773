"""Microdata items (`itemscope`, `itemtype`, `itemprop`) read from a selectolax tree.

The items come out in JSON-LD shape, `{"@type": ..., "name": ...}`, so that one
normaliser serves both syntaxes. Property values follow the HTML Standard's microdata
rules: `<meta content>`, `<link href>`, `<a href>`, `<img src>`, `<time datetime>`,
`<data value>`, and the text content of any other element.
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from mailsift.text._chars import collapse_whitespace
from mailsift.text._schema_normalize import normalize_type_name

_URL_ATTRIBUTE = {
    "a": "href",
    "area": "href",
    "link": "href",
    "audio": "src",
    "embed": "src",
    "iframe": "src",
    "img": "src",
    "source": "src",
    "track": "src",
    "video": "src",
    "object": "data",
    "data": "value",
    "meter": "value",
}


def extract_microdata(tree: LexborHTMLParser, problems: list[str]) -> list[dict[str, Any]]:
    """Return the top-level microdata items of `tree`, appending notes to `problems`.

    A top-level item is an `itemscope` element without `itemprop`. An element with both
    but without an enclosing item is invalid, and it is treated as top-level too instead
    of being lost. Top-level items without any property are skipped.
    """
    scopes = tree.css("[itemscope]")
    if not scopes:
        return []

    # Limit: `itemref` (properties borrowed from elsewhere in the document) is not followed.
    items: dict[int, dict[str, Any]] = {scope.mem_id: _new_item(scope) for scope in scopes}
    owned: set[int] = set()
    orphans = 0

    for element in tree.css("[itemprop]"):
        owner = _owner_scope(element, items)
        names = (element.attributes.get("itemprop") or "").split()
        if owner is None:
            orphans += "itemscope" not in element.attributes
            continue

        if "itemscope" in element.attributes:
            value: Any = items[element.mem_id]
            owned.add(element.mem_id)
        else:
            value = _property_value(element)
        for name in names:
            items[owner].setdefault(name, []).append(value)

    if orphans:
        problems.append(f"ignored {orphans} microdata properties outside any itemscope")

    # One value stays a scalar and repeated values stay a list, as an author writing
    # JSON-LD by hand would. Nested items are the same dict objects, so this flat pass
    # finishes them too, without recursion.
    for item in items.values():
        for name, values in item.items():
            if isinstance(values, list) and len(values) == 1:
                item[name] = values[0]

    top_level: list[dict[str, Any]] = []
    for scope in scopes:
        if scope.mem_id in owned:
            continue
        item = items[scope.mem_id]
        if not item.keys() - {"@type", "@id"}:
            type_name = normalize_type_name(str(item.get("@type", "(none)")))
            problems.append(f"skipped empty microdata item of type {type_name}")
            continue
        top_level.append(item)
    return top_level


def _new_item(scope: LexborNode) -> dict[str, Any]:
    item: dict[str, Any] = {}
    types = (scope.attributes.get("itemtype") or "").split()
    if types:
        item["@type"] = types[0] if len(types) == 1 else types
    item_id = scope.attributes.get("itemid")
    if item_id:
        item["@id"] = item_id
    return item


def _owner_scope(element: LexborNode, items: dict[int, dict[str, Any]]) -> int | None:
    """Return the id of the nearest enclosing `itemscope` element, not counting `element`."""
    parent = element.parent
    while parent is not None:
        if parent.mem_id in items:
            return parent.mem_id
        parent = parent.parent
    return None


def _property_value(element: LexborNode) -> str:
    tag = element.tag or ""
    attributes = element.attributes
    if tag == "meta":
        return (attributes.get("content") or "").strip()
    if tag == "time" and attributes.get("datetime"):
        return (attributes.get("datetime") or "").strip()
    attribute = _URL_ATTRIBUTE.get(tag)
    if attribute is not None:
        return (attributes.get(attribute) or "").strip()
    return collapse_whitespace(element.text(separator=" "))
