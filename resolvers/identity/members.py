"""Sign-up, sign-in, tokens, the caller, staff accounts: map arguments, call one service."""

from __future__ import annotations

from strawberry.types import Info

from models.messaging import SmsPurpose
from schema.types.identity import members as t
from services.errors import DomainError
from services.identity import auth, sms_codes


def _auth_payload(pair: auth.TokenPair) -> t.AuthPayload:
    return t.AuthPayload(
        access_token=pair.access_token,
        access_token_expires_at=pair.access_expires_at,
        refresh_token=pair.refresh_token,
        refresh_token_expires_at=pair.refresh_expires_at,
        user=t.UserNode.from_model(pair.user),
    )


async def request_sms_code(info: Info, input: t.RequestSmsCodeInput) -> t.RequestSmsCodeResult:
    try:
        phone = sms_codes.normalize_phone(input.phone)
        row = await sms_codes.issue(phone=phone, purpose=SmsPurpose(input.purpose.value))
    except DomainError as error:
        return t.RequestSmsCodeError.from_domain(error)
    return t.SmsCodeSent(expires_at=row.expires_at, phone_masked=f"{phone[:3]}****{phone[-4:]}")


async def register(info: Info, input: t.RegisterInput) -> t.RegisterResult:
    try:
        pair = await auth.register(
            phone=input.phone,
            password=input.password,
            sms_code=input.sms_code,
            display_name=input.display_name,
        )
    except DomainError as error:
        return t.RegisterError.from_domain(error)
    return _auth_payload(pair)


async def login(info: Info, input: t.LoginInput) -> t.LoginResult:
    try:
        pair = await auth.login(phone=input.phone, password=input.password)
    except DomainError as error:
        return t.LoginError.from_domain(error)
    return _auth_payload(pair)


async def refresh_token(info: Info, input: t.RefreshTokenInput) -> t.RefreshTokenResult:
    try:
        pair = await auth.refresh(refresh_token=input.refresh_token)
    except DomainError as error:
        return t.RefreshTokenError.from_domain(error)
    return _auth_payload(pair)


async def logout(info: Info, input: t.LogoutInput | None = None) -> t.LoggedOut:
    actor = await info.context.get_actor()
    await auth.logout(
        actor=actor,
        access_token=info.context.access_token or "",
        refresh_token=input.refresh_token if input else None,
    )
    return t.LoggedOut(ok=True)


async def reset_password(info: Info, input: t.ResetPasswordInput) -> t.ResetPasswordResult:
    try:
        await auth.reset_password(
            phone=input.phone, sms_code=input.sms_code, new_password=input.new_password
        )
    except DomainError as error:
        return t.ResetPasswordError.from_domain(error)
    return t.PasswordReset(ok=True)


async def me(info: Info) -> t.Me:
    actor = await info.context.get_actor()
    user = await auth.get_user(actor=actor, user_id=actor.user_id)
    return t.Me(
        user=t.UserNode.from_model(user),
        roles=sorted(actor.roles),
        permissions=sorted(actor.permissions),
    )


async def create_staff_user(info: Info, input: t.CreateStaffUserInput) -> t.CreateStaffUserResult:
    actor = await info.context.get_actor()
    try:
        user = await auth.create_staff_user(
            actor=actor,
            phone=input.phone,
            password=input.password,
            display_name=input.display_name,
            roles=input.roles,
        )
    except DomainError as error:
        return t.CreateStaffUserError.from_domain(error)
    return t.StaffUserCreated(user=t.UserNode.from_model(user), roles=sorted(set(input.roles)))
