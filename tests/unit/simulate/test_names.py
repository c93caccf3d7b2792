"""The simulated world's names: unique, deterministic, drawn from the index alone."""

from __future__ import annotations

from churnml.simulate.names import account_name, csm_name


def test_names_are_unique_and_repeatable() -> None:
    accounts = [account_name(i) for i in range(20_000)]
    assert len(set(accounts)) == len(accounts) and accounts[:3] == [account_name(i) for i in range(3)]
    assert account_name(17_760).endswith(" 2")  # past the word combinations, a number keeps names unique
    csms = [csm_name(i) for i in range(600)]
    assert len(set(csms)) == len(csms) and all(" " in n for n in csms)
