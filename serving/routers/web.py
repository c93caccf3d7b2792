"""The CSM web page: server-rendered Jinja2 templates over the same store and views as the API.

With keys configured, every page needs a session: /login takes an API key (checked like the header), sets a
random session token as an HttpOnly, SameSite=Strict cookie and never stores the key. Without a session
the pages redirect to /login. The state-changing forms (POST /login, /logout) are refused with 403 when the
browser says they come from another site: an `Origin` (or, without one, a `Referer`) that is neither the
served host nor in `serving.trusted_origins` (login CSRF: a foreign page signing the CSM in to its own key).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from churnml.features.catalog import BY_NAME
from churnml.features.units import format_value
from churnml.scoring.explain import THEMES
from churnml.scoring.table import KEY_SIGNALS
from serving.auth import Principal
from serving.charts import drivers_svg, history_svg, sparkline_svg
from serving.deps import State, principal_for
from serving.schemas import Band, SortKey
from serving.store import Filters
from serving.views import account_row, account_score, history_point

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


def _common(state: Any, who: Principal) -> dict[str, Any]:
    served = state.holder.current
    return {"model": served.label if served else None, "who": who, "auth": state.keys.enabled,
            "load_error": state.holder.last_error.message if state.holder.last_error else None}


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _page(request, "login.html", {"next": _safe_next(next), "error": None})


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
        return _page(request, "login.html", {"next": target, "error": "That key is not valid."},
                                          status_code=401)
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


@router.get("/", response_class=HTMLResponse)
def account_list(
    request: Request, state: State, who: Viewer,
    band: Band | None = None,
    segment: Annotated[str | None, Query(max_length=128)] = None,
    csm: Annotated[str | None, Query(max_length=128)] = None,
    sort: SortKey = "risk",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    segment, csm = segment or None, csm or None
    got = state.store.page(Filters(band, segment, csm), sort, True, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    params = {k: v for k, v in {"band": band, "segment": segment, "csm": csm}.items() if v}

    def url(**over: Any) -> str:
        q = {**params, "sort": sort, **over}
        return "/?" + urllib.parse.urlencode({k: v for k, v in q.items() if v not in (None, "")})

    return _page(request, "list.html", {
        **_common(state, who), "rows": [account_row(r) for r in got.rows], "as_of": got.as_of, "total": got.total,
        "band": band, "segment": segment, "csm": csm, "sort": sort, "page": page,
        "pages": max(1, -(-got.total // PAGE_SIZE)), "facets": state.store.facets(), "url": url,
    })


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, state: State, who: Viewer, account_id: str) -> Response:
    rows = state.store.history(account_id)
    if not rows:
        return _page(request, "missing.html", {**_common(state, who), "account_id": account_id},
                                          status_code=404)
    latest = account_score(rows[-1])
    history = [history_point(r) for r in rows]
    bands = state.settings.scoring.bands
    themes = [t for t in THEMES if any(t in h.theme_contributions for h in history)]
    signals = [{"theme": t, "values": [h.theme_contributions.get(t, 0.0) for h in history]} for t in themes]
    for s in signals:
        s["svg"] = sparkline_svg(s["values"])
    key_signals = signal_trends(rows)
    return _page(request, "account.html", {
        **_common(state, who), "a": latest, "history": history,
        "drivers_svg": drivers_svg(latest.risk_drivers, latest.protective_factors),
        "history_svg": history_svg([(h.as_of, h.churn_probability) for h in history], (bands.medium, bands.high)),
        "signals": signals,
        "key_signals": key_signals,
    })


def _shown(value: float | None, unit: str) -> str:
    """A signal's latest value in its catalog unit (the one unit format, `churnml.features.units`)."""
    return format_value(value, unit)


def signal_trends(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The key signals stored with each scoring (`churnml.scoring.table.KEY_SIGNALS`), oldest first, as sparklines
    with the registry's description and the latest value; scorings from before signals were stored count as
    not recorded."""
    per_row = [json.loads(r["signals"]) if r.get("signals") else {} for r in rows]
    out = []
    for name in KEY_SIGNALS:
        values = [p.get(name) for p in per_row]
        if all(v is None for v in values):
            continue
        spec = BY_NAME.get(name)
        unit = spec.unit if spec else ""
        out.append({
            "name": name, "label": spec.description if spec else name,
            "svg": sparkline_svg([float("nan") if v is None else float(v) for v in values], neutral=True),
            "latest": _shown(values[-1], unit),
        })
    return out
