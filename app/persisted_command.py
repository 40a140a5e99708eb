"""`python -m app persisted build` and `python -m app persisted load [file]`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from graphql import GraphQLSchema

from schema.documents import manifest, partner_docs
from services.kit.settings import ROOT, Environment, Settings, get_settings


def _graphql_schema(settings: Settings) -> GraphQLSchema:
    from schema.build import build_schema

    return build_schema(settings)._schema


def build(output: Path = manifest.MANIFEST_FILE) -> str:
    """Write the manifest of every persisted/<set>/*.graphql, checked against the full
    (dev/test) schema; returns what it wrote."""
    operations = manifest.read_documents()
    manifest.check_against(_graphql_schema(Settings(app_env=Environment.DEV)), operations)
    output.write_text(manifest.render(operations), encoding="utf-8")
    sets = manifest.read_sets()
    (output.parent / manifest.SETS_FILE_NAME).write_text(
        manifest.render_sets(sets), encoding="utf-8"
    )
    shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    return f"wrote {shown} and its {manifest.SETS_FILE_NAME}: {len(operations)} operations"


def sets_beside(manifest_file: Path) -> str | None:
    """The sets file written beside a manifest, if there is one."""
    path = manifest_file.parent / manifest.SETS_FILE_NAME
    return path.read_text(encoding="utf-8") if path.exists() else None


async def load(text: str, sets_text: str | None = None) -> str:
    from tortoise import Tortoise

    from services.kit.db import tortoise_config

    settings = get_settings()
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        version, new = await manifest.load(text, _graphql_schema(settings), sets_text)
    finally:
        await Tortoise.close_connections()
    return (
        f"version {version} is live"
        if new
        else f"version {version} is live already (same operations)"
    )


def main(action: str, file: str | None) -> int:
    try:
        if action == "build":
            done = build(Path(file) if file else manifest.MANIFEST_FILE)
        elif action == "docs":
            schema = _graphql_schema(Settings(app_env=Environment.DEV))
            done = partner_docs.write(Path(file) if file else partner_docs.DOCS_FILE, schema)
        else:
            path = Path(file or manifest.MANIFEST_FILE)
            text = path.read_text(encoding="utf-8")
            done = asyncio.run(load(text, sets_beside(path)))
    except (manifest.ManifestError, OSError, UnicodeDecodeError) as error:
        sys.stderr.write(f"persisted {action}: {error}\n")
        return 2
    sys.stdout.write(done + "\n")
    return 0
