"""The CSM web page: server-rendered Jinja2 templates over the same store and views as the API.

With keys configured, every page needs a session: /login takes an API key (checked like the header), sets a
random session token as an HttpOnly, SameSite=Strict cookie and never stores the key. Without a session
the pages redirect to /login. The state-changing forms (POST /login, /logout, /accounts/{id}/plays) are
refused with 403 when the browser says they come from another site: an `Origin` (or, without one, a
`Referer`) that is neither the
served host nor in `serving.trusted_origins` (login CSRF: a foreign page signing the CSM in to its own key).
"""

from __future__ import annotations

import csv
import io
import urllib.parse
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from churnml.scoring.explain import THEMES
from serving.auth import Principal
from serving.charts import driver_bars, drivers_svg, drivers_svg_stacked, history_svg, sparkline_svg
from serving.deps import State, principal_for
from serving.plays import PlayRefused, open_alerts, play_for_form, record, routed, valid_plays
from serving.schemas import SortKey
from serving.signals import signal_changes, signal_trends
from serving.store import Filters
from serving.views import account_row, account_score, history_point, theme_trends, theme_view

COOKIE = "churnml_session"
PAGE_SIZE = 50
templates = Jinja2Templates(directory=str(FsPath(__file__).resolve().parents[1] / "templates"))
router = APIRouter(include_in_schema=False)


#: Pages load only their own script and stylesheet; nothing may frame them (clickjacking on the login form).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=SECURITY_HEADERS)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def page_principal(request: Request, state: State) -> Principal:
    from serving.auth import ANONYMOUS

    if not state.keys.enabled:
        return ANONYMOUS
    who = state.sessions.get(request.cookies.get(COOKIE))
    if who is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return who


Viewer = Annotated[Principal, Depends(page_principal)]


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


def _common(state: Any, who: Principal | None) -> dict[str, Any]:
    """What every page's header shows: the served model (the one /readyz reports), who is signed in, and why
    a model failed to load. Every page passes it, the sign-in page too: a page without it read as "no model"."""
    served = state.holder.current
    return {"model": served.label if served else None, "who": who, "auth": state.keys.enabled,
            "load_error": state.holder.last_error.message if state.holder.last_error else None}


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: State, next: str | None = None) -> Response:
    return _page(request, "login.html", {**_common(state, None), "next": _safe_next(next), "error": None})


