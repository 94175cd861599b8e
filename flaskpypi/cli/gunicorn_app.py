"""gunicorn's documented custom-application API, for `flaskpypi serve` (imported only when it runs: gunicorn
reads $WEB_CONCURRENCY at import, which the command checks first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class Server(BaseApplication):
    """gunicorn with the given options; GUNICORN_CMD_ARGS (e.g. "--access-logfile -") is applied on top,
    as the gunicorn command does. The master builds the app once and forks the workers with it (the hooks
    in flaskpypi/serving.py: when_ready builds it, post_fork drops inherited connections, on_reload builds
    a new one on SIGHUP, child_exit sweeps a dead worker's partial files)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        super().__init__(prog="flaskpypi serve")

    def load_config(self) -> None:
        """Our options, then any from GUNICORN_CMD_ARGS."""
        assert self.cfg is not None
        for key, value in self.options.items():
            self.cfg.set(key, value)
        from_env = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
        for key, value in vars(from_env).items():
            if value is not None and key != "args":
                self.cfg.set(key.lower(), value)

    def load(self) -> Flask:
        """The app, built by create_app() in the master (serving.when_ready), which keeps no database connection
        open across the fork (serving.post_fork drops any a worker inherits)."""
        from .. import create_app

        return create_app()
