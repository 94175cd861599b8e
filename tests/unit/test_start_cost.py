"""What a start costs: the schema check without Alembic, and the modules a start leaves unimported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text

from flaskpypi.index.migrate import MIGRATIONS, alembic_config, current_revision, head_revision, upgrade

PROBE = """
import json, sys
from flaskpypi import create_app
app = create_app()
answer = app.test_client().get("/simple/")
lazy = ("alembic", "docutils", "readme_renderer", "pypi_simple", "requests")
print(json.dumps({"status": answer.status_code, "loaded": [m for m in lazy if m in sys.modules]}))
"""


def test_head_revision_is_alembics() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_upgrade_migrates_a_new_database_then_only_reads_the_revision(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.connect() as conn:
        assert current_revision(conn) is None
    upgrade(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    upgrade(engine)  # at the head: a look at alembic_version, nothing written
    assert statements and not any(s.lstrip().upper().startswith(("CREATE", "ALTER", "UPDATE", "INSERT"))
                                  for s in statements)  # fmt: skip
    with engine.begin() as conn:  # a schema behind the head (0007 and later undone) is migrated as before
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006_project_search")
        conn.execute(text("DELETE FROM counters WHERE name = 'access'"))
    upgrade(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.execute(text("SELECT value FROM counters WHERE name = 'access'")).scalar() == 0


def test_a_start_on_an_existing_index_imports_no_migration_or_rendering_code(tmp_path: Path) -> None:
    env = {**os.environ, "FLASKPYPI_INSTANCE_PATH": str(tmp_path), "FLASKPYPI_SECRET_KEY": "test",
           "FLASKPYPI_FALLBACK": "none"}  # fmt: skip
    first = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert json.loads(first.stdout.splitlines()[-1])["status"] == 200  # the first start migrates (Alembic)
    again = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    result = json.loads(again.stdout.splitlines()[-1])
    assert result == {"status": 200, "loaded": []}, again.stderr[-2000:]
