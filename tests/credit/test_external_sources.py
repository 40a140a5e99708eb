"""M2.7: external credit sources behind one adapter; the local implementation is
deterministic, scriptable and can fail on demand; checks are stored without personal
data in clear; the scorecard's signals count exactly, on the business clock."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from tortoise import connections
from tortoise.transactions import in_transaction

from models.external import ExternalCheck
from services.credit import external, report_shapes
from services.credit.catalogue import KINDS
from services.credit.external import (
    ExternalSourceError,
    LocalExternalSources,
    Signals,
    Source,
    Subject,
)
from services.credit.report_shapes import months_before
from services.errors import DomainError
from services.kit.security import lookup_hash
from services.kit.settings import Settings, get_settings
from services.platform import clock
from tests.credit.verification_helpers import id_card
from tests.factories import create_member, new_id_number

pytestmark = pytest.mark.asyncio(loop_scope="session")

AS_OF = date(2026, 6, 15)
NAME = "Zhou Xiaoming"
CHINESE_NAME = "周晓明"


@pytest.fixture(autouse=True)
def default_adapter() -> Iterator[None]:
    set_to = external.set_adapter
    set_to(None)
    yield
    set_to(None)


def _subject(id_number: str, name: str = NAME, user_id: int = 1) -> Subject:
    return Subject(user_id=user_id, id_number=id_number, name=name)


def _bureau(*items: tuple[date, int, int], debt: int = 0, payment: int = 0) -> dict[str, Any]:
    return {
        "overdue_items": [
            {"date": day.isoformat(), "amount_fen": amount, "days": days, "lender": "Bank A"}
            for day, amount, days in items
        ],
        "outstanding_debt_fen": debt,
        "monthly_debt_payment_fen": payment,
    }


async def _rows_as_text() -> str:
    rows = await connections.get("default").execute_query_dict("SELECT * FROM external_checks")
    return "\n".join(repr(row) for row in rows)


# --- the local implementation --------------------------------------------------------


async def test_same_person_same_report_and_different_people_differ():
    id_number = new_id_number()
    first = LocalExternalSources()
    again = LocalExternalSources()  # a new instance: nothing is remembered
    for source in Source:
        report = await first.fetch(source, _subject(id_number), AS_OF)
        assert report == await again.fetch(source, _subject(id_number), AS_OF)
        # The name and the user play no part: the ID number's keyed hash decides.
        other_name = _subject(id_number, name="Li Lei", user_id=99)
        assert report == await first.fetch(source, other_name, AS_OF)
        assert report == LocalExternalSources.generate(source, lookup_hash(id_number), AS_OF)

    people = [new_id_number() for _ in range(40)]
    for source in Source:
        reports = {
            json.dumps(await first.fetch(source, _subject(person), AS_OF), sort_keys=True)
            for person in people
        }
        assert len(reports) > 1, source  # not everyone gets the same report


async def test_most_people_are_clean_and_the_rest_plausible():
    clean: Counter[Source] = Counter()
    total = 2000
    for index in range(total):
        person = lookup_hash(f"person-{index}")
        bureau = LocalExternalSources.generate(Source.CREDIT_BUREAU, person, AS_OF)
        court = LocalExternalSources.generate(Source.COURT, person, AS_OF)
        reputation = LocalExternalSources.generate(Source.REPUTATION, person, AS_OF)
        sharing = LocalExternalSources.generate(Source.INDUSTRY_SHARING, person, AS_OF)
        for source, report in (
            (Source.CREDIT_BUREAU, bureau),
            (Source.COURT, court),
            (Source.REPUTATION, reputation),
            (Source.INDUSTRY_SHARING, sharing),
        ):
            external.parse_report(source, report)  # every generated report has the shape
        clean[Source.CREDIT_BUREAU] += not bureau["overdue_items"]
        clean[Source.COURT] += not court["cases"]
        clean[Source.REPUTATION] += not reputation["negative_hits"]
        clean[Source.INDUSTRY_SHARING] += not sharing["platforms"]

        for item in bureau["overdue_items"]:
            day = date.fromisoformat(item["date"])
            assert AS_OF - timedelta(days=3 * 365) <= day < AS_OF
            assert 10_000 <= item["amount_fen"] <= 2_000_000
        assert bureau["monthly_debt_payment_fen"] <= bureau["outstanding_debt_fen"]
        for case in court["cases"]:
            assert date.fromisoformat(case["filed_on"]) < AS_OF
        assert sharing["total_outstanding_fen"] == sum(
            loan["outstanding_fen"] for loan in sharing["platforms"]
        )

    shares = {source: clean[source] / total for source in Source}
    assert shares[Source.CREDIT_BUREAU] == pytest.approx(0.70, abs=0.04)
    assert shares[Source.COURT] == pytest.approx(0.90, abs=0.03)
    assert shares[Source.REPUTATION] == pytest.approx(0.85, abs=0.03)
    assert shares[Source.INDUSTRY_SHARING] == pytest.approx(0.60, abs=0.04)


def _shifted(report: dict[str, Any], days: int) -> dict[str, Any]:
    """The report with every date moved by `days` (and case numbers left out)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    (date.fromisoformat(item) + timedelta(days=days)).isoformat()
                    if key in ("date", "filed_on")
                    else walk(item)
                )
                for key, item in value.items()
                if key != "case_no"  # carries the filing year
            }
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return walk(report)  # type: ignore[no-any-return]


