"""D4: key ids on encrypted personal data, retired keys, a separate lookup key, and
`rotate-pii`, which re-encrypts every stored value under the current key."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from tortoise import Tortoise

from models.credit import VerificationSubmission
from models.members import User
from models.messaging import OutgoingMessage
from models.payments import BankCard, PaymentInstruction, ProviderAccount
from services import pii_rotation
from services.credit import materials
from services.identity import auth
from services.identity.permissions import Actor
from services.kit.security import (
    PiiCipherError,
    UnknownPiiKeyError,
    decrypt_pii,
    encrypt_pii,
    lookup_hash,
    pii_key_id,
    reset_pii_keys,
)
from services.kit.settings import DEV_PII_KEY, ROOT, Settings, get_settings
from services.kit.storage import LocalStorage, set_storage
from services.money import accounts
from services.payments import params as instruction_params
from services.pii_rotation import ENCRYPTED_COLUMNS, LookupKeyMismatchError, rotate_all
from services.platform import notifier
from tests.factories import PASSWORD, create_member, dump_all_tables, new_id_number, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
OTHER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
REAL_NAME = "Zhou Xiaoming"
CARD = "6222020200112233446"  # Luhn-valid, generated
PNG = b"\x89PNG\r\n\x1a\n"
FILES = [
    ("front.png", "image/png", PNG + b"front of the ID card" * 20),
    ("back.png", "image/png", PNG + b"back of the ID card" * 20),
]
PII_ENV = ("PII_KEY", "PII_KEY_ID", "PII_RETIRED_KEYS", "PII_LOOKUP_KEY")
UseKeys = Callable[..., None]


def _reload_keys() -> None:
    get_settings.cache_clear()
    reset_pii_keys()


@pytest.fixture
def old_key() -> str:
    """The key the test run writes with (PII_KEY of the test settings, key id k1)."""
    settings = get_settings()
    assert settings.pii_key_id == "k1"
    return settings.pii_key


@pytest.fixture
def use_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[UseKeys]:
    """use_keys(PII_KEY=..., ...) switches the process to those key settings (None
    removes one); the test's settings come back afterwards."""

    def use(**env: str | None) -> None:
        for name, value in env.items():
            assert name in PII_ENV, name
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        _reload_keys()

    yield use
    monkeypatch.undo()
    _reload_keys()


@pytest.fixture
def rotated(use_keys: UseKeys, old_key: str) -> Callable[[], None]:
    """Switch to a new current key k2 with k1 retired; lookups keep the old key."""

    def switch() -> None:
        use_keys(
            PII_KEY=NEW_KEY,
            PII_KEY_ID="k2",
            PII_RETIRED_KEYS=f"k1:{old_key}",
            PII_LOOKUP_KEY=old_key,
        )

    return switch


@pytest.fixture(autouse=True)
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "storage")
    set_storage(store)
    yield store
    set_storage(None)


def _legacy_token(key: str, value: str) -> str:
    """A value as written before key ids: base64(nonce + ciphertext), no associated data."""
    nonce = os.urandom(12)
    return base64.b64encode(
        nonce + AESGCM(base64.b64decode(key)).encrypt(nonce, value.encode(), None)
    ).decode()


async def _stored_ciphers() -> list[str]:
    """Every encrypted value stored in ENCRYPTED_COLUMNS."""
    found: list[str] = []
    for entry in ENCRYPTED_COLUMNS:
        for value in await entry.model.all().values_list(entry.column, flat=True):
            if entry.nested:
                found += [
                    field["cipher"]
                    for field in value.values()
                    if isinstance(field, dict) and "cipher" in field
                ]
            elif value:
                found.append(value)
    return found


# --- format ----------------------------------------------------------------------------


async def test_the_key_id_is_stored_with_every_value():
    user, phone = await create_member()

    assert user.phone_cipher.startswith("k1:")
    assert pii_key_id(user.phone_cipher) == "k1"
    stored = await User.filter(id=user.id).values_list("phone_cipher", flat=True)
    assert stored[0].startswith("k1:")
    assert decrypt_pii(user.phone_cipher) == phone
    # A fresh nonce each time: the same value never encrypts to the same text.
    assert encrypt_pii(phone) != encrypt_pii(phone)


