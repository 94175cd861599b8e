"""Start time on a populated index: flaskpypi against a peer, started in turn on the same data set.

Each server is prepared and started once (flaskpypi builds its index then), stopped, and then started again
`--rounds` times, the two servers alternating (which one goes first alternates too), so that the machine's
other work weighs on both alike. A start is the time from the command to the first 200 answer of the simple
root, polled every POLL seconds. Then each server, still running after its last start, gets a short load
(the simple root and some project pages) and the proportional set size of all its processes is read.
Prints the medians, the paired ratios (peer's time / flaskpypi's: above 1x, flaskpypi starts faster) and the
load average. Run `python bench/start.py --help`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from dataset import BIG_PROJECT, SMALL_PREFIX, ensure_dataset
from procs import BenchError, answers_ok, free_port, process_group
from servers import SERVERS, Paths, Server, group_pss

BENCH = Path(__file__).resolve().parent
POLL = 0.01  # seconds between two polls of the simple root while a server starts
LOAD_REQUESTS = 200  # requests of the short load before memory is read


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=5000, help="one-file projects (default 5000)")
    parser.add_argument("--big-files", type=int, default=2000, help=f"files of {BIG_PROJECT} (default 2000)")
    parser.add_argument("--rounds", type=int, default=7, help="starts of each server (default 7)")
    parser.add_argument("--peer", default="pypiserver", choices=sorted(set(SERVERS) - {"flaskpypi"}))
    parser.add_argument("--data", type=Path, default=BENCH / ".data",
                        help="data set folder (default bench/.data); the servers' copies go in its start/")  # fmt: skip
    parser.add_argument("--repo", type=Path, default=BENCH.parent,
                        help="checkout whose .venv runs flaskpypi (default: this one)")  # fmt: skip
    return parser.parse_args(argv)


def started(server: Server, port: int, deadline: float) -> tuple[float, object]:
    """Start `server` on `port`; return (seconds to the first 200 of its simple root, the process group)."""
    url = f"http://127.0.0.1:{port}{server.simple_path}"
    begin = time.perf_counter()
    group = process_group(server.command(port), log=server.log, env=server.environment())
    proc = group.__enter__()
    try:
        while not answers_ok(url, timeout=deadline):
            if proc.poll() is not None:
                raise BenchError(f"{server.name} exited with {proc.returncode}; see {server.log}")
            if time.perf_counter() - begin > deadline:
                raise BenchError(f"{server.name} not ready after {deadline:.0f} s; see {server.log}")
            time.sleep(POLL)
    except BaseException:
        group.__exit__(*sys.exc_info())
        raise
    return time.perf_counter() - begin, (group, proc)


def load_and_measure(server: Server, port: int, pgid: int) -> float:
    """A short load (root and project pages), then the PSS of the server's processes, MB."""
    for n in range(LOAD_REQUESTS):
        path = server.simple_path if n % 4 == 0 else f"{server.simple_path}{SMALL_PREFIX}-{n:04d}/"
        answers_ok(f"http://127.0.0.1:{port}{path}")
    time.sleep(0.5)
    return group_pss(pgid) / 2**20


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    dataset = ensure_dataset(args.data, args.projects, args.big_files)
    paths = Paths(repo=args.repo.resolve(), data=args.data / "start", venvs=BENCH / ".venvs")
    paths.logs.mkdir(parents=True, exist_ok=True)
    servers = [SERVERS["flaskpypi"](paths, dataset), SERVERS[args.peer](paths, dataset)]
    times: dict[str, list[float]] = {s.name: [] for s in servers}
    memory: dict[str, float] = {}
    for server in servers:
        print(f"preparing {server.name} ...", flush=True)
        server.prepare()
        seconds, (group, _proc) = started(server, free_port(), server.ready_timeout)
        group.__exit__(None, None, None)
        print(f"  first start (fills its index): {seconds:.2f} s", flush=True)
    load_began = os.getloadavg()[0]
    for round_ in range(args.rounds):
        order = servers if round_ % 2 == 0 else servers[::-1]
        for server in order:
            port = free_port()
            seconds, (group, proc) = started(server, port, server.ready_timeout)
            times[server.name].append(seconds)
            if round_ == args.rounds - 1:
                memory[server.name] = load_and_measure(server, port, proc.pid)
            group.__exit__(None, None, None)
        print(f"  round {round_ + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    load_ended = os.getloadavg()[0]
    mine, peer = times["flaskpypi"], times[args.peer]
    ratios = [p / m for m, p in zip(mine, peer, strict=True)]
    print(f"\ndata set: {dataset.file_count:,} files; {args.rounds} paired rounds; "
          f"load average {load_began:.2f} -> {load_ended:.2f}")  # fmt: skip
    for name, values in times.items():
        print(f"{name}: start median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}); "
              f"PSS after a short load {memory[name]:.0f} MB")  # fmt: skip
    print(f"{args.peer} / flaskpypi start, paired: median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x); above 1x flaskpypi starts faster")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
