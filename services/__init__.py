"""The business: one module per domain. Never imports strawberry, starlette or schema/."""