async def test_dates_are_counted_back_from_as_of():
    later = AS_OF + timedelta(days=100)
    dated = 0
    for index in range(100):
        person = lookup_hash(f"person-{index}")
        for source in Source:
            now = LocalExternalSources.generate(source, person, AS_OF)
            assert _shifted(now, 100) == _shifted(
                LocalExternalSources.generate(source, person, later), 0
            )
            dated += any(key in json.dumps(now) for key in ('"date"', '"filed_on"'))
    assert dated > 20  # the comparison did look at dates


async def test_local_reports_never_carry_the_name_or_id_number():
    adapter = LocalExternalSources()
    for _ in range(200):
        id_number = new_id_number()
        for source in Source:
            for name in (NAME, CHINESE_NAME):
                report = await adapter.fetch(source, _subject(id_number, name), AS_OF)
                text = json.dumps(report, ensure_ascii=False)
                assert id_number not in text
                assert id_number[-8:] not in text
                assert name not in text


async def test_overrides_script_an_exact_report_for_one_person_and_source():
    scripted_person, other_person = new_id_number(), new_id_number()
    report = _bureau((date(2026, 5, 1), 12_000, 35), debt=5_000_000, payment=120_000)
    adapter = LocalExternalSources(overrides={scripted_person: {"credit_bureau": report}})

    answer = await adapter.fetch(Source.CREDIT_BUREAU, _subject(scripted_person), AS_OF)
    assert answer == report
    answer["overdue_items"].clear()  # the caller gets a copy
    assert await adapter.fetch(Source.CREDIT_BUREAU, _subject(scripted_person), AS_OF) == report
    # Other sources, and other people, are generated as usual.
    assert await adapter.fetch(
        Source.COURT, _subject(scripted_person), AS_OF
    ) == LocalExternalSources.generate(Source.COURT, lookup_hash(scripted_person), AS_OF)
    assert await adapter.fetch(
        Source.CREDIT_BUREAU, _subject(other_person), AS_OF
    ) == LocalExternalSources.generate(Source.CREDIT_BUREAU, lookup_hash(other_person), AS_OF)


async def test_fail_sources_raise():
    adapter = LocalExternalSources(fail_sources={Source.COURT})
    with pytest.raises(ExternalSourceError):
        await adapter.fetch(Source.COURT, _subject(new_id_number()), AS_OF)
    assert await adapter.fetch(Source.REPUTATION, _subject(new_id_number()), AS_OF)


