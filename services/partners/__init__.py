"""Partners (issue 18, docs/partners.md): other systems that run only the persisted
operations of the sets they are allowed, with their own API keys, a rate limit, a daily
quota and usage counted per operation."""
