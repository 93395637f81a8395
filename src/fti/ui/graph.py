"""Graphs drawn as SVG on the server: nodes in columns, edges between them (ADR 0011).

A view's query and a model's lineage have a handful of nodes in a few columns, so a layered
layout by hand is enough; every node is a link with a text label that a screen reader reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

NODE_WIDTH = 180
NODE_HEIGHT = 44
COLUMN_GAP = 60
ROW_GAP = 18
MARGIN = 10
SUB = ' class="sub"'


@dataclass(frozen=True)
class Node:
    """One box: its id, column, label lines and the page it links to."""

    id: str
    column: int
    lines: tuple[str, ...]
    href: str | None = None
    kind: str = "node"


@dataclass
class Graph:
    """Nodes and edges (``(from id, to id, label)``)."""

    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, node: Node) -> None:
        """Add ``node`` unless a node with its id is there already."""
        if all(n.id != node.id for n in self.nodes):
            self.nodes.append(node)

    def svg(self) -> str:
        """The graph as an inline SVG element."""
        columns: dict[int, list[Node]] = {}
        for node in self.nodes:
            columns.setdefault(node.column, []).append(node)
        tallest = max((len(c) for c in columns.values()), default=1)
        width = MARGIN * 2 + len(columns) * NODE_WIDTH + max(len(columns) - 1, 0) * COLUMN_GAP
        height = MARGIN * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
        where: dict[str, tuple[int, int]] = {}
        for index, column in enumerate(sorted(columns)):
            nodes = columns[column]
            offset = (height - len(nodes) * NODE_HEIGHT - (len(nodes) - 1) * ROW_GAP) // 2
            for row, node in enumerate(nodes):
                where[node.id] = (
                    MARGIN + index * (NODE_WIDTH + COLUMN_GAP),
                    offset + row * (NODE_HEIGHT + ROW_GAP),
                )
        parts = [
            f'<svg class="graph" role="group" aria-label="{escape(self.title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
            f"<title>{escape(self.title)}</title>",
        ]
        for source, target, label in self.edges:
            if source not in where or target not in where:
                continue
            (x1, y1), (x2, y2) = where[source], where[target]
            ax, ay = x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2
            bx, by = x2, y2 + NODE_HEIGHT // 2
            if x2 < x1:
                ax, bx = x1, x2 + NODE_WIDTH
            middle = (ax + bx) // 2
            parts.append(
                f'<path class="edge" d="M{ax},{ay} C{middle},{ay} {middle},{by} {bx},{by}"/>'
            )
            if label:
                parts.append(
                    f'<text class="edge-label" x="{middle}" y="{(ay + by) // 2 - 4}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
        for node in self.nodes:
            x, y = where[node.id]
            box = (
                f'<rect class="{escape(node.kind)}" x="{x}" y="{y}" rx="6" '
                f'width="{NODE_WIDTH}" height="{NODE_HEIGHT}"/>'
            )
            text = "".join(
                f'<text x="{x + 10}" y="{y + 18 + 16 * i}"{SUB if i else ""}>'
                f"{escape(_fit(line))}</text>"
                for i, line in enumerate(node.lines[:2])
            )
            content = f"<title>{escape(', '.join(node.lines))}</title>{box}{text}"
            if node.href:
                content = (
                    f'<a href="{escape(node.href)}" data-node="{escape(node.id)}">{content}</a>'
                )
            else:
                content = f'<g data-node="{escape(node.id)}">{content}</g>'
            parts.append(content)
        parts.append("</svg>")
        return "".join(parts)


def _fit(line: str, width: int = 28) -> str:
    """``line`` cut to what a node shows (the node's title holds it whole)."""
    return line if len(line) <= width else line[: width - 1] + "…"
