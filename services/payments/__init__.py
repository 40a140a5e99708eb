"""The third-party payment provider (custodian): adapter interface, sandbox, callbacks."""
