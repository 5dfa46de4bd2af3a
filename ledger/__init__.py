"""arledger: accounts-receivable cash application (domain, posting rules, persistence)."""
