"""Delivery of scores to the CRM: field mapping, payloads, the push ledger, targets and the push itself.

`mapping` (typed config) and `payload` (pure) never do I/O; `ledger` is the only module touching the score store's
DuckDB file; `targets/` speak each CRM's HTTP API (or write files); `push` ties them together with retries.
"""