def foreign_origin(request: Request, trusted: list[str]) -> str | None:
    """The foreign origin a form post comes from, or None when it is this site's (or the browser sent neither
    `Origin` nor `Referer`, as non-browser clients do; browsers send `Origin` with every cross-site POST)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return None
    parts = urllib.parse.urlsplit(claimed)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else claimed  # "null" stays
    host = request.headers.get("host", "")
    if parts.netloc and parts.netloc.lower() == host.lower():
        return None
    return None if origin.rstrip("/").lower() in {t.rstrip("/").lower() for t in trusted} else origin


def _cross_site(request: Request, state: Any) -> Response | None:
    origin = foreign_origin(request, state.settings.serving.trusted_origins)
    if origin is None:
        return None
    return Response(f"refused: this form was posted from {origin[:80]}, not from this site",
                    status_code=403, media_type="text/plain", headers=SECURITY_HEADERS)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, state: State) -> Response:
    refused = _cross_site(request, state)
    if refused is not None:
        return refused
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    who = await principal_for(state, key) if key else None
    if who is None or not state.keys.enabled:
        return _page(request, "login.html", {**_common(state, None), "next": target,
                                             "error": "That key is not valid."}, status_code=401)
    resp = RedirectResponse(target, status_code=303)
    cfg = state.settings.serving
    resp.set_cookie(COOKIE, state.sessions.create(who), httponly=True, samesite="strict",
                    secure=cfg.cookie_secure, max_age=int(cfg.session_hours * 3600))
    return resp


@router.post("/logout")
def logout(request: Request, state: State) -> Response:
    refused = _cross_site(request, state)
    if refused is not None:
        return refused
    state.sessions.drop(request.cookies.get(COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


Order = Literal["desc", "asc"]
Search = Annotated[str | None, Query(max_length=128)]
#: The band filter; "" is the form's "all".
BandOrAll = Literal["low", "medium", "high", ""]

#: Columns of the CSV export, in order (the list's columns, unformatted, plus the change in words).
EXPORT_COLUMNS = ("account_id", "account_name", "csm_id", "csm_name", "segment", "churn_probability", "risk_band",
                  "arr", "mrr", "mrr_at_risk", "renewal_date", "change_points", "change_text", "top_reason", "as_of")
EXPORT_MAX = 100_000


@dataclass(frozen=True)
class View:
    """One view of the list, as the query string gives it: what is filtered, how it is sorted."""

    filters: Filters
    sort: SortKey
    descending: bool
    params: dict[str, str]
    mine: bool
    mine_refused: bool  # "my accounts" asked for by a key tied to no CSM


def list_view(who: Principal, band: BandOrAll | None, segment: str | None, csm: str | None, q: str | None,
              mine: bool, sort: SortKey, order: Order) -> View:
    """The filters and sort of a list request; "my accounts" filters on the CSM id the key or session holds."""
    band, segment, csm, q = band or None, segment or None, csm or None, (q or "").strip() or None
    refused = mine and not who.csm_id
    mine = mine and not refused
    params = {k: v for k, v in {"band": band, "segment": segment, "csm": None if mine else csm, "q": q,
                                "mine": "1" if mine else None, "sort": sort, "order": order}.items() if v}
    return View(Filters(band, segment, who.csm_id if mine else csm, q), sort, order == "desc", params, mine, refused)


@router.get("/", response_class=HTMLResponse)
def account_list(
    request: Request, state: State, who: Viewer,
    band: BandOrAll | None = None, segment: Search = None, csm: Search = None, q: Search = None, mine: bool = False,
    sort: SortKey = "risk", order: Order = "desc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    view = list_view(who, band, segment, csm, q, mine, sort, order)
    got = state.store.page(view.filters, sort, view.descending, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    bands = state.store.band_totals(view.filters)

    def url(path: str = "/", **over: Any) -> str:
        q = {**view.params, **over}
        return path + "?" + urllib.parse.urlencode({k: v for k, v in q.items() if v not in (None, "")})

    def sort_url(key: str) -> str:
        """Sorting by a column: largest first; the sorted column's link flips the direction."""
        flip = "asc" if sort == key and view.descending else "desc"
        return url(sort=key, order=flip, page=None)

    return _page(request, "list.html", {
        **_common(state, who), "rows": [account_row(r) for r in got.rows], "as_of": got.as_of, "total": got.total,
        "band": view.filters.band, "segment": view.filters.segment, "csm": view.filters.csm, "q": view.filters.query,
        "sort": sort, "descending": view.descending, "page": page, "mine": view.mine,
        "mine_refused": view.mine_refused, "pages": max(1, -(-got.total // PAGE_SIZE)),
        "facets": state.store.facets(), "url": url, "sort_url": sort_url, "bands": bands,
        "totals": {"accounts": sum(b.accounts for b in bands), "arr": 12 * sum(b.mrr for b in bands),
                   "mrr_at_risk": sum(b.mrr_at_risk for b in bands)},
        "export_url": url("/export.csv", page=None),
    })


@router.get("/export.csv")
def export_csv(
    request: Request, state: State, who: Viewer,
    band: BandOrAll | None = None, segment: Search = None, csm: Search = None, q: Search = None, mine: bool = False,
    sort: SortKey = "risk", order: Order = "desc",
) -> Response:
    """The list as it is shown (same filters, search and sort), every page, as CSV for a spreadsheet."""
    view = list_view(who, band, segment, csm, q, mine, sort, order)
    got = state.store.page(view.filters, sort, view.descending, EXPORT_MAX, 0)
    if got.total > EXPORT_MAX:
        return Response(f"this view has {got.total:,} accounts; an export holds at most {EXPORT_MAX:,}: narrow it "
                        "with a band, segment, CSM or search", status_code=413, media_type="text/plain",
                        headers=SECURITY_HEADERS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for raw in got.rows:
        row = account_row(raw).model_dump()
        writer.writerow(["" if row.get(c) is None else row[c] for c in EXPORT_COLUMNS])
    name = f"churnml-accounts-{got.as_of or 'none'}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, state: State, who: Viewer, account_id: str,
                 done: Annotated[str | None, Query(max_length=128)] = None) -> Response:
    """The account; `?done=<play>` (where "Play done" redirects to) confirms the play just recorded."""
    confirmed = done if done in valid_plays(state.settings) else None
    return _account(request, state, who, account_id, {"done": confirmed})


@router.post("/accounts/{account_id}/plays")
async def play_done(request: Request, state: State, who: Viewer, account_id: str) -> Response:
    """"Play done": records the play (as `POST /v1/accounts/{id}/interventions` does) and redirects back to the
    account with a confirmation; refused like the login form when posted from another site, with 403 for a
    read-only session, and the page again saying why for anything else the log refuses."""
    refused = _cross_site(request, state)
    if refused is not None:
        return refused
    if not who.can_write():
        return _account(request, state, who, account_id, {"play_error": "Your key is read-only: recording a "
                        "play needs a key with role 'write'."}, status_code=403)
    fields = play_for_form(urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace")))
    try:
        await run_in_threadpool(record, state.settings, state.store, account_id, fields["play"],
                                csm_id=who.csm_id, outcome=fields["outcome"])
    except PlayRefused as exc:
        return _account(request, state, who, account_id, {"play_error": exc.detail}, status_code=exc.status)
    target = f"/accounts/{urllib.parse.quote(account_id, safe='')}?{urllib.parse.urlencode({'done': fields['play']})}"
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def _account(request: Request, state: Any, who: Principal, account_id: str, extra: dict[str, Any],
             status_code: int = 200) -> Response:
    """The account page (`extra`: the play confirmation or error), or the missing page (404)."""
    rows = state.store.history(account_id)
    if not rows:
        return _page(request, "missing.html", {**_common(state, who), "account_id": account_id},
                                          status_code=404)
    latest = account_score(rows[-1])
    history = [history_point(r) for r in rows]
    bands = state.store.latest_cut(state.settings.scoring.bands)
    signals, signals_unit = theme_trends(history, THEMES)
    for s in signals:
        s["svg"] = sparkline_svg(s["values"])
    previous = rows[-2] if len(rows) > 1 else None
    chart = driver_bars(latest.risk_drivers, latest.protective_factors)
    return _page(request, "account.html", {
        **_common(state, who), "a": latest, "history": history,
        "drivers_svg": drivers_svg(chart.bars, unit=chart.unit), "chart_unit": chart.unit,
        "drivers_phone_svg": drivers_svg_stacked(chart.bars, unit=chart.unit),
        "history_svg": history_svg([(h.as_of, h.churn_probability) for h in history], (bands.medium, bands.high)),
        "signals": signals, "signals_unit": signals_unit,
        "key_signals": signal_trends(rows),
        "moved": signal_changes(previous, rows[-1]),
        **theme_view(latest),
        "alerts": routed(open_alerts(state.settings, account_id)), "plays": valid_plays(state.settings),
        "can_write": who.can_write(), "done": None, "play_error": None, **extra,
    }, status_code=status_code)
