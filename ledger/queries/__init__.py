"""Read models: the JSON shapes operators and the general ledger see, and `arledger check`."""
