"""Write the README's config reference from the Settings model (run after adding a setting)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from flaskpypi.settings import Settings

README = Path(__file__).parents[1] / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def table() -> str:
    """The Markdown table of every setting."""
    rows = ["| setting (file key / `FLASKPYPI_<NAME>`) | default | what it does |", "|---|---|---|"]
    for name, default, doc in Settings.reference():
        rows.append(f"| `{name}` | `{default}` | {doc.replace('|', '/')} |")
    return "\n".join(rows)


def main() -> int:
    """Replace the table between the markers; with --check, fail when it is stale."""
    text = README.read_text()
    new = re.sub(f"{START}.*?{END}", f"{START}\n{table()}\n{END}", text, flags=re.S)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
