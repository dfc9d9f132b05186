"""Reports built from a RunLog (and only from a RunLog).

``render_html`` returns one self-contained HTML document: inline CSS, a little inline
script guarded by a per-render CSP nonce, and every piece of model output escaped.
"""

from __future__ import annotations

from harness.report.html import render_html, write_html

__all__ = ["render_html", "write_html"]