async def test_a_changed_key_id_or_value_does_not_decrypt(rotated):
    token = encrypt_pii("13800001234")  # k1
    rotated()  # k2 current, k1 retired: both keys are known
    assert decrypt_pii(token) == "13800001234"
    body = token.removeprefix("k1:")

    # The key id is associated data: the same bytes under another known id fail...
    with pytest.raises(PiiCipherError, match="does not authenticate") as swapped:
        decrypt_pii(f"k2:{body}")
    assert not isinstance(swapped.value, UnknownPiiKeyError)
    # ... and so do they without any id (they are not a legacy value either).
    with pytest.raises(PiiCipherError, match="without a key id"):
        decrypt_pii(body)
    # An id that names no configured key is its own, clear error.
    with pytest.raises(UnknownPiiKeyError, match="PII_RETIRED_KEYS") as unknown:
        decrypt_pii(f"k9:{body}")
    assert unknown.value.key_id == "k9"
    # A changed byte of the ciphertext.
    raw = bytearray(base64.b64decode(body))
    raw[20] ^= 1
    with pytest.raises(PiiCipherError):
        decrypt_pii(f"k1:{base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(PiiCipherError, match="base64"):
        decrypt_pii("k1:not base64!")


async def test_legacy_values_without_a_key_id_still_decrypt(use_keys, rotated, old_key):
    legacy = _legacy_token(old_key, "13800005678")
    assert pii_key_id(legacy) is None
    assert decrypt_pii(legacy) == "13800005678"  # with the current key
    rotated()
    assert decrypt_pii(legacy) == "13800005678"  # with the retired key it was written by
    use_keys(PII_RETIRED_KEYS=None)
    with pytest.raises(PiiCipherError, match="without a key id"):
        decrypt_pii(legacy)


async def test_rows_of_the_old_key_still_decrypt_after_a_new_key_with_the_old_one_retired(
    use_keys, rotated
):
    user, phone = await create_member()
    rotated()

    row = await User.get(id=user.id)
    assert row.phone_cipher.startswith("k1:")
    assert decrypt_pii(row.phone_cipher) == phone
    assert encrypt_pii(phone).startswith("k2:")
    # The lookups were not touched: the member logs in by phone as before.
    assert await token_for(phone)
    # New rows get the new key id, and are found by their lookups too.
    newcomer, newcomer_phone = await create_member()
    assert newcomer.phone_cipher.startswith("k2:")
    assert await token_for(newcomer_phone)

    # Without the retired key, the old rows name an unknown key id.
    use_keys(PII_RETIRED_KEYS=None)
    with pytest.raises(UnknownPiiKeyError):
        decrypt_pii(row.phone_cipher)


# --- lookup key ------------------------------------------------------------------------


async def test_lookups_use_their_own_key_which_defaults_to_pii_key(use_keys, old_key):
    default = lookup_hash("13800001234")
    # PII_LOOKUP_KEY unset is PII_KEY: the lookups stored before it existed still match.
    use_keys(PII_LOOKUP_KEY=old_key)
    assert lookup_hash("13800001234") == default
    # A new PII_KEY does not move the lookups when PII_LOOKUP_KEY keeps the old key.
    use_keys(PII_KEY=NEW_KEY, PII_KEY_ID="k2")
    assert lookup_hash("13800001234") == default
    # A different lookup key gives different lookups (re-hashing is not part of D4).
    use_keys(PII_LOOKUP_KEY=OTHER_KEY)
    assert lookup_hash("13800001234") != default


async def test_personal_payment_instruction_parameters_are_stored_encrypted():
    params = {"member_ref": "m:7", "real_name": REAL_NAME, "card_number": CARD}
    sealed = instruction_params.seal_params(params)
    assert sealed["member_ref"] == "m:7"
    assert sealed["real_name"]["cipher"].startswith("k1:")
    assert REAL_NAME not in str(sealed)
    assert CARD not in str(sealed)
    assert instruction_params.open_params(sealed) == params
    # Ones stored in clear before (still open instructions) are sent as they are.
    assert instruction_params.open_params(params) == params


# --- rotation --------------------------------------------------------------------------


async def _member_with_everything() -> dict[str, Any]:
    """A member with a phone, a custody account, a bound card, an ID-card verification
    and an SMS queued to them, all made through the services."""
    user, phone = await create_member(name="Test Member")
    actor = Actor(user_id=user.id, kind="member")
    id_number = new_id_number()
    custody = await accounts.open_account(actor=actor, real_name=REAL_NAME, id_number=id_number)
    assert custody.status == "open", custody.status
    card = await accounts.bind_card(actor=actor, card_number=CARD)
    assert card.status == "bound", card.failure_reason
    submission = await materials.submit(
        actor, "ID_CARD", {"realName": REAL_NAME, "idNumber": id_number}, FILES
    )
    sms = await notifier.send_sms(phone=phone, text="[LendBridge] Your card is bound.")
    return {
        "user": user,
        "phone": phone,
        "id_number": id_number,
        "custody_id": custody.id,
        "card_id": card.id,
        "submission_id": submission.id,
        "sms_id": sms.id,
    }


def _counts(done: list[pii_rotation.ColumnRotation]) -> dict[str, tuple[int, int]]:
    return {f"{c.table}.{c.column}": (c.values, c.rotated) for c in done}


async def test_rotate_pii_reencrypts_everything_and_the_retired_key_can_then_go(
    app, use_keys, rotated, old_key
):
    member = await _member_with_everything()
    # One value from before key ids, to show those are rotated too.
    await ProviderAccount.filter(id=member["custody_id"]).update(
        real_name_cipher=_legacy_token(old_key, REAL_NAME)
    )
    before = await _stored_ciphers()
    # Phone, name, ID, card, the verification's two fields, the SMS's recipient, and the
    # name in the account-opening instructions (the member's and the platform's accounts').
    opened = await PaymentInstruction.filter(kind="OPEN_ACCOUNT").count()
    assert opened >= 1
    assert len(before) == 7 + opened
    assert {pii_key_id(token) for token in before} == {"k1", None}
    updated_at = (await User.get(id=member["user"].id)).updated_at
    masked = {
        name: field["masked"]
        for name, field in (
            await VerificationSubmission.get(id=member["submission_id"])
        ).field_values.items()
    }

    rotated()
    done = await rotate_all(batch_size=2)

    assert _counts(done) == {
        "users.phone_cipher": (1, 1),
        "provider_accounts.real_name_cipher": (1, 1),
        "provider_accounts.id_number_cipher": (1, 1),
        "bank_cards.card_cipher": (1, 1),
        "verification_submissions.field_values": (2, 2),
        "payment_instructions.params": (opened, opened),
        "contract_emails.recipient_cipher": (0, 0),  # no contract e-mailed in this test
        "outgoing_messages.recipient_cipher": (1, 1),
    }
    after = await _stored_ciphers()
    assert len(after) == len(before)
    assert all(token.startswith("k2:") for token in after)

    # The retired key is no longer needed: everything decrypts with k2 alone.
    use_keys(PII_RETIRED_KEYS=None)
    user = await User.get(id=member["user"].id)
    assert decrypt_pii(user.phone_cipher) == member["phone"]
    custody = await ProviderAccount.get(id=member["custody_id"])
    assert decrypt_pii(custody.real_name_cipher) == REAL_NAME
    assert decrypt_pii(custody.id_number_cipher) == member["id_number"]
    card = await BankCard.get(id=member["card_id"])
    assert decrypt_pii(card.card_cipher) == CARD
    sms = await OutgoingMessage.get(id=member["sms_id"])
    assert decrypt_pii(sms.recipient_cipher) == member["phone"]
    submission = await VerificationSubmission.get(id=member["submission_id"])
    assert {
        name: decrypt_pii(field["cipher"]) for name, field in submission.field_values.items()
    } == {"realName": REAL_NAME, "idNumber": member["id_number"]}
    # Rotation leaves everything else alone.
    assert {name: field["masked"] for name, field in submission.field_values.items()} == masked
    assert user.updated_at == updated_at

    # Lookups still work: login by phone, and the card's lookup finds the same card.
    pair = await auth.login(phone=member["phone"], password=PASSWORD)
    assert pair.access_token
    assert await BankCard.filter(card_lookup=lookup_hash(CARD)).count() == 1

    # A second run has nothing to do and changes nothing.
    dump = await dump_all_tables()
    again = await rotate_all(batch_size=2)
    assert [c.rotated for c in again] == [0] * len(ENCRYPTED_COLUMNS)
    assert sum(c.values for c in again) == len(before)
    assert await dump_all_tables() == dump

    # No personal value in clear anywhere in the database.
    for plain in (member["phone"], member["id_number"], REAL_NAME, CARD):
        assert plain not in dump


async def test_a_run_that_stops_half_way_loses_nothing_and_the_next_one_finishes(
    rotated, monkeypatch
):
    phones = [(await create_member())[1] for _ in range(3)]
    rotated()
    real = pii_rotation.reencrypt_pii
    calls = 0

    def crash_on_the_third(token: str) -> str | None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("killed")
        return real(token)

    monkeypatch.setattr(pii_rotation, "reencrypt_pii", crash_on_the_third)
    with pytest.raises(RuntimeError, match="killed"):
        await rotate_all(batch_size=1)

    # The first two batches committed, the third rolled back: old and new key ids side
    # by side, and every value still reads.
    users = await User.all().order_by("id")
    assert [pii_key_id(user.phone_cipher) for user in users] == ["k2", "k2", "k1"]
    assert [decrypt_pii(user.phone_cipher) for user in users] == phones

    monkeypatch.setattr(pii_rotation, "reencrypt_pii", real)
    done = await rotate_all(batch_size=1)
    assert _counts(done)["users.phone_cipher"] == (3, 1)
    users = await User.all().order_by("id")
    assert [pii_key_id(user.phone_cipher) for user in users] == ["k2", "k2", "k2"]
    assert [decrypt_pii(user.phone_cipher) for user in users] == phones


async def test_rotation_refuses_a_lookup_key_that_does_not_match_the_stored_lookups(
    use_keys, old_key
):
    user, _phone = await create_member()
    # The classic mistake: PII_KEY changed and PII_LOOKUP_KEY set to the new key.
    use_keys(
        PII_KEY=NEW_KEY, PII_KEY_ID="k2", PII_RETIRED_KEYS=f"k1:{old_key}", PII_LOOKUP_KEY=NEW_KEY
    )
    with pytest.raises(LookupKeyMismatchError, match="PII_LOOKUP_KEY"):
        await rotate_all()
    assert (await User.get(id=user.id)).phone_cipher == user.phone_cipher


async def test_a_value_no_configured_key_reads_stops_the_run_with_a_clear_error(rotated):
    user, _phone = await create_member()
    unknown = "k9:" + encrypt_pii("110101199001011237").partition(":")[2]
    await ProviderAccount.create(owner_code="m:stray", id_number_cipher=unknown)
    rotated()

    with pytest.raises(UnknownPiiKeyError, match="'k9'"):
        await rotate_all(batch_size=1)
    # The columns before it are done (their batches committed); the value is untouched.
    assert (await User.get(id=user.id)).phone_cipher.startswith("k2:")
    assert (await ProviderAccount.get(owner_code="m:stray")).id_number_cipher == unknown


async def test_rotate_pii_command(old_key):
    user, phone = await create_member()
    env = {
        **os.environ,
        "PII_KEY": NEW_KEY,
        "PII_KEY_ID": "k2",
        "PII_RETIRED_KEYS": f"k1:{old_key}",
        "PII_LOOKUP_KEY": old_key,
    }
    process = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "app",
        "rotate-pii",
        "--batch-size",
        "10",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
    assert process.returncode == 0, output
    assert "users.phone_cipher: 1 re-encrypted (1 values in 1 rows)" in output
    assert "every stored value is now under k2" in output
    assert (await User.get(id=user.id)).phone_cipher.startswith("k2:")
    assert phone not in output


# --- coverage of the list --------------------------------------------------------------


async def test_every_encrypted_column_is_in_the_rotation_list():
    listed = {(entry.model, entry.column) for entry in ENCRYPTED_COLUMNS}
    # Every listed column exists...
    for model, column in listed:
        assert column in model._meta.fields_map, f"{model.__name__}.{column}"
    # ... and every model column named like a ciphertext is listed.
    missing = [
        f"{model._meta.db_table}.{name}"
        for model in Tortoise.apps["models"].values()
        for name in model._meta.fields_map
        if name.endswith("_cipher") and (model, name) not in listed
    ]
    assert not missing, f"add these to services/pii_rotation.ENCRYPTED_COLUMNS: {missing}"

    # Every place a service stores `encrypt_pii(...)` writes a listed column (keyword
    # arguments, `name=encrypt_pii(`), or the nested {"cipher": encrypt_pii(...)} form.
    columns = {column for _model, column in listed}
    written: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r"(\w+)\s*=\s*encrypt_pii\(", text))
        if re.search(r"""["']cipher["']\s*:\s*encrypt_pii\(""", text):
            written.add('{"cipher": ...}')
    assert written, "no encrypt_pii call found: the scan is broken"
    nested = any(entry.nested for entry in ENCRYPTED_COLUMNS)
    unlisted = sorted(
        name for name in written if name not in columns and not (name.startswith("{") and nested)
    )
    assert not unlisted, f"encrypt_pii into columns the rotation does not cover: {unlisted}"


