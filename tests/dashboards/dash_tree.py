"""Reading what a Dash page renders, as the tests of every page need it: components by id,
their text, table rows, a page module as Dash loaded it, and a callback posted to a served app."""

from __future__ import annotations

import json
import sys
import urllib.request
from types import ModuleType
from typing import Any

from dash import html
from dash.development.base_component import Component

import warehouse
from dashboards import create_app


def find(node: Any, element_id: Any) -> Any:
    """The component with `element_id` in a Dash component tree, or None."""
    if isinstance(node, list | tuple):
        for child in node:
            found = find(child, element_id)
            if found is not None:
                return found
        return None
    if not isinstance(node, Component):
        return None
    if getattr(node, "id", None) == element_id:
        return node
    return find(getattr(node, "children", None), element_id)


def text(node: Any) -> str:
    """All text of a component tree, cells separated by "|"."""
    if node is None:
        return ""
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list | tuple):
        return "|".join(t for t in (text(c) for c in node) if t)
    return text(getattr(node, "children", None))


def body_rows(table: Any) -> list[Any]:
    """The rows of an html.Table's body."""
    body = next(c for c in table.children if isinstance(c, html.Tbody))
    return body.children


def table_rows(table: Any) -> list[list[str]]:
    """The text of each cell of each body row."""
    return [[text(cell) for cell in row.children] for row in body_rows(table)]


def page_module(wh: warehouse.Warehouse, name: str) -> ModuleType:
    """The page module `name`, as Dash loaded it for an app on `wh`."""
    create_app(wh)
    return sys.modules[name]


def post_callback(url: str, payload: dict) -> dict:
    """Run a callback of the app served at `url` the way the browser does."""
    request = urllib.request.Request(
        url + "_dash-update-component",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def open_page(url: str, pathname: str, search: str = "") -> dict:
    """What Dash Pages' router callback answers when the browser opens `pathname?search`."""
    return post_callback(
        url,
        {
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [
                {"id": "_pages_content", "property": "children"},
                {"id": "_pages_store", "property": "data"},
            ],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": pathname},
                {"id": "_pages_location", "property": "search", "value": search},
            ],
            "changedPropIds": ["_pages_location.pathname"],
            "state": [],
        },
    )