async def test_subject_repr_hides_the_id_number_and_name():
    id_number = new_id_number()
    text = repr(_subject(id_number, CHINESE_NAME))
    assert id_number not in text
    assert CHINESE_NAME not in text


async def test_every_external_kind_of_the_catalogue_names_a_source():
    named = {kind.external_source for kind in KINDS if kind.external_source}
    assert named == {source.value for source in Source}


async def test_report_shapes_are_strict():
    good = _bureau((date(2026, 5, 1), 12_000, 35))
    external.parse_report(Source.CREDIT_BUREAU, good)
    for bad in (
        {**good, "outstanding_debt_fen": 1.5},  # money is integer fen
        {**good, "outstanding_debt_fen": "100"},
        {**good, "outstanding_debt_fen": -1},
        {**good, "idNumber": "x"},  # nothing the shape does not name
        {**good, "overdue_items": [{**good["overdue_items"][0], "date": "01/05/2026"}]},
        {"overdue_items": []},
    ):
        with pytest.raises(ValidationError):
            external.parse_report(Source.CREDIT_BUREAU, bad)
    with pytest.raises(ValidationError):
        external.parse_report(
            Source.COURT,
            {"cases": [{"case_no": "1", "filed_on": "2026-01-01", "kind": "civil", "status": "x"}]},
        )


# --- the configured adapter ----------------------------------------------------------


async def test_local_is_the_default_and_a_test_can_swap_it():
    assert get_settings().external_sources == "local"
    default = external.get_adapter()
    assert isinstance(default, LocalExternalSources)
    assert default.name == "local"
    assert external.get_adapter() is default  # built once
    scripted = LocalExternalSources(fail_sources={Source.COURT})
    external.set_adapter(scripted)
    assert external.get_adapter() is scripted
    external.set_adapter(None)
    assert external.get_adapter() is default


class PluggedIn:
    """What a real adapter looks like to the platform (selected by EXTERNAL_SOURCES)."""

    name = "plugged-in"

    async def fetch(self, source: Source, subject: Subject, as_of: date) -> dict[str, Any]:
        return {"cases": []}


async def test_external_sources_setting_selects_an_adapter_class(monkeypatch):
    settings = get_settings().model_copy(
        update={"external_sources": "tests.credit.test_external_sources:PluggedIn"}
    )
    monkeypatch.setattr(external, "get_settings", lambda: settings)
    assert isinstance(external.get_adapter(), PluggedIn)
    with pytest.raises(ValueError, match="external_sources"):
        Settings(external_sources="not an adapter")


# --- fetch ---------------------------------------------------------------------------


async def test_fetch_stores_the_report_without_the_id_number_or_name():
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id, name=NAME)
    started = await clock.now()
    await clock.advance(days=40)  # fetched_at and as_of follow the business clock

    check = await external.fetch(user.id, Source.CREDIT_BUREAU)

    assert check.user_id == user.id
    assert check.source == "credit_bureau"
    assert check.adapter == "local"
    assert check.subject_lookup == lookup_hash(id_number)
    assert abs(check.fetched_at - await clock.now()) < timedelta(seconds=5)
    assert check.fetched_at - started >= timedelta(days=40)
    assert check.result == LocalExternalSources.generate(
        Source.CREDIT_BUREAU, lookup_hash(id_number), await clock.today()
    )
    stored = await ExternalCheck.get(id=check.id)
    assert stored.result == check.result
    text = await _rows_as_text()
    assert id_number not in text
    assert NAME not in text


