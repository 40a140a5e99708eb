"""Members, staff, tokens and sign-in results."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import relay

from models.members import User
from schema.errors import error_codes, error_type


@strawberry.enum(name="UserKind", description="Member (borrower or lender) or platform staff.")
class UserKindEnum(Enum):
    MEMBER = "member"
    STAFF = "staff"


@strawberry.enum(name="UserStatus", description="Whether the user may log in and act.")
class UserStatusEnum(Enum):
    ACTIVE = "active"
    LOCKED = "locked"
    CLOSED = "closed"


@strawberry.type(name="User", description="A login: a member or a staff user.")
class UserNode(relay.Node):
    id: relay.NodeID[int]
    kind: UserKindEnum = strawberry.field(description="Member or staff.")
    status: UserStatusEnum = strawberry.field(description="Active, locked or closed.")
    phone_masked: str = strawberry.field(description="Phone number with the middle hidden.")
    display_name: str = strawberry.field(description="Name shown to others.")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")

    @classmethod
    def from_model(cls, user: User) -> UserNode:
        return cls(
            id=user.id,
            kind=UserKindEnum(str(user.kind)),
            status=UserStatusEnum(str(user.status)),
            phone_masked=user.phone_masked,
            display_name=user.display_name,
            created_at=user.created_at,
        )


@strawberry.type(description="The caller: their account, roles and permissions.")
class Me:
    user: UserNode = strawberry.field(description="The caller's account.")
    roles: list[str] = strawberry.field(description="Role names held.")
    permissions: list[str] = strawberry.field(description="Permission codes the roles grant.")


@strawberry.type(description="Signed in: a short-lived access token and a refresh token.")
class AuthPayload:
    access_token: str = strawberry.field(description="Send as `Authorization: Bearer ...`.")
    access_token_expires_at: datetime = strawberry.field(description="When it stops working.")
    refresh_token: str = strawberry.field(description="Single use: trade it in `refreshToken`.")
    refresh_token_expires_at: datetime = strawberry.field(description="Last day it can be used.")
    user: UserNode = strawberry.field(description="Who signed in.")


@strawberry.enum(description="What an SMS code will be used for.")
class SmsCodePurpose(Enum):
    REGISTER = "register"
    RESET_PASSWORD = "reset_password"


@strawberry.input(description="Send a one-time code to a phone.")
class RequestSmsCodeInput:
    phone: str = strawberry.field(description="Mainland mobile number, e.g. 13800138000.")
    purpose: SmsCodePurpose = strawberry.field(description="What the code is for.")


@strawberry.type(description="A code was sent; it works once, within its expiry.")
class SmsCodeSent:
    expires_at: datetime = strawberry.field(description="When the code stops working.")
    phone_masked: str = strawberry.field(description="Where it was sent.")


RequestSmsCodeErrorCode = error_codes(
    "RequestSmsCode", ["INVALID", "PHONE_TAKEN", "TOO_SOON"], "Why no code was sent."
)
RequestSmsCodeError = error_type("RequestSmsCode", RequestSmsCodeErrorCode, "No code was sent.")
RequestSmsCodeResult = Annotated[
    SmsCodeSent | RequestSmsCodeError, strawberry.union("RequestSmsCodeResult")
]

_CODE_ERRORS = ["CODE_INVALID", "CODE_EXPIRED", "CODE_ATTEMPTS_EXCEEDED"]


@strawberry.input(description="Open a member account.")
class RegisterInput:
    phone: str = strawberry.field(description="Mainland mobile number the code was sent to.")
    password: str = strawberry.field(description="8-128 characters, a letter and a digit.")
    sms_code: str = strawberry.field(description="The code from `requestSmsCode(REGISTER)`.")
    display_name: str | None = strawberry.field(default=None, description="Name shown to others.")


RegisterErrorCode = error_codes(
    "Register", ["INVALID", "PHONE_TAKEN", *_CODE_ERRORS], "Why registration failed."
)
RegisterError = error_type(
    "Register", RegisterErrorCode, "Registration failed; nothing was created."
)
RegisterResult = Annotated[AuthPayload | RegisterError, strawberry.union("RegisterResult")]


@strawberry.input(description="Log in with phone and password.")
class LoginInput:
    phone: str = strawberry.field(description="The account's phone number.")
    password: str = strawberry.field(description="The account's password.")


LoginErrorCode = error_codes(
    "Login",
    ["INVALID", "INVALID_CREDENTIALS", "LOCKED_OUT", "ACCOUNT_DISABLED"],
    "Why login failed. Five wrong passwords in a row lock login for a while.",
)
LoginError = error_type("Login", LoginErrorCode, "Login failed.")
LoginResult = Annotated[AuthPayload | LoginError, strawberry.union("LoginResult")]


@strawberry.input(description="Trade a refresh token for a new pair.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The latest refresh token (single use).")


RefreshTokenErrorCode = error_codes(
    "RefreshToken",
    ["INVALID_TOKEN", "TOKEN_REUSED"],
    "TOKEN_REUSED: an already used token came back, so every session of that login ended.",
)
RefreshTokenError = error_type("RefreshToken", RefreshTokenErrorCode, "No new tokens.")
RefreshTokenResult = Annotated[
    AuthPayload | RefreshTokenError, strawberry.union("RefreshTokenResult")
]


@strawberry.input(description="End this session.")
class LogoutInput:
    refresh_token: str | None = strawberry.field(
        default=None,
        description="This session's refresh token; without it every session of the user ends.",
    )


@strawberry.type(description="The access token and the refresh tokens are revoked.")
class LoggedOut:
    ok: bool = strawberry.field(description="Always true.")


@strawberry.input(description="Set a new password with an SMS code.")
class ResetPasswordInput:
    phone: str = strawberry.field(description="The account's phone number.")
    sms_code: str = strawberry.field(description="The code from `requestSmsCode(RESET_PASSWORD)`.")
    new_password: str = strawberry.field(description="8-128 characters, a letter and a digit.")


@strawberry.type(description="The password is changed and every session ended.")
class PasswordReset:
    ok: bool = strawberry.field(description="Always true.")


ResetPasswordErrorCode = error_codes(
    "ResetPassword", ["INVALID", "NOT_FOUND", *_CODE_ERRORS], "Why the password was not changed."
)
ResetPasswordError = error_type("ResetPassword", ResetPasswordErrorCode, "Nothing was changed.")
ResetPasswordResult = Annotated[
    PasswordReset | ResetPasswordError, strawberry.union("ResetPasswordResult")
]


@strawberry.input(description="Create a staff login (admin).")
class CreateStaffUserInput:
    phone: str = strawberry.field(description="The staff member's mobile number.")
    password: str = strawberry.field(description="Initial password.")
    display_name: str = strawberry.field(description="Name shown in the back office.")
    roles: list[str] = strawberry.field(description="Role names, e.g. risk_l1.")


@strawberry.type(description="The staff user exists and may log in.")
class StaffUserCreated:
    user: UserNode = strawberry.field(description="The new account.")
    roles: list[str] = strawberry.field(description="Roles it holds.")


CreateStaffUserErrorCode = error_codes(
    "CreateStaffUser", ["INVALID", "PHONE_TAKEN", "NOT_FOUND"], "Why the user was not created."
)
CreateStaffUserError = error_type("CreateStaffUser", CreateStaffUserErrorCode, "Nothing created.")
CreateStaffUserResult = Annotated[
    StaffUserCreated | CreateStaffUserError, strawberry.union("CreateStaffUserResult")
]