# --- settings --------------------------------------------------------------------------


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def _prod(**values: Any) -> dict[str, Any]:
    return {
        "app_env": "prod",
        "jwt_secret": secrets.token_urlsafe(36),
        "pii_key": NEW_KEY,
        "webhook_secret": "x" * 40,
        "provider_api_secret": "p" * 40,
        "platform_signing_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        # Prod also refuses the development adapters (tests/api/test_prod_mode.py).
        "provider_url": "https://payments.example.com",
        "external_sources": "bureau_client.adapter:BureauSources",
        "sms_gateway_url": "https://sms.example.com/v1/messages",
        "sms_gateway_key": "k" * 40,
        "clock_start": None,  # the test run sets CLOCK_START; prod refuses it
        **values,
    }


async def test_key_settings_defaults(monkeypatch):
    for name in PII_ENV:
        monkeypatch.delenv(name, raising=False)
    settings = _settings()
    assert settings.pii_key_id == "k1"
    assert settings.retired_pii_keys == {}
    assert settings.pii_lookup_key is None
    assert settings.effective_pii_lookup_key == settings.pii_key == DEV_PII_KEY
    # A blank PII_LOOKUP_KEY is unset.
    monkeypatch.setenv("PII_LOOKUP_KEY", " ")
    assert _settings().pii_lookup_key is None