@pytest.mark.parametrize(
    ("name", "masked_name"), [(CHINESE_NAME, "周**"), (NAME, "Z" + "*" * (len(NAME) - 1))]
)
async def test_an_answer_naming_the_person_is_stored_masked(name, masked_name):
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id, name=name)
    echoing = {
        "negative_hits": [
            {
                "title": f"{name} ({id_number.lower()}) named in a debt dispute",
                "source": f"Notice {id_number} about {name.upper()}",
                "date": "2026-01-02",
            }
        ]
    }
    external.set_adapter(LocalExternalSources(overrides={id_number: {"reputation": echoing}}))

    check = await external.fetch(user.id, Source.REPUTATION)

    masked_id = f"{id_number[:3]}***********{id_number[-4:]}"
    assert check.result["negative_hits"][0] == {
        "title": f"{masked_name} ({masked_id}) named in a debt dispute",
        "source": f"Notice {masked_id} about {masked_name}",
        "date": "2026-01-02",
    }
    text = await _rows_as_text()
    for secret in (id_number, id_number.lower(), name, name.upper()):
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text  # nor its \\u-escaped JSON form


async def test_identity_required_without_an_approved_id_card():
    user, _phone = await create_member()
    with pytest.raises(DomainError) as raised:
        await external.fetch(user.id, Source.COURT)
    assert raised.value.code == "IDENTITY_REQUIRED"

    await id_card(user.id, approved=False)  # submitted, not yet approved
    assert await external.subject_for(user.id) is None
    with pytest.raises(DomainError) as raised:
        await external.fetch(user.id, Source.COURT)
    assert raised.value.code == "IDENTITY_REQUIRED"
    assert await ExternalCheck.all().count() == 0


async def test_subject_is_the_newest_approved_id_card():
    user, _phone = await create_member()
    _old, old_number = await id_card(user.id, name="Old Name")
    _new, new_number = await id_card(user.id, name=NAME)
    await id_card(user.id, name="Pending Name", approved=False)
    other, _phone = await create_member()
    await id_card(other.id)

    subject = await external.subject_for(user.id)

    assert subject == Subject(user_id=user.id, id_number=new_number, name=NAME)
    assert old_number != new_number


async def test_source_unavailable_stores_nothing():
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id)
    external.set_adapter(LocalExternalSources(fail_sources={Source.INDUSTRY_SHARING}))

    with pytest.raises(DomainError) as raised:
        await external.fetch(user.id, Source.INDUSTRY_SHARING)
    assert raised.value.code == "SOURCE_UNAVAILABLE"
    assert await ExternalCheck.all().count() == 0

    # A malformed answer is unavailable too.
    broken = {"platforms": [{"platform": "X", "outstanding_fen": 1.5, "overdue": False}]}
    external.set_adapter(LocalExternalSources(overrides={id_number: {"industry_sharing": broken}}))
    with pytest.raises(DomainError) as raised:
        await external.fetch(user.id, Source.INDUSTRY_SHARING)
    assert raised.value.code == "SOURCE_UNAVAILABLE"
    assert await ExternalCheck.all().count() == 0
    assert await external.latest(user.id, Source.INDUSTRY_SHARING) is None

    # The other sources still answer.
    await external.fetch(user.id, Source.COURT)
    assert await ExternalCheck.all().count() == 1


async def test_the_adapter_is_never_called_inside_a_transaction():
    user, _phone = await create_member()
    await id_card(user.id)
    with pytest.raises(RuntimeError, match="outside transactions"):
        async with in_transaction():
            await external.fetch(user.id, Source.COURT)
    assert await ExternalCheck.all().count() == 0


async def test_newest_check_wins():
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id)
    assert await external.latest(user.id, Source.COURT) is None
    first_report = {
        "cases": [{"case_no": "A1", "filed_on": "2025-01-01", "kind": "civil", "status": "open"}]
    }
    external.set_adapter(LocalExternalSources(overrides={id_number: {"court": first_report}}))
    first = await external.fetch(user.id, Source.COURT)
    assert (await external.signals(user.id)).court_cases == 1

    external.set_adapter(LocalExternalSources(overrides={id_number: {"court": {"cases": []}}}))
    second = await external.fetch(user.id, Source.COURT)

    newest = await external.latest(user.id, Source.COURT)
    assert newest is not None
    assert newest.id == second.id != first.id
    assert (await external.signals(user.id)).court_cases == 0
    assert await external.latest(user.id, Source.REPUTATION) is None


