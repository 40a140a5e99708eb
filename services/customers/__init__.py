"""Customer service: the customer list, a member's file, account status (M5.1, M5.2)."""
