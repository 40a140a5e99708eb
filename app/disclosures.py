"""GET /disclosures/<YYYY-MM>.pdf: a monthly disclosure's PDF (R7), for anyone.

Served only while the stored report matches its hash and the platform's signature and
the PDF matches its hash (services/analytics/disclosure.py): 409 when not, 404 for a month
with no disclosure. A published month never changes, so caches may keep it a day.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.analytics import disclosure
from services.errors import NotFoundError


async def serve(request: Request) -> Response:
    try:
        row, document = await disclosure.read_pdf(request.path_params["month"])
    except NotFoundError:
        return JSONResponse({"error": "no such disclosure"}, status_code=404)
    except disclosure.DisclosureIntegrityError as error:
        return JSONResponse(
            {"error": "integrity check failed", "detail": error.message}, status_code=409
        )
    filename = f"LendBridge-disclosure-{row.month:%Y-%m}.pdf"
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": row.pdf_sha256,
        },
    )
