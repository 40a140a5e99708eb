"""Root fields: signed, expiring download links (issue 17)."""

from __future__ import annotations

import strawberry

from resolvers.platform import downloads as r
from schema.directives import auth
from schema.types.platform import downloads as t
from services.identity.permissions import Permission


@strawberry.type
class DownloadsMutation:
    create_download_link: t.CreateDownloadLinkResult = strawberry.mutation(
        resolver=r.create_download_link,
        extensions=auth(Permission.PROFILE_READ),
        description="A link, valid for a few minutes (DOWNLOAD_LINK_MINUTES), that "
        "downloads a contract's PDF, a verification file, your statement or (staff) the "
        "figures and lists as CSV without a token: for an <a href> or a download manager. "
        "Only for what you may read (NOT_FOUND otherwise); the bearer-token downloadPath "
        "keeps working.",
    )
