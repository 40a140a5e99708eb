"""GET /downloads/<kind>/<id>?subject=&expires=&signature=: what a signed download link
serves (services/downloads.py), with no bearer token.

403 for a link that is malformed, altered, expired or whose subject may no longer read
the object; 404 for a genuine link to an object that no longer exists (or a kind there
is not); 409 when the stored bytes fail their integrity check, as on the bearer-token
paths. Every refusal is logged by the service. The answer is never cached anywhere
(`private, no-store`) and sends no Referer onwards. The staff's CSV exports (issue 19)
are streamed: the body goes out a page of rows at a time, never whole in memory.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from services import downloads
from services.downloads import Refusal

STATUS = {
    Refusal.MALFORMED: 403,
    Refusal.BAD_SIGNATURE: 403,
    Refusal.EXPIRED: 403,
    Refusal.SUBJECT_INACTIVE: 403,
    Refusal.ACCESS_REVOKED: 403,
    Refusal.UNKNOWN_KIND: 404,
    Refusal.NOT_FOUND: 404,
    Refusal.INTEGRITY: 409,
}
_NEVER_STORED = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


async def serve(request: Request) -> Response:
    client = request.client.host if request.client else "unknown"
    try:
        found = await downloads.open_link(
            path=request.path_params["link"],
            query=request.query_params.multi_items(),
            client=client,
        )
    except downloads.DownloadRefusedError as refused:
        return JSONResponse(
            {"error": "download refused", "reason": refused.reason.value},
            status_code=STATUS[refused.reason],
            headers=_NEVER_STORED,
        )
    headers = {
        **_NEVER_STORED,
        "Content-Disposition": downloads.content_disposition(found.filename),
        "X-Content-Type-Options": "nosniff",
    }
    if found.sha256:
        headers["X-Content-SHA256"] = found.sha256
    if found.stream is not None:  # a staff export: sent page by page as it is read
        return StreamingResponse(found.stream, media_type=found.media_type, headers=headers)
    return Response(found.data, media_type=found.media_type, headers=headers)
