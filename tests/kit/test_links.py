"""services/kit/links.py: the HMAC of a signed link covers every claim, under a key
derived from JWT_SECRET that is not JWT_SECRET itself."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from collections.abc import Iterator

import pytest

from services.kit import links
from services.kit.settings import get_settings

CLAIMS = links.LinkClaims("contract", 12, 7, 1_796_290_500, "")


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "material"},
        {"object_id": 13},
        {"subject_id": 8},
        {"expires": 1_796_290_501},
        {"scope": "kinds=;from=;to="},
    ],
)
def test_every_claim_is_signed(change):
    signature = links.sign(CLAIMS)

    assert links.verify(CLAIMS, signature)
    assert not links.verify(dataclasses.replace(CLAIMS, **change), signature)


def test_the_key_is_derived_not_the_token_secret_itself():
    plain = hmac.new(get_settings().jwt_secret.encode(), CLAIMS.message(), hashlib.sha256)
    as_token_key = base64.urlsafe_b64encode(plain.digest()).rstrip(b"=").decode()

    assert len(links.sign(CLAIMS)) == 43
    assert links.sign(CLAIMS) != as_token_key
    assert not links.verify(CLAIMS, as_token_key)


def test_a_new_jwt_secret_voids_every_link(fresh_settings):
    signature = links.sign(CLAIMS)

    fresh_settings.setenv("JWT_SECRET", "another-secret-of-at-least-32-characters-long")
    get_settings.cache_clear()

    assert not links.verify(CLAIMS, signature)


def test_a_claim_that_would_span_lines_is_refused():
    with pytest.raises(ValueError, match="single lines"):
        links.sign(dataclasses.replace(CLAIMS, scope="a\nb"))


def test_odd_signatures_are_false_not_errors():
    assert not links.verify(CLAIMS, "")
    assert not links.verify(CLAIMS, "é" * 43)