# --- signals -------------------------------------------------------------------------


async def test_signals_are_zero_when_nothing_was_fetched():
    user, _phone = await create_member()
    assert await external.signals(user.id) == Signals(0, 0, 0, 0, 0)


async def test_signals_count_exactly_with_the_24_month_window():
    user, _phone = await create_member()
    _card, id_number = await id_card(user.id)
    today = await clock.today()
    cutoff = months_before(today, 24)
    bureau = _bureau(
        (today, 10_000, 5),  # today: in
        (cutoff + timedelta(days=1), 20_000, 30),  # the window's first day: in
        (cutoff, 30_000, 60),  # exactly 24 months old: out
        (months_before(today, 30), 40_000, 90),  # older: out
        debt=8_000_000,
        payment=250_000,
    )
    court = {
        "cases": [
            {"case_no": "C1", "filed_on": "2019-03-01", "kind": "civil", "status": "closed"},
            {"case_no": "C2", "filed_on": "2025-11-20", "kind": "enforcement", "status": "open"},
        ]
    }
    reputation = {
        "negative_hits": [
            {"title": "Debt dispute", "source": "Regional Daily", "date": "2024-02-01"},
            {"title": "Unpaid invoices", "source": "Finance Watch", "date": "2025-07-09"},
            {"title": "Warning", "source": "Consumer Forum", "date": "2015-07-09"},
        ]
    }
    sharing = {
        "platforms": [
            {"platform": "Yingtong P2P", "outstanding_fen": 3_000_000, "overdue": True},
            {"platform": "Anyi Loans", "outstanding_fen": 1_500_000, "overdue": False},
            {"platform": "Hengxin Lending", "outstanding_fen": 500_000, "overdue": True},
        ],
        "total_outstanding_fen": 5_000_000,
    }
    external.set_adapter(
        LocalExternalSources(
            overrides={
                id_number: {
                    "credit_bureau": bureau,
                    "court": court,
                    "reputation": reputation,
                    "industry_sharing": sharing,
                }
            }
        )
    )
    for source in Source:
        await external.fetch(user.id, source)

    assert await external.signals(user.id) == Signals(
        court_cases=2,
        bureau_overdue_items=2,
        negative_hits=3,
        other_platforms_outstanding_fen=5_000_000,
        other_platform_overdue=2,
    )

    # A day later by the business clock, the window's first-day item is exactly 24
    # months old and drops out; the stored check is not fetched again.
    await clock.advance(days=1)
    assert (await external.signals(user.id)).bureau_overdue_items == 1


async def test_signals_ignore_other_members_checks():
    user, _phone = await create_member()
    other, _phone = await create_member()
    _card, other_number = await id_card(other.id)
    court = {
        "cases": [{"case_no": "C1", "filed_on": "2020-01-01", "kind": "civil", "status": "closed"}]
    }
    external.set_adapter(LocalExternalSources(overrides={other_number: {"court": court}}))
    await external.fetch(other.id, Source.COURT)
    assert (await external.signals(other.id)).court_cases == 1
    assert (await external.signals(user.id)).court_cases == 0


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 6, 15), 24, date(2024, 6, 15)),
        (date(2026, 8, 31), 6, date(2026, 2, 28)),  # clamped to the month's end
        (date(2028, 8, 31), 6, date(2028, 2, 29)),  # leap year
        (date(2026, 2, 28), 24, date(2024, 2, 28)),
        (date(2026, 1, 10), 13, date(2024, 12, 10)),
    ],
)
async def test_months_before(day, months, expected):
    assert months_before(day, months) == expected


async def test_window_boundaries():
    today = date(2026, 6, 15)
    assert report_shapes.within_months(today, today, 24)
    assert report_shapes.within_months(date(2024, 6, 16), today, 24)
    assert not report_shapes.within_months(date(2024, 6, 15), today, 24)  # exactly 24 months
    assert not report_shapes.within_months(today + timedelta(days=1), today, 24)  # future