async def test_retired_keys_are_parsed():
    settings = _settings(
        pii_key_id="k3",
        pii_retired_keys=f" k1:{OTHER_KEY} , k2:{NEW_KEY},",
        pii_lookup_key=OTHER_KEY,
    )
    assert settings.retired_pii_keys == {"k1": OTHER_KEY, "k2": NEW_KEY}
    assert settings.effective_pii_lookup_key == OTHER_KEY


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"pii_key_id": "k:1"}, "PII_KEY_ID must be"),
        ({"pii_key_id": ""}, "PII_KEY_ID must be"),
        ({"pii_key": "c2hvcnQ="}, "PII_KEY must be 32 bytes"),
        ({"pii_lookup_key": "c2hvcnQ="}, "PII_LOOKUP_KEY must be 32 bytes"),
        ({"pii_retired_keys": OTHER_KEY}, "kid:base64key pairs"),
        ({"pii_retired_keys": f"k 0:{OTHER_KEY}"}, "is not a key id"),
        ({"pii_retired_keys": "k0:c2hvcnQ="}, r"PII_RETIRED_KEYS \(k0\) must be 32 bytes"),
        ({"pii_retired_keys": f"k0:{OTHER_KEY},k0:{NEW_KEY}"}, "twice"),
        ({"pii_retired_keys": f"k1:{OTHER_KEY}"}, "names the current key id 'k1'"),
        # Retiring a key without pinning the lookup key would break every lookup.
        ({"pii_key_id": "k2", "pii_retired_keys": f"k1:{OTHER_KEY}"}, "PII_LOOKUP_KEY must"),
    ],
)
async def test_bad_key_settings_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        _settings(**values)


async def test_prod_refuses_the_development_key_as_a_retired_or_lookup_key():
    with pytest.raises(ValidationError) as refused:
        _settings(
            **_prod(
                pii_key_id="k2",
                pii_retired_keys=f"k0:{OTHER_KEY},k1:{DEV_PII_KEY}",
                pii_lookup_key=DEV_PII_KEY,
            )
        )
    message = str(refused.value)
    assert "development secrets" in message
    assert "PII_RETIRED_KEYS" in message
    assert "PII_LOOKUP_KEY" in message
    assert "'PII_KEY'" not in message

    # The same with keys of its own is accepted.
    settings = _settings(
        **_prod(pii_key_id="k2", pii_retired_keys=f"k1:{OTHER_KEY}", pii_lookup_key=OTHER_KEY)
    )
    assert settings.is_prod
    assert settings.retired_pii_keys == {"k1": OTHER_KEY}
