"""A plain SVG flame graph from collapsed stacks (py-spy's raw format), so one recording gives
both the file to analyse and the picture. Hover a box for its frame, samples and share.

    python -m bench.writes.flame STACKS.txt OUT.svg
"""

from __future__ import annotations

import sys
import zlib
from html import escape
from pathlib import Path
from typing import Any

from bench.writes.profile import parse, service_name, short

WIDTH, ROW, MIN_WIDTH = 1600.0, 16, 1.0


def tree(path: Path) -> dict[str, Any]:
    root: dict[str, Any] = {"n": 0, "kids": {}}
    for frames, count in parse(path):
        root["n"] += count
        node = root
        for frame in frames:
            node = node["kids"].setdefault(short(frame), {"n": 0, "kids": {}})
            node["n"] += count
    return root


def colour(name: str) -> str:
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{80 + (h >> 8) % 120},{40 + (h >> 16) % 50})"


def boxes(node: dict[str, Any], x: float, depth: int, scale: float, total: int, out: list[str]) -> int:
    deepest = depth
    for name, kid in sorted(node["kids"].items()):
        w = kid["n"] * scale
        if w >= MIN_WIDTH:
            y = depth * ROW
            label = escape(name if w > 7 * len(name) else name[: max(0, int(w / 7) - 2)] + "..")
            tip = escape(f"{name}: {kid['n']} samples, {kid['n'] * 100 / total:.1f}%")
            out.append(
                f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}"'
                f' fill="{colour(name)}"/>'
                + (f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{label}</text>' if w > 21 else "")
                + "</g>"
            )
            deepest = max(deepest, boxes(kid, x, depth + 1, scale, total, out))
        x += w
    return deepest


def write_svg(stacks: Path, out: Path, title: str = "") -> None:
    root = tree(stacks)
    total = max(1, root["n"])
    parts: list[str] = []
    depth = boxes(root, 0.0, 1, WIDTH / total, total, parts)
    height = (depth + 2) * ROW
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{height}"'
        ' font-family="monospace" font-size="11">'
        f'<text x="4" y="12">{escape(title or service_name(stacks))}: {root["n"]} samples (top-down)</text>'
    )
    out.write_text(head + "".join(parts) + "</svg>\n")


if __name__ == "__main__":
    write_svg(Path(sys.argv[1]), Path(sys.argv[2]))
