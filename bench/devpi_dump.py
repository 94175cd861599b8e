"""Write the data set as a devpi-server export, to fill devpi with `devpi-import`.

Uploading is not an option at this size: devpi-server rewrites a project's whole link list in one
transaction per upload, so the 2,000 uploads of one project take over an hour. An import writes each
project in one transaction. The dump has the shape `devpi-export` writes (dumpversion 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from dataset import REQUIRES_PYTHON, DataSet, summary

LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"


def write_dump(dataset: DataSet, target: Path, server_version: str, stage: str) -> None:
    """Write `dataindex.json` and hard links to the files into `target` for index `stage` (user/index)."""
    user = stage.split("/")[0]
    projects: dict[str, dict[str, dict[str, str]]] = {}
    files = []
    for name, version, path in dataset.files():
        projects.setdefault(name, {})[version] = _versiondata(name, version)
        relpath = f"{stage}/{name}/{version}/{path.name}"
        (target / relpath).parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target / relpath)
        files.append(_filedesc(name, version, relpath, hashlib.sha256(path.read_bytes()).hexdigest()))
    index = {
        "indexconfig": {"type": "stage", "bases": [], "volatile": False, "acl_upload": [user]},
        "projects": projects,
        "files": files,
    }
    dataindex = {
        "dumpversion": "2",
        "pythonversion": list(sys.version_info),
        "devpi_server": server_version,
        "users": {user: {"username": user}},
        "indexes": {stage: index},
    }
    (target / "dataindex.json").write_text(json.dumps(dataindex))


def _versiondata(name: str, version: str) -> dict[str, str]:
    return {
        "name": name,
        "version": version,
        "metadata_version": "2.1",
        "summary": summary(name),
        "requires_python": REQUIRES_PYTHON,
    }


def _filedesc(name: str, version: str, relpath: str, sha256: str) -> dict[str, object]:
    return {
        "type": "releasefile",
        "projectname": name,
        "version": version,
        "relpath": relpath,
        "entrymapping": {
            "hash_spec": f"sha256={sha256}",
            "hashes": {"sha256": sha256},
            "last_modified": LAST_MODIFIED,
            "project": name,
            "version": version,
        },
    }
