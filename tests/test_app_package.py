"""`import app` (and so every `python -m app` command) loads nothing of the platform until
`create_app` is asked for: the command line answers `--help` and bad input at once."""

from __future__ import annotations

import subprocess
import sys

from services.kit.settings import ROOT

PLATFORM = ("strawberry", "tortoise", "starlette", "schema", "resolvers", "services", "models")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in result.stdout.split()}


def test_importing_the_package_loads_none_of_the_platform():
    assert _modules_after("import app").isdisjoint(PLATFORM)


def test_create_app_is_still_there_for_imports_and_uvicorn():
    loaded = _modules_after("from app import create_app\nassert callable(create_app)")
    assert {"strawberry", "tortoise", "starlette"} <= loaded
    result = subprocess.run(
        [sys.executable, "-c", "import app; app.no_such_thing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "AttributeError: module 'app' has no attribute 'no_such_thing'" in result.stderr
