"""Signed, expiring download links (issue 17) for contracts' PDFs, verification files,
collateral documents (issue 21), service case attachments (issue 22) and a member's
statement as CSV: what the web SPA puts in an `<a href>` and the mobile app hands to a
download manager, with no bearer token.

A link names the object (kind and id), the user it was issued to (the subject), an expiry
and, for a statement, its filter (the scope), all under one HMAC-SHA256
(services/kit/links.py):

    /downloads/<kind>/<id>?subject=<user id>&expires=<unix s>&signature=<base64url>

It is issued only to someone who may read the object (`create_link`), and served
(`open_link`) only while the signature holds, the expiry has not passed and the subject
may *still* read the object: their account is active and the domain's own access rule
(a contract's parties and staff with contracts:read; a file's owner and credit officers;
a collateral document: whoever may see its loan's collateral; a case's file: the case's
member and case staff; one's own statement) still lets them. Refusals are logged with their reason.

The staff's CSV exports (issue 19: figures, returns, the overdue list, fund
transactions) are links of their own kinds whose id is the subject; which permission
each needs, what it takes and how it is streamed is services/downloads_csv.py.

Expiry is on the wall clock (`system_now`), like every other security timer of the
platform (tokens, SMS codes, lockouts), not on the business clock, which dev and test
move by days and which says when money falls due, not how long a credential lives.
Tests inject a clock with `set_clock`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlencode

from models.cases import CaseAttachment
from models.collateral import CollateralDocument
from models.contracts import Contract
from models.credit import MaterialFile
from models.members import User
from services import downloads_csv
from services.cases import attachments as case_attachments
from services.collateral import documents as collateral_documents
from services.contracts import access as contract_access
from services.credit import materials
from services.customers import member_data
from services.errors import DomainError, InvalidInputError, NotFoundError
from services.identity.permissions import Actor, Permission, load_actor
from services.kit import csv_stream, links, uploads
from services.kit.settings import get_settings
from services.money import statements
from services.platform.clock import system_now

logger = logging.getLogger(__name__)

PREFIX = "/downloads"
MAX_FILTER_KINDS = 20
_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")
_JOURNAL_KIND = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOGGABLE = re.compile(r"[A-Za-z0-9_.:-]{0,40}")


class DownloadKind(StrEnum):
    """What a link may serve; the value is the URL's kind segment."""

    CONTRACT = "contract"  # a contract's archived PDF (its id)
    MATERIAL = "material"  # a verification file (its id)
    COLLATERAL_DOCUMENT = "collateral-document"  # an item's document or report (its id)
    SERVICE_CASE_ATTACHMENT = "case-attachment"  # a file of a service case (its id)
    TRANSACTIONS = "transactions"  # the subject's own movements as CSV (id: the subject)
    MY_DATA = "my-data"  # everything held about the subject, as JSON (id: the subject)
    # Staff exports as CSV (id: the subject; services/downloads_csv.py), issue 19:
    PLATFORM_FIGURES = "platform-figures"
    RISK_FIGURES = "risk-figures"
    PLATFORM_RETURNS = "platform-returns"
    OVERDUE_LOANS = "overdue-loans"
    FUND_TRANSACTIONS = "fund-transactions"


class Refusal(StrEnum):
    """Why a link was not served (logged; the web layer maps it to a status)."""

    MALFORMED = "malformed"  # not a link this platform makes (bad number, path trick)
    UNKNOWN_KIND = "unknown_kind"
    BAD_SIGNATURE = "bad_signature"  # any part changed, or not signed with our key
    EXPIRED = "expired"
    NOT_FOUND = "not_found"  # a genuine link to an object that no longer exists
    SUBJECT_INACTIVE = "subject_inactive"  # the subject's account is locked or closed
    ACCESS_REVOKED = "access_revoked"  # the subject may no longer read the object
    INTEGRITY = "integrity"  # the stored bytes fail their hash or signature check


