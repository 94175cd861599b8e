"""The Markdown report: one row per endpoint, each server's figures side by side, flaskpypi's ratios."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadgen import Measurement
from targets import ENDPOINTS

REFERENCE = "flaskpypi"
FEW_REQUESTS = 100  # below this a p99 is about the slowest request of the run


@dataclass
class ServerRun:
    """What one server gave: figures per endpoint, or why an endpoint or the server was not measured."""

    name: str
    version: str = ""
    served_by: str = ""
    setup: str = ""
    failed: str = ""
    cells: dict[str, Measurement | str] = field(default_factory=dict)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _figures(cell: Measurement | str | None) -> list[str]:
    if not isinstance(cell, Measurement):
        return ["n/a", "", ""]
    flag = " ⚠" if cell.errors else ""
    return [_number(cell.rps) + flag, _number(cell.p50_ms), _number(cell.p99_ms)]


def _ratio(ours: Measurement | str | None, theirs: Measurement | str | None) -> str:
    if isinstance(ours, Measurement) and isinstance(theirs, Measurement) and theirs.rps:
        return _number(ours.rps / theirs.rps) + "x"
    return "—"


def table(runs: list[ServerRun]) -> str:
    """The results table; ratio columns only when flaskpypi was measured beside a peer."""
    measured = [run for run in runs if not run.failed]
    reference = next((run for run in measured if run.name == REFERENCE), None)
    peers = [run for run in measured if run.name != REFERENCE] if reference else []
    header = ["Endpoint"]
    for run in measured:
        header += [f"{run.name} req/s", f"{run.name} p50 ms", f"{run.name} p99 ms"]
    header += [f"{REFERENCE} ÷ {peer.name} (req/s)" for peer in peers]
    rows = [header, ["---"] + ["---:"] * (len(header) - 1)]
    for endpoint in ENDPOINTS:
        row = [endpoint]
        for run in measured:
            row += _figures(run.cells.get(endpoint))
        if reference:
            row += [_ratio(reference.cells.get(endpoint), peer.cells.get(endpoint)) for peer in peers]
        rows.append(row)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def notes(runs: list[ServerRun]) -> list[str]:
    """Why a cell says n/a or ⚠, and which servers could not be measured."""
    lines = []
    for run in runs:
        if run.failed:
            lines.append(f"{run.name} was not measured: {_one_line(run.failed)}")
        for endpoint, cell in run.cells.items():
            if isinstance(cell, str):
                lines.append(f"{run.name}, {endpoint}: n/a, {cell}.")
                continue
            if cell.errors:
                lines.append(f"{run.name}, {endpoint}: ⚠ {cell.errors:,} of {cell.requests:,} requests failed.")
            if cell.requests < FEW_REQUESTS:
                lines.append(
                    f"{run.name}, {endpoint}: only {cell.requests:,} requests in {cell.seconds:.0f} s, "
                    "so its p99 is about the slowest one."
                )
    return lines


def _one_line(text: str) -> str:
    """The first line of a multi-line error (which names the log) and its last (the reason, usually)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else text


def server_lines(runs: list[ServerRun]) -> list[str]:
    """One line per server: versions, how it was served, how its index was filled."""
    return [
        f"**{run.name}**: {run.version or 'version unknown'}; {run.served_by or 'not started'}"
        + (f"; {run.setup}" if run.setup else "")
        for run in runs
    ]


def document(context: list[str], runs: list[ServerRun]) -> str:
    """The whole report: context lines, the table, the servers, the notes."""
    parts = ["## Benchmark results", "", *context, "", table(runs), "", "Servers:", ""]
    parts += [f"- {line}" for line in server_lines(runs)]
    extra = notes(runs)
    if extra:
        parts += ["", "Notes:", "", *[f"- {line}" for line in extra]]
    return "\n".join(parts) + "\n"
