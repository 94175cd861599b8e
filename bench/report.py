"""The Markdown report: one row per measure, each server's figure side by side, the best peer, and
flaskpypi against it (above 1x: flaskpypi is better, whether the measure is a rate, a time or memory)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from installs import Installs
from loadgen import Measurement
from targets import ENDPOINTS

REFERENCE = "flaskpypi"
CLIENTS = ("pip", "uv")
FEW_REQUESTS = 100  # below this a p99 is about the slowest request of the run


@dataclass
class ServerRun:
    """What one server gave: runs per endpoint (or why not measured), installs, start time, memory."""

    name: str
    version: str = ""
    served_by: str = ""
    setup: str = ""
    failed: str = ""
    cells: dict[str, list[Measurement] | str] = field(default_factory=dict)
    installs: dict[str, Installs] = field(default_factory=lambda: {client: Installs() for client in CLIENTS})
    start_seconds: float | None = None
    memory_mb: float | None = None
    rebuilds: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # kind -> (s, CPU s) per round
    rebuild_failures: list[str] = field(default_factory=list)

    def median(self, endpoint: str) -> Measurement | str | None:
        """The round with the median rate (of an odd count; the lower middle of an even one)."""
        cell = self.cells.get(endpoint)
        if not isinstance(cell, list) or not cell:
            return cell if isinstance(cell, str) else None
        ordered = sorted(cell, key=lambda m: m.rps)
        return ordered[(len(ordered) - 1) // 2]


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


@dataclass(frozen=True)
class Row:
    """One measure: its label, each server's value and text, and whether higher is better."""

    label: str
    values: dict[str, float | None]
    texts: dict[str, str]
    higher_is_better: bool


def _rate_row(endpoint: str, runs: list[ServerRun]) -> Row:
    values: dict[str, float | None] = {}
    texts: dict[str, str] = {}
    for run in runs:
        cell = run.median(endpoint)
        if isinstance(cell, Measurement):
            values[run.name] = cell.rps
            flag = " ⚠" if cell.errors else ""
            texts[run.name] = f"{_number(cell.rps)}{flag} ({_number(cell.p50_ms)} ms)"
        else:
            values[run.name] = None
            texts[run.name] = "n/a"
    return Row(f"{endpoint}, req/s (p50)", values, texts, True)


def _install_row(client: str, runs: list[ServerRun]) -> Row:
    values: dict[str, float | None] = {}
    texts: dict[str, str] = {}
    count = max((len(r.installs[client].seconds) + len(r.installs[client].failures) for r in runs), default=0)
    for run in runs:
        record = run.installs[client]
        if record.seconds:
            median = statistics.median(record.seconds)
            values[run.name] = None if record.failures else median  # a server that failed is nobody's best
            texts[run.name] = f"{min(record.seconds):.2f} / {median:.2f} / {max(record.seconds):.2f}"
            if len(record.seconds) < count:
                texts[run.name] += f" ({len(record.seconds)} runs)"
        else:
            values[run.name] = None
            texts[run.name] = "n/a"
        if record.failures:
            texts[run.name] += f", {len(record.failures)} failed"
    return Row(f"`{client} install` of 30 packages, s: min / median / max of {count}", values, texts, False)


def _single_row(label: str, runs: list[ServerRun], attr: str, digits: int) -> Row:
    values = {run.name: getattr(run, attr) for run in runs}
    texts = {name: (f"{value:.{digits}f}" if value is not None else "n/a") for name, value in values.items()}
    return Row(label, values, texts, False)


def rows(runs: list[ServerRun]) -> list[Row]:
    """Every measure, in the order of the table."""
    return [
        *(_rate_row(endpoint, runs) for endpoint in ENDPOINTS),
        *(_install_row(client, runs) for client in CLIENTS),
        _single_row("memory after the load, MB (PSS of all its processes)", runs, "memory_mb", 0),
        _single_row("start to the first `/simple/` answer, populated index, s", runs, "start_seconds", 2),
        *(_rebuild_row(kind, label, runs) for kind, label in REBUILDS.items()),
    ]


REBUILDS = {
    "own": "rebuild from its own storage into an empty database, s (CPU s), median",
    "bare": "rebuild from bare wheels into an empty database, s (CPU s), median",
}


def _rebuild_row(kind: str, label: str, runs: list[ServerRun]) -> Row:
    """A rebuild's median wall time over the rounds (lower is better), with the CPU seconds of that round."""
    values: dict[str, float | None] = {}
    texts: dict[str, str] = {}
    for run in runs:
        rounds = sorted(run.rebuilds.get(kind, []))
        if rounds:
            seconds, cpu = rounds[(len(rounds) - 1) // 2]
            values[run.name], texts[run.name] = seconds, f"{seconds:.1f} ({cpu:.1f})"
        else:
            values[run.name], texts[run.name] = None, "n/a"
    return Row(label, values, texts, False)


def _versus_best(row: Row, peers: list[str]) -> tuple[str, str]:
    """The best peer's name and flaskpypi's advantage over it (above 1x: flaskpypi is better)."""
    ours = row.values.get(REFERENCE)
    measured = [(row.values[p], p) for p in peers if row.values.get(p) is not None]
    if not measured:
        return "—", "—"
    value, best = max(measured) if row.higher_is_better else min(measured)
    if ours is None or not value or not ours:
        return best, "—"
    return best, _number(ours / value if row.higher_is_better else value / ours) + "x"


def table(runs: list[ServerRun]) -> str:
    """The results table; the last two columns when flaskpypi was measured beside a peer."""
    measured = [run for run in runs if not run.failed]
    names = [run.name for run in measured]
    peers = [name for name in names if name != REFERENCE] if REFERENCE in names else []
    header = ["Measure", *names] + (["best peer", f"{REFERENCE} vs best peer"] if peers else [])
    lines = [header, ["---"] + ["---:"] * (len(header) - 1)]
    for row in rows(measured):
        line = [row.label, *(row.texts[name] for name in names)]
        if peers:
            line += list(_versus_best(row, peers))
        lines.append(line)
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def notes(runs: list[ServerRun]) -> list[str]:
    """Why a cell says n/a or ⚠, failed installs, and which servers could not be measured."""
    lines = []
    for run in runs:
        if run.failed:
            lines.append(f"{run.name} was not measured: {_one_line(run.failed)}")
        for endpoint in ENDPOINTS:
            cell = run.cells.get(endpoint)
            if isinstance(cell, str):
                lines.append(f"{run.name}, {endpoint}: n/a, {cell}.")
                continue
            median = run.median(endpoint)
            if not isinstance(median, Measurement):
                continue
            if median.errors:
                lines.append(f"{run.name}, {endpoint}: ⚠ {median.errors:,} of {median.requests:,} requests failed.")
            if median.requests < FEW_REQUESTS:
                lines.append(f"{run.name}, {endpoint}: only {median.requests:,} requests in {median.seconds:.0f} s.")
        for client, record in run.installs.items():
            for failure in dict.fromkeys(record.failures):
                lines.append(f"{run.name}, {client} install: {_one_line(failure)}")
        for failure in dict.fromkeys(run.rebuild_failures):
            lines.append(f"{run.name}, {_one_line(failure)}")
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
