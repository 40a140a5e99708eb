"""schema.graphql at the repository root is the SDL the code serves."""

from __future__ import annotations

from schema.build import export_sdl
from services.kit.settings import ROOT


def test_schema_graphql_is_up_to_date():
    on_disk = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert on_disk == export_sdl(), (
        "schema.graphql is stale: run `.venv/bin/python -m app export-schema -o schema.graphql`"
    )
