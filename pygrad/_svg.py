"""SVG text, written by hand: the few shapes a graph drawing needs.

Everything user-supplied (labels, op strings) passes through `text()`,
which escapes XML's markup characters and shows the characters XML cannot
hold at all (NUL and the other C0 controls, lone surrogates) as visible
escapes, so any label gives a well-formed document.
"""
import re
from html import escape
from typing import Iterable

# Characters that XML 1.0 forbids even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

CHAR_W = 7.0        # the width of one character of the 12px monospace font, roughly
LINE_H = 16.0
FONT = "font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px"


def text(s: object) -> str:
    """`s` as XML character data or attribute text."""
    s = _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                     else f"\\u{ord(m.group()):04x}", str(s))
    return escape(s, quote=True)


def text_width(s: str) -> float:
    return CHAR_W * len(s)


def document(width: float, height: float, body: Iterable[str], pad: float = 8.0) -> str:
    """A standalone <svg> with an arrow marker, around `body`'s elements."""
    w, h = width + 2 * pad, height + 2 * pad
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="{-pad:.0f} {-pad:.0f} {w:.0f} {h:.0f}" style="{FONT}">'
            '<defs><marker id="pg-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#666"/></marker></defs>'
            + "".join(body) + "</svg>")


def rect(x: float, y: float, w: float, h: float, cls: str, extra: str = "") -> str:
    return f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" {extra}/>'


def label(x: float, y: float, s: str, extra: str = "") -> str:
    """Text whose baseline sits at y; `s` is escaped here."""
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{text(s)}</text>'


def circle(cx: float, cy: float, r: float, cls: str) -> str:
    return f'<circle class="{cls}" cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}"/>'


def edge(x1: float, y1: float, x2: float, y2: float, dashed: bool = False) -> str:
    """A left-to-right curve with an arrow at its end."""
    mid = (x1 + x2) / 2
    dash = ' stroke-dasharray="4,3"' if dashed else ""
    return (f'<path d="M{x1:.1f},{y1:.1f}C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            f'fill="none" stroke="#666" marker-end="url(#pg-arrow)"{dash}/>')


STYLE = ("<style>.pg-node{fill:#fff;stroke:#333}.pg-leaf{fill:#eef5ff;stroke:#335}"
         ".pg-param{fill:#fff4e0;stroke:#a60}.pg-more{fill:#f4f4f4;stroke:#999;stroke-dasharray:4,3}"
         ".pg-op{fill:#f0f0f0;stroke:#333}.pg-hot .pg-node,.pg-hot .pg-leaf,.pg-hot .pg-param"
         "{fill:#ffe27a;stroke:#c00;stroke-width:2}.pg-touched .pg-node,.pg-touched .pg-leaf,"
         ".pg-touched .pg-param{fill:#d8f5d0}</style>")
