"""Root fields: sign-up, sign-in, tokens, the caller, staff accounts (M1.1, M11.2)."""

from __future__ import annotations

import strawberry

from resolvers.identity import members as r
from schema.directives import auth, public
from schema.types.identity import members as t
from services.identity.permissions import Permission


@strawberry.type
class MembersQuery:
    me: t.Me = strawberry.field(
        resolver=r.me,
        extensions=auth(Permission.PROFILE_READ),
        description="The caller's account, roles and permissions.",
    )


@strawberry.type
class MembersMutation:
    request_sms_code: t.RequestSmsCodeResult = strawberry.mutation(
        resolver=r.request_sms_code,
        extensions=public(),
        description="Send a one-time code (6 digits, 5 minutes, 5 attempts) to a phone.",
    )
    register: t.RegisterResult = strawberry.mutation(
        resolver=r.register,
        extensions=public(),
        description="Open a member account with phone, password and SMS code; signs in.",
    )
    login: t.LoginResult = strawberry.mutation(
        resolver=r.login, extensions=public(), description="Sign in with phone and password."
    )
    refresh_token: t.RefreshTokenResult = strawberry.mutation(
        resolver=r.refresh_token,
        extensions=public(),
        description="Rotate tokens. Each refresh token works once; reuse ends every session.",
    )
    logout: t.LoggedOut = strawberry.mutation(
        resolver=r.logout,
        extensions=auth(Permission.SESSION_LOGOUT),
        description="Revoke this access token and the session's refresh tokens.",
    )
    reset_password: t.ResetPasswordResult = strawberry.mutation(
        resolver=r.reset_password,
        extensions=public(),
        description=(
            "Set a new password with an SMS code; revokes every refresh token"
            " (access tokens lapse within their lifetime)."
        ),
    )
    create_staff_user: t.CreateStaffUserResult = strawberry.mutation(
        resolver=r.create_staff_user,
        extensions=auth(Permission.STAFF_CREATE),
        description="Create a staff login with roles (admin).",
    )