class DownloadRefusedError(DomainError):
    code = "DOWNLOAD_REFUSED"

    def __init__(self, reason: Refusal) -> None:
        super().__init__(f"Download refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class DownloadLink:
    path: str  # the path and query, to put after the public base URL
    expires_at: datetime


@dataclass(frozen=True)
class Download:
    data: bytes
    media_type: str
    filename: str
    sha256: str | None  # the hash on record, for the client to check (files only)
    stream: AsyncIterator[bytes] | None = None  # a streamed export: its chunks (no `data`)


Clock = Callable[[], datetime]
_clock: Clock = system_now


def set_clock(clock: Clock | None) -> Clock:
    """Use `clock` for expiry (None: the wall clock again); returns the one before."""
    global _clock
    previous, _clock = _clock, clock or system_now
    return previous


# --- issuing ------------------------------------------------------------------------------


async def create_link(
    *,
    actor: Actor,
    kind: DownloadKind,
    object_id: int | None = None,
    where: statements.TransactionFilter | None = None,
    as_of: date | None = None,
    since: date | None = None,
) -> DownloadLink:
    """A link to one object the actor may read now, valid for `DOWNLOAD_LINK_MINUTES`.

    CONTRACT, MATERIAL, COLLATERAL_DOCUMENT and SERVICE_CASE_ATTACHMENT need `object_id`;
    TRANSACTIONS takes none (it is always the actor's own statement) and may take a filter. Raises
    InvalidInputError (`id`, `filter`) for arguments that do not fit the kind,
    NotFoundError (`id`) when there is no such object or the actor may not read it (the
    two are not told apart).
    The staff's exports take no id, and `as_of`, `since`, `where` as downloads_csv says.
    """
    if actor.user_id is None:
        raise NotFoundError("Log in first", field="id")
    export = downloads_csv.EXPORTS.get(kind.value)
    if export is not None:
        return await _export_link(actor, kind, export, object_id, where, as_of, since)
    if as_of is not None or since is not None:
        raise InvalidInputError("Only an export of figures takes a day", field="asOf")
    if kind is not DownloadKind.TRANSACTIONS and where is not None:
        raise InvalidInputError("Only a TRANSACTIONS_CSV link takes a filter", field="filter")
    scope = ""
    if kind is DownloadKind.MY_DATA:
        if object_id is not None or not actor.can(Permission.ACCOUNT_USE):
            raise InvalidInputError("Your own data only: no id", field="id")
        return _signed_link(kind, actor.user_id, actor.user_id, "", {})
    if kind is DownloadKind.TRANSACTIONS:
        if object_id is not None:
            raise InvalidInputError("A statement link takes no id: it is yours", field="id")
        if not actor.can(Permission.ACCOUNT_USE):
            raise NotFoundError("You have no statement", field="id")
        object_id = actor.user_id
        scope = _filter_scope(_checked_filter(where or statements.TransactionFilter()))
    else:
        if object_id is None:
            raise InvalidInputError("Give the id of the object", field="id")
        await _check_readable(actor, kind, object_id)
    extra = _filter_query(where or statements.TransactionFilter())
    return _signed_link(kind, object_id, actor.user_id, scope, extra if scope else {})


async def _export_link(
    actor: Actor,
    kind: DownloadKind,
    export: downloads_csv.Export,
    object_id: int | None,
    where: statements.TransactionFilter | None,
    as_of: date | None,
    since: date | None,
) -> DownloadLink:
    """A staff export's link: no id (it names its subject), the permission now."""
    assert actor.user_id is not None
    if object_id is not None:
        raise InvalidInputError("An export takes no id", field="id")
    downloads_csv.check_allowed(actor, export)
    if where is not None and export.takes_filter:
        where = _checked_filter(where)
    params = await downloads_csv.checked_params(export, as_of=as_of, since=since, where=where)
    scope = downloads_csv.scope(params)
    extra = downloads_csv.query(params)
    if export.takes_filter:
        scope += ";" + _filter_scope(params.where)
        extra |= _filter_query(params.where)
    return _signed_link(kind, actor.user_id, actor.user_id, scope, extra)


def _signed_link(
    kind: DownloadKind, object_id: int, subject_id: int, scope: str, extra: dict[str, str]
) -> DownloadLink:
    ttl = timedelta(minutes=get_settings().download_link_minutes)
    expires = math.floor((_clock() + ttl).timestamp())
    claims = links.LinkClaims(
        kind=kind.value,
        object_id=object_id,
        subject_id=subject_id,
        expires=expires,
        scope=scope,
    )
    query = {"subject": subject_id, "expires": expires, "signature": links.sign(claims)} | extra
    return DownloadLink(
        path=f"{PREFIX}/{kind.value}/{object_id}?{urlencode(query)}",
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


async def _check_readable(actor: Actor, kind: DownloadKind, object_id: int) -> None:
    try:
        if kind is DownloadKind.CONTRACT:
            await contract_access.get_contract(actor=actor, contract_id=object_id)
        elif kind is DownloadKind.COLLATERAL_DOCUMENT:
            await collateral_documents.get_document(actor, object_id)
        elif kind is DownloadKind.SERVICE_CASE_ATTACHMENT:
            await case_attachments.get_attachment(actor, object_id)
        else:
            await materials.get_file(actor, object_id)
    except NotFoundError as error:
        raise NotFoundError(error.message, field="id") from error


def _checked_filter(where: statements.TransactionFilter) -> statements.TransactionFilter:
    if len(where.kinds) > MAX_FILTER_KINDS or not all(
        _JOURNAL_KIND.fullmatch(kind) for kind in where.kinds
    ):
        raise InvalidInputError(
            f"At most {MAX_FILTER_KINDS} kinds of letters, digits and _.:-", field="filter"
        )
    if where.date_from and where.date_to and where.date_from > where.date_to:
        raise InvalidInputError("`from` is after `to`", field="filter")
    return where


def _filter_scope(where: statements.TransactionFilter) -> str:
    """The filter as signed: the same filter always gives the same text."""
    kinds = ",".join(sorted(set(where.kinds)))
    first = where.date_from.isoformat() if where.date_from else ""
    last = where.date_to.isoformat() if where.date_to else ""
    return f"kinds={kinds};from={first};to={last}"


def _filter_query(where: statements.TransactionFilter) -> dict[str, str]:
    query = {}
    if where.kinds:
        query["kinds"] = ",".join(sorted(set(where.kinds)))
    if where.date_from:
        query["from"] = where.date_from.isoformat()
    if where.date_to:
        query["to"] = where.date_to.isoformat()
    return query


# --- serving ------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, reason: Refusal) -> None:
        self.reason = reason


@dataclass(frozen=True)
class _Link:
    kind: DownloadKind
    claims: links.LinkClaims
    signature: str
    where: statements.TransactionFilter
    export: downloads_csv.ExportParams | None = None  # the staff exports' parameters


async def open_link(*, path: str, query: Iterable[tuple[str, str]], client: str) -> Download:
    """What a link serves: `path` is what follows /downloads/ (`<kind>/<id>`), `query`
    the query's (name, value) pairs as received. Raises DownloadRefusedError with the
    reason, logged (reason, kind, id, subject, client address; never the signature)."""
    pairs = list(query)
    try:
        link = _parse(path, pairs)
        if not links.verify(link.claims, link.signature):
            raise _Refused(Refusal.BAD_SIGNATURE)
        if _clock().timestamp() >= link.claims.expires:
            raise _Refused(Refusal.EXPIRED)
        download = await _serve(link)
    except _Refused as refused:
        _log_refusal(refused.reason, path, pairs, client)
        raise DownloadRefusedError(refused.reason) from None
    logger.info(
        "download link served: kind=%s object=%s subject=%s client=%s",
        link.kind.value,
        link.claims.object_id,
        link.claims.subject_id,
        _loggable(client),
        extra={"download_link": _fields(path, pairs, client)},
    )
    return download


def _parse(path: str, pairs: list[tuple[str, str]]) -> _Link:
    segments = path.split("/")
    if len(segments) != 2:
        raise _Refused(Refusal.MALFORMED)
    kind_text, id_text = segments
    try:
        kind = DownloadKind(kind_text)
    except ValueError:
        raise _Refused(Refusal.UNKNOWN_KIND) from None
    names = [name for name, _value in pairs]
    if len(names) != len(set(names)):
        raise _Refused(Refusal.MALFORMED)
    values = dict(pairs)
    subject = values.get("subject", "")
    expires = values.get("expires", "")
    signature = values.get("signature", "")
    if not (
        _NUMBER.fullmatch(id_text)
        and _NUMBER.fullmatch(subject)
        and _EXPIRES.fullmatch(expires)
        and _SIGNATURE.fullmatch(signature)
    ):
        raise _Refused(Refusal.MALFORMED)
    where = statements.TransactionFilter()
    scope = ""
    export = downloads_csv.EXPORTS.get(kind.value)
    params = None
    if kind is DownloadKind.TRANSACTIONS or (export and export.takes_filter):
        where = _parse_filter(values)
        scope = _filter_scope(where)
    if export is not None:
        try:
            params = downloads_csv.parse(export, values, where)
        except ValueError:
            raise _Refused(Refusal.MALFORMED) from None
        scope = downloads_csv.scope(params) + (";" + scope if export.takes_filter else "")
    claims = links.LinkClaims(
        kind=kind.value,
        object_id=int(id_text),
        subject_id=int(subject),
        expires=int(expires),
        scope=scope,
    )
    return _Link(kind=kind, claims=claims, signature=signature, where=where, export=params)


def _parse_filter(values: dict[str, str]) -> statements.TransactionFilter:
    kinds = tuple(values["kinds"].split(",")) if "kinds" in values else ()
    try:
        where = statements.TransactionFilter(
            kinds=kinds, date_from=_day(values.get("from")), date_to=_day(values.get("to"))
        )
        return _checked_filter(where)
    except (ValueError, InvalidInputError):
        raise _Refused(Refusal.MALFORMED) from None


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    if not _DAY.fullmatch(text):
        raise ValueError(text)
    return date.fromisoformat(text)


async def _never_revoked(_token_id: str) -> bool:
    return False


async def _serve(link: _Link) -> Download:
    """The object, once the subject is checked again as if they asked with their token."""
    claims = link.claims
    exists = {
        DownloadKind.CONTRACT: Contract,
        DownloadKind.MATERIAL: MaterialFile,
        DownloadKind.COLLATERAL_DOCUMENT: CollateralDocument,
        DownloadKind.SERVICE_CASE_ATTACHMENT: CaseAttachment,
    }.get(link.kind, User)
    if not await exists.exists(id=claims.object_id):
        raise _Refused(Refusal.NOT_FOUND)
    actor = await load_actor(claims.subject_id, is_revoked=_never_revoked)
    if actor is None:
        raise _Refused(Refusal.SUBJECT_INACTIVE)
    try:
        return await _read(link, actor)
    except NotFoundError:
        raise _Refused(Refusal.ACCESS_REVOKED) from None
    except InvalidInputError:  # a day the figures refuse now (the clock moved back)
        raise _Refused(Refusal.MALFORMED) from None
    except (
        contract_access.ContractIntegrityError,
        materials.MaterialIntegrityError,
        uploads.StoredFileIntegrityError,
    ):
        raise _Refused(Refusal.INTEGRITY) from None


async def _read(link: _Link, actor: Actor) -> Download:
    object_id = link.claims.object_id
    if link.kind is DownloadKind.CONTRACT:
        contract, document = await contract_access.read_document(actor=actor, contract_id=object_id)
        return Download(document, "application/pdf", f"{contract.number}.pdf", contract.sha256)
    if link.kind is DownloadKind.MATERIAL:
        row, data = await materials.read_file(actor, object_id)
        return Download(data, row.content_type, row.filename, row.sha256)
    if link.kind is DownloadKind.COLLATERAL_DOCUMENT:
        pledged, data = await collateral_documents.read_document(actor, object_id)
        return Download(data, pledged.content_type, pledged.filename, pledged.sha256)
    if link.kind is DownloadKind.SERVICE_CASE_ATTACHMENT:
        attached, data = await case_attachments.read_attachment(actor, object_id)
        return Download(data, attached.content_type, attached.filename, attached.sha256)
    if link.export is not None:
        return await _read_export(link, link.export, actor)
    if link.kind is DownloadKind.MY_DATA:
        if object_id != actor.user_id:
            raise NotFoundError("No such data")
        data = await member_data.export(actor=actor)
        return Download(data, "application/json", "my-lendbridge-data.json", None)
    # One's own statement only, and only while one may use an account.
    if object_id != actor.user_id or not actor.can(Permission.ACCOUNT_USE):
        raise NotFoundError("No such statement")
    text = await statements.export_csv(actor=actor, where=link.where)
    return Download(text.encode(), "text/csv; charset=utf-8", "transactions.csv", None)


async def _read_export(link: _Link, params: downloads_csv.ExportParams, actor: Actor) -> Download:
    """A staff export, streamed, while the subject still has its permission."""
    export = downloads_csv.EXPORTS[link.kind.value]
    if link.claims.object_id != actor.user_id:
        raise NotFoundError("No such export")
    downloads_csv.check_allowed(actor, export)
    chunks = await downloads_csv.open_csv(actor, export, params)
    name = downloads_csv.filename(export, params)
    return Download(b"", csv_stream.MEDIA_TYPE, name, None, stream=chunks)


def content_disposition(filename: str) -> str:
    """`attachment` with the name in RFC 5987 form (any characters, nothing injected)."""
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


# --- logging ------------------------------------------------------------------------------


def _loggable(value: str) -> str:
    """Values from the URL as they may be logged: plain, or escaped and cut short."""
    return value if _LOGGABLE.fullmatch(value) else ascii(value[:40])


def _fields(path: str, pairs: list[tuple[str, str]], client: str) -> dict[str, str]:
    kind, _sep, object_id = path.partition("/")
    subject = next((value for name, value in pairs if name == "subject"), "")
    return {
        "kind": _loggable(kind),
        "object": _loggable(object_id),
        "subject": _loggable(subject),
        "client": _loggable(client),
    }


def _log_refusal(reason: Refusal, path: str, pairs: list[tuple[str, str]], client: str) -> None:
    fields = _fields(path, pairs, client)
    logger.warning(
        "download link refused: reason=%s kind=%s object=%s subject=%s client=%s",
        reason.value,
        fields["kind"],
        fields["object"],
        fields["subject"],
        fields["client"],
        extra={"download_refusal": reason.value, "download_link": fields},
    )
