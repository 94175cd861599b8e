"""What list commands print: a table with a header line, or with --json a JSON array of objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON array of objects instead of a table.")


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple | set):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set):
        return sorted(value) if isinstance(value, set) else list(value)
    return value


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """Print rows (dicts keyed by column) as an aligned table under upper-case headers, or as JSON.

    The last column is not padded, so long free text (descriptions) does not widen the table.
    """
    if as_json:
        click.echo(json.dumps([{c: _plain(r.get(c)) for c in columns} for r in rows], indent=1))
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    header = [c.upper().replace("_", " ") for c in columns]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(columns))]
    for line in [header, *cells]:
        padded = [text.ljust(widths[i]) for i, text in enumerate(line[:-1])] + [line[-1]]
        click.echo("  ".join(padded).rstrip())
