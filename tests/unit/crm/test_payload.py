"""Pure parts of the CRM push: field values, mapping validation, hashes, change selection, batches, signatures."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from churnml.crm.mapping import CrmConfig, HubSpotConfig, SalesforceConfig
from churnml.crm.payload import build_records, chunk, select_changed, signature, verify_signature
from churnml.crm.targets.base import retry_after_seconds
from churnml.crm.targets.hubspot import parse_response as hubspot_parse
from churnml.crm.targets.salesforce import parse_response as sf_parse
from tests.support.crm_scores import make_scores

AS_OF = dt.date(2025, 3, 3)


def test_records_follow_the_mapping() -> None:
    scores = make_scores(5, AS_OF)
    recs = build_records(scores, HubSpotConfig().fields, decimals=3)
    assert [r.account_id for r in recs] == list(scores["account_id"])
    r0, s0 = recs[0], scores.iloc[0]
    assert set(r0.properties) == {"churn_risk", "churn_risk_band", "churn_mrr_at_risk", "churn_top_reasons",
                                  "churn_scored_at"}
    assert r0.properties["churn_risk"] == round(s0["churn_probability"], 3)
    assert r0.properties["churn_risk_band"] == s0["risk_band"]
    assert r0.properties["churn_top_reasons"] == "Logins fell by half; 3 open tickets"
    assert r0.properties["churn_scored_at"] == "2025-03-03"
    assert r0.properties["churn_mrr_at_risk"] == pytest.approx(s0["mrr_at_risk"], abs=0.006)


def test_hash_ignores_the_dates_but_not_the_score() -> None:
    fields = HubSpotConfig().fields
    a = build_records(make_scores(4, AS_OF, seed=1), fields)
    b = build_records(make_scores(4, AS_OF + dt.timedelta(days=7), seed=1), fields)
    assert [r.payload_hash for r in a] == [r.payload_hash for r in b]  # only the as-of date differs
    moved = make_scores(4, AS_OF, seed=1)
    moved.loc[2, "churn_probability"] += 0.05
    c = build_records(moved, fields)
    assert [x.payload_hash == y.payload_hash for x, y in zip(a, c, strict=True)] == [True, True, False, True]
    last = {r.account_id: r.payload_hash for r in a}
    assert [r.account_id for r in select_changed(c, last)] == [c[2].account_id]
    assert len(select_changed(c, last, full=True)) == 4
    assert len(select_changed(c, {})) == 4  # never pushed: everything is new


def test_mapping_is_validated() -> None:
    with pytest.raises(ValidationError, match="unknown score field"):
        HubSpotConfig(fields={"x": "not_a_field"})
    with pytest.raises(ValidationError):
        HubSpotConfig(batch_size=101)  # HubSpot's limit
    with pytest.raises(ValidationError):
        SalesforceConfig(batch_size=201)
    with pytest.raises(ValueError, match="unknown CRM target"):
        CrmConfig().target_config("zendesk")


def test_chunk() -> None:
    recs = build_records(make_scores(7, AS_OF), HubSpotConfig().fields)
    assert [len(b) for b in chunk(recs, 3)] == [3, 3, 1]
    assert [r for b in chunk(recs, 3) for r in b] == recs


def test_signature() -> None:
    body = b'{"a":1}'
    sig = signature("k", "1700000000", body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify_signature("k", "1700000000", body, sig)
    assert not verify_signature("k", "1700000001", body, sig)  # timestamp is signed
    assert not verify_signature("other", "1700000000", body, sig)
    assert not verify_signature("k", "1700000000", body + b" ", sig)


def test_retry_after() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:05 GMT", now) == pytest.approx(5.0)


def test_response_parsing() -> None:
    from churnml.crm.payload import Batch

    recs = build_records(make_scores(3, AS_OF), HubSpotConfig().fields)
    batch = Batch("b", 0, recs)
    ids = [r.account_id for r in recs]
    got = hubspot_parse(batch, {"status": "COMPLETE", "results": [{}, {}], "errors": [
        {"category": "OBJECT_NOT_FOUND", "message": "gone", "context": {"ids": [ids[1]]}}]})
    assert got.acked == [ids[0], ids[2]] and got.rejected == {ids[1]: "OBJECT_NOT_FOUND: gone"}
    got = sf_parse(batch, [{"success": True}, {"success": True},
                           {"success": False, "errors": [{"statusCode": "X", "message": "m", "fields": ["F"]}]}])
    assert got.acked == ids[:2] and got.rejected == {ids[2]: "X: m (F)"}
    got = sf_parse(batch, [{"success": True}])  # wrong length: nothing is assumed delivered
    assert not got.acked and set(got.rejected) == set(ids)
