"""Registration, login, tokens and logout (M1.1).

Access tokens are short-lived JWTs (HS256). Refresh tokens are opaque, stored hashed and
rotated on every use; presenting a used refresh token again revokes its whole family
(a stolen token stops working for the thief and the owner alike). Logout revokes the
family and the access token. Five wrong passwords lock login for a period.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.access import RefreshToken, RevokedAccessToken, Role, UserRole
from models.members import User, UserKind, UserStatus
from models.messaging import SmsPurpose
from services.errors import AuthenticationError, DomainError, InvalidInputError, NotFoundError
from services.identity import sms_codes
from services.identity.permissions import Actor, access_changed, load_actor
from services.kit.security import (
    encrypt_pii,
    hash_password,
    lookup_hash,
    mask_phone,
    new_secret,
    password_needs_rehash,
    sha256_hex,
    verify_password,
)
from services.kit.settings import get_settings
from services.platform import notifier, outbox
from services.platform.clock import system_now

_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def validate_password(password: str, *, field: str = "password") -> str:
    """8-128 characters with at least one letter and one digit."""
    if not 8 <= len(password or "") <= 128:
        raise InvalidInputError("The password must have 8 to 128 characters", field=field)
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise InvalidInputError("The password needs at least one letter and one digit", field=field)
    return password


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64:
        raise InvalidInputError(
            "The display name must have 1 to 64 characters", field="displayName"
        )
    return name


async def _create_user(
    *, kind: UserKind, phone: str, password: str, display_name: str, roles: list[str]
) -> User:
    password_hash = await hash_password(password)
    async with in_transaction():
        lookup = lookup_hash(phone)
        if await User.exists(phone_lookup=lookup):
            raise DomainError(
                "This phone number is already registered", code="PHONE_TAKEN", field="phone"
            )
        user = await User.create(
            kind=kind,
            phone_lookup=lookup,
            phone_cipher=encrypt_pii(phone),
            phone_masked=mask_phone(phone),
            display_name=display_name,
            password_hash=password_hash,
        )
        known = set(await Role.filter(name__in=roles).values_list("name", flat=True))
        missing = sorted(set(roles) - known)
        if missing:
            raise DomainError(
                f"Unknown roles: {', '.join(missing)}", code="NOT_FOUND", field="roles"
            )
        await UserRole.bulk_create([UserRole(user=user, role_id=name) for name in sorted(known)])
        await notifier.notify(
            user=user, kind="welcome", title="Welcome to LendBridge", body="Your account is ready."
        )
    outbox.wake()
    return user


async def register(
    *, phone: str, password: str, sms_code: str, display_name: str | None = None
) -> TokenPair:
    """Register a member with a phone confirmed by an SMS code, and log them in.

    Raises InvalidInputError (phone, password, name), DomainError PHONE_TAKEN and the
    SMS code errors of `sms_codes.verify`.
    """
    phone = sms_codes.normalize_phone(phone)
    validate_password(password)
    name = _validate_name(display_name or f"Member {phone[-4:]}")
    if await User.exists(phone_lookup=lookup_hash(phone)):
        raise DomainError(
            "This phone number is already registered", code="PHONE_TAKEN", field="phone"
        )
    await sms_codes.verify(phone=phone, purpose=SmsPurpose.REGISTER, code=sms_code)
    user = await _create_user(
        kind=UserKind.MEMBER, phone=phone, password=password, display_name=name, roles=["member"]
    )
    return await _issue_tokens(user, family_id=uuid.uuid4())


async def create_staff_user(
    *, actor: Actor, phone: str, password: str, display_name: str, roles: list[str]
) -> User:
    """Admin creates a staff login with its roles (no SMS code: the admin vouches).

    Raises InvalidInputError, DomainError PHONE_TAKEN / NOT_FOUND (role) / INVALID.
    """
    phone = sms_codes.normalize_phone(phone)
    validate_password(password)
    name = _validate_name(display_name)
    if not roles:
        raise InvalidInputError("Give the staff user at least one role", field="roles")
    if "member" in roles:
        raise InvalidInputError("Staff cannot hold the member role", field="roles")
    return await _create_user(
        kind=UserKind.STAFF,
        phone=phone,
        password=password,
        display_name=name,
        roles=sorted(set(roles)),
    )


async def login(*, phone: str, password: str) -> TokenPair:
    """Log in with phone and password.

    Raises DomainError INVALID_CREDENTIALS (unknown phone or wrong password, the same
    answer for both), LOCKED_OUT (too many failures: wait), ACCOUNT_DISABLED.
    """
    try:
        phone = sms_codes.normalize_phone(phone)
    except InvalidInputError:
        await verify_password(password or "", None)
        raise
    user = await User.get_or_none(phone_lookup=lookup_hash(phone))
    now = system_now()
    if user is not None and user.login_locked_until and user.login_locked_until > now:
        raise DomainError("Too many failed attempts: try again later", code="LOCKED_OUT")
    if (
        not await verify_password(password or "", user.password_hash if user else None)
        or user is None
    ):
        if user is not None:
            await _record_failure(user, now)
        raise DomainError("Wrong phone number or password", code="INVALID_CREDENTIALS")
    if user.status != UserStatus.ACTIVE:
        raise DomainError("This account is locked or closed", code="ACCOUNT_DISABLED")
    updates: dict[str, int | str | None] = {"failed_logins": 0, "login_locked_until": None}
    if password_needs_rehash(user.password_hash):
        updates["password_hash"] = await hash_password(password)
    await User.filter(id=user.id).update(**updates)
    return await _issue_tokens(user, family_id=uuid.uuid4())


async def _record_failure(user: User, now: datetime) -> None:
    settings = get_settings()
    async with in_transaction():
        await User.filter(id=user.id).update(failed_logins=F("failed_logins") + 1)
        # Lock when this failure reaches the limit; counting restarts after the lock.
        await User.filter(id=user.id, failed_logins__gte=settings.login_max_failures).update(
            failed_logins=0, login_locked_until=now + timedelta(minutes=settings.login_lock_minutes)
        )


async def _issue_tokens(user: User, *, family_id: uuid.UUID) -> TokenPair:
    settings = get_settings()
    now = system_now()
    access_expires = now + timedelta(minutes=settings.access_token_minutes)
    access = jwt.encode(
        {
            "sub": str(user.id),
            "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()),
            "exp": int(access_expires.timestamp()),
            "typ": "access",
        },
        settings.jwt_secret,
        algorithm=_ALGORITHM,
    )
    token_id = uuid.uuid4()
    secret = new_secret()
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    await RefreshToken.create(
        id=token_id,
        user=user,
        family_id=family_id,
        token_hash=sha256_hex(secret),
        expires_at=refresh_expires,
    )
    return TokenPair(
        access_token=access,
        access_expires_at=access_expires,
        refresh_token=f"{token_id.hex}.{secret}",
        refresh_expires_at=refresh_expires,
        user=user,
    )


async def refresh(*, refresh_token: str) -> TokenPair:
    """Trade a refresh token for a new pair. Reuse of a used token revokes its family.

    Raises AuthenticationError (code INVALID_TOKEN or TOKEN_REUSED).
    """
    secret = (refresh_token or "").partition(".")[2]
    now = system_now()
    async with in_transaction():
        row = (
            (
                await RefreshToken.filter(token_hash=sha256_hex(secret))
                .select_for_update()
                .prefetch_related("user")
                .first()
            )
            if secret
            else None
        )
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise AuthenticationError("The refresh token is not valid", code="INVALID_TOKEN")
        if row.used_at is not None:
            reuse = True
        else:
            reuse = False
            row.used_at = now
            await row.save(update_fields=["used_at"])
            user = row.user
            if user.status != UserStatus.ACTIVE:
                raise AuthenticationError("This account is locked or closed", code="INVALID_TOKEN")
            pair = await _issue_tokens(user, family_id=row.family_id)
    if reuse:
        await RefreshToken.filter(family_id=row.family_id, revoked_at__isnull=True).update(
            revoked_at=now
        )
        raise AuthenticationError(
            "This refresh token was already used: every session of this login is revoked",
            code="TOKEN_REUSED",
        )
    return pair


def decode_access_token(token: str) -> dict[str, object] | None:
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[_ALGORITHM],
            options={"require": ["sub", "jti", "exp", "typ"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None


async def authenticate(token: str | None) -> Actor | None:
    """The actor for a bearer access token; None when missing, invalid, expired or revoked."""
    if not token:
        return None
    claims = decode_access_token(token)
    if claims is None:
        return None
    try:
        user_id = int(str(claims["sub"]))
    except ValueError:
        return None
    return await load_actor(user_id, token_id=str(claims["jti"]), is_revoked=_is_revoked)


async def _is_revoked(jti: str) -> bool:
    return await RevokedAccessToken.exists(jti=jti)


async def logout(*, actor: Actor, access_token: str, refresh_token: str | None = None) -> None:
    """Revoke the caller's access token and every refresh token of the user's login
    family named by `refresh_token` (or, without it, all of the user's refresh tokens)."""
    claims = decode_access_token(access_token) or {}
    now = system_now()
    async with in_transaction():
        if claims.get("jti"):
            exp = datetime.fromtimestamp(int(str(claims["exp"])), tz=now.tzinfo)
            await RevokedAccessToken.get_or_create(
                jti=str(claims["jti"]), defaults={"expires_at": exp}
            )
        tokens = RefreshToken.filter(user_id=actor.user_id, revoked_at__isnull=True)
        secret = (refresh_token or "").partition(".")[2]
        if secret:
            row = await RefreshToken.get_or_none(
                token_hash=sha256_hex(secret), user_id=actor.user_id
            )
            if row is not None:
                tokens = tokens.filter(family_id=row.family_id)
        await tokens.update(revoked_at=now)
    await access_changed()


async def reset_password(*, phone: str, sms_code: str, new_password: str) -> None:
    """Set a new password with an SMS code; every refresh token of the user is revoked.

    Raises InvalidInputError, NotFoundError (no account) and the SMS code errors.
    """
    phone = sms_codes.normalize_phone(phone)
    validate_password(new_password, field="newPassword")
    user = await User.get_or_none(phone_lookup=lookup_hash(phone))
    if user is None:
        raise NotFoundError("No account uses this phone number", field="phone")
    await sms_codes.verify(phone=phone, purpose=SmsPurpose.RESET_PASSWORD, code=sms_code)
    password_hash = await hash_password(new_password)
    now = system_now()
    async with in_transaction():
        await User.filter(id=user.id).update(
            password_hash=password_hash, failed_logins=0, login_locked_until=None
        )
        await RefreshToken.filter(user_id=user.id, revoked_at__isnull=True).update(revoked_at=now)
        await notifier.notify(
            user=user, kind="security", title="Password changed", body="Your password was reset."
        )
    outbox.wake()


async def get_user(*, actor: Actor, user_id: int) -> User:
    """A user the actor may see: themselves, or anyone for staff allowed to read customers.

    Raises NotFoundError (also when the actor may not see that user).
    """
    if actor.user_id != user_id and not actor.can("customers:read"):
        raise NotFoundError("No such user")
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFoundError("No such user")
    return user


async def create_member_without_code(*, phone: str, password: str, display_name: str) -> User:
    """Demo data only: a member whose phone was not confirmed by SMS."""
    phone = sms_codes.normalize_phone(phone)
    validate_password(password)
    return await _create_user(
        kind=UserKind.MEMBER,
        phone=phone,
        password=password,
        display_name=_validate_name(display_name),
        roles=["member"],
    )
