"""The platform's ASGI application: `create_app` (app/factory.py) builds it, and
`python -m app` is the command line (cli.py).

Importing this package loads nothing else, so that `python -m app` answers `--help`, bad
input and `migrate` without first loading the whole platform (about 2 s of imports);
`create_app` loads the factory the first time it is asked for (`from app import
create_app`, `uvicorn --factory app:create_app`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.factory import create_app as create_app
else:

    def __getattr__(name: str) -> Any:
        if name == "create_app":
            from app.factory import create_app

            return create_app
        raise AttributeError(f"module 'app' has no attribute {name!r}")
