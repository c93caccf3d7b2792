"""Issue 19's "Must show" for the CSM page, in headless Chromium over a demo-like world (two weekly scorings):
names shown, band totals, search, CSV export of the view, biggest improvements, "my accounts", a "what changed"
that names the signals that moved, no context feature among the drivers, readable at 390 px wide.

Screenshots go to work/test-artifacts/csm_*.png; `bash docs/img/screenshots.sh` copies them into docs/img/.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pandas as pd

from churnml.features import FEATURES
from churnml.scoring.store import ScoreStore
from serving.signals import SHORT
from tests.support.browser import browser_page, screenshot
from tests.support.serving_server import running_server
from tests.support.serving_world import CSM_ID, CSM_KEY, ServingWorld

PHONE = {"width": 390, "height": 844}


def context_features() -> set[str]:
    """Features the catalog marks as context (renewal timing, contract, tenure...), however it marks them."""
    return {f.name for f in FEATURES if getattr(f, "context", False) is True
            or "context" in (getattr(f, "role", None), getattr(f, "kind", None))}


def _texts(page: Any, selector: str) -> list[str]:
    return page.locator(selector).all_inner_texts()


def _fits_the_width(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _mover(stored: pd.DataFrame) -> str:
    """The account whose risk moved most since the previous scoring (its page has the most to say)."""
    moved = stored[stored["change_points"].notna()]
    return str(moved.loc[moved["change_points"].abs().idxmax(), "account_id"])


def test_csm_page_must_show(serving_world: ServingWorld, no_tracking_env: None, tmp_path: Path) -> None:
    from serving.app import create_app

    store = ScoreStore.from_work_dir(serving_world.settings.work_dir)
    assert len(store.as_of_dates()) >= 2  # at least two scored weeks
    stored = store.read(store.as_of_dates()[-1])
    with running_server(create_app(serving_world.settings)) as url, browser_page() as page:
        page.goto(f"{url}/")
        assert "no model loaded" not in page.locator("#model").inner_text()  # the sign-in page too
        page.fill("input[name=key]", CSM_KEY)
        page.click("button[type=submit]")
        page.wait_for_selector("#accounts tbody tr")
        ready = page.request.get(f"{url}/readyz").json()
        assert ready["ready"] and page.locator("#model").inner_text() == f"model {ready['model']}"

        # names, not only ids; band counts add up to the accounts listed
        names = _texts(page, "#accounts tbody td[data-label=Account] a")
        assert names and set(names) <= set(stored["account_name"])
        assert set(_texts(page, "#accounts td.csm")) <= set(stored["csm_name"])
        counts = [int(t.replace(",", "")) for t in _texts(page, "#totals .count[data-band]")]
        assert sum(counts) == len(stored)
        screenshot(page, "csm_list", full_page=False)

        # search by a word of the names; export exactly that view
        word = names[0].split()[1]
        page.fill("input[name=q]", word)
        page.press("input[name=q]", "Enter")
        page.wait_for_url(re.compile(rf"q={word}"))
        found = _texts(page, "#accounts tbody td[data-label=Account] a")
        assert found and all(word.lower() in n.lower() for n in found)
        with page.expect_download() as download:
            page.click("#export")
        rows = list(csv.DictReader(download.value.path().open(encoding="utf-8")))
        want = stored[stored["account_name"].str.contains(word, case=False)]
        assert sorted(r["account_id"] for r in rows) == sorted(want["account_id"])
        assert {r["account_name"] for r in rows} == set(want["account_name"])

        # biggest improvements first, then my accounts
        page.goto(f"{url}/")
        page.click("#improvements")
        page.wait_for_url(re.compile(r"sort=change&order=asc"))
        first = page.locator("#accounts tbody td.change").first.inner_text()
        assert first.startswith("-"), first
        page.click("#my-accounts")
        page.wait_for_url(re.compile(r"mine=1"))
        csm_name = stored.loc[stored["csm_id"] == CSM_ID, "csm_name"].iloc[0]
        assert set(_texts(page, "#accounts td.csm")) == {csm_name}

        # the account page: history of two scorings, what changed naming a signal, drivers without context
        page.goto(f"{url}/accounts/{_mover(stored)}")
        page.wait_for_selector("#reasons li")
        assert page.locator("#history svg circle").count() >= 2
        assert page.locator("#changed .change").inner_text().startswith("risk ")
        moved = _texts(page, "#changed .moved li")
        assert moved and any(m.startswith(label) for m in moved for label in SHORT.values()), moved
        drivers = set(page.locator("#reasons li[data-feature]").evaluate_all("e => e.map(x => x.dataset.feature)"))
        assert drivers and not drivers & context_features()
        shown_context = page.locator("#context li[data-feature]").evaluate_all("e => e.map(x => x.dataset.feature)")
        assert not drivers & set(shown_context)
        shot = screenshot(page, "csm_account")
        assert shot.stat().st_size > 10_000

        # a phone: 390 px wide, nothing runs off the side
        assert page.locator("#drivers .wide-only svg").is_visible()
        page.set_viewport_size(PHONE)
        assert _fits_the_width(page)
        # the phone's drivers chart, words above bars at reading size, replaces the wide one
        assert page.locator("#drivers .phone-only svg").is_visible()
        assert not page.locator("#drivers .wide-only svg").is_visible()
        screenshot(page, "csm_account_phone")
        page.goto(f"{url}/")
        page.wait_for_selector("#accounts tbody tr")
        assert _fits_the_width(page)
        screenshot(page, "csm_list_phone", full_page=False)
