"""``audit query --report --html FILE``: the report as one page a privacy officer reads.

One self-contained HTML file: inline CSS, an inline SVG chart, no script, no external asset
(it opens offline, from an e-mail or an archive). It shows what ``report`` found: which
providers and routes received the requests, under which catalog version and data policy; the
refusals and their reasons; requests per day. The user is named by their audit pseudonym
only; request ids, raw user ids and content never appear (the audit log holds no content).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any, Final

_REFUSALS: Final = {
    "PolicyViolation": "refused by the privacy policy",
    "BackendsUnconfigured": "no route configured on the server",
    "UnknownModel": "unknown model",
    "UnknownProvider": "unknown provider",
    "InvalidRequest": "request outside the accepted surface",
    "InvalidPreferences": "invalid privacy preferences",
    "IdentifierInRequest": "user identifier where it cannot be removed",
    "StoreUnavailable": "preferences could not be read",
    "StoredPreferencesInvalid": "stored preferences unreadable",
}

_STYLE: Final = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;
margin:0;background:#f6f7f9}
main{max-width:960px;margin:0 auto;padding:28px 32px;background:#fff;min-height:100vh}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5a6472;margin:0 0 18px}
.facts{display:flex;gap:14px;flex-wrap:wrap;margin:0;padding:0;list-style:none}
.facts li{background:#eef2f7;border-radius:6px;padding:8px 14px}
.facts b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
.nw{white-space:nowrap}.no{color:#1b7a3a}.yes{color:#b3261e}
footer{margin-top:28px;color:#5a6472;font-size:13px}
svg text{font:11px system-ui,sans-serif;fill:#5a6472}
"""


def render(found: dict[str, Any], subject: str | None) -> str:
    """The page for ``found`` (``report``'s result with the query's period); ``subject`` is
    the user's audit pseudonym, or None for every user."""
    who = _short(subject) if subject else "all users"
    period = f"{_day(found.get('since') or found.get('first_record'))} to " + _day(
        found.get("until") or found.get("last_record")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>Where the requests of {escape(who)} went</title>",
        f"<style>{_STYLE}</style></head><body><main>",
        f"<h1>Where the requests of {escape(who)} went</h1>",
        f'<p class="sub">{escape(period)} &middot; catalog versions: '
        f"{escape(', '.join(found['catalog_versions']) or 'none')}</p>",
        _facts(found),
        "<h2>Requests per day</h2>",
        _chart(found.get("per_day", {})),
        "<h2>Providers and routes that received them</h2>",
        _routes(found["routes"]),
        "<h2>Refusals</h2>",
        _refusals(found.get("refusals", [])),
        "<footer>The audit log records no message content, so none is reported. Users appear "
        "by their audit pseudonym only. Data policies are those the named catalog version "
        f"states. Generated {escape(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))} by "
        "policy-router.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _short(pseudonym: str) -> str:
    return pseudonym if len(pseudonym) <= 20 else pseudonym[:20] + "…"


def _day(ts: object) -> str:
    return str(ts)[:10] if ts else "-"


def _facts(found: dict[str, Any]) -> str:
    attempts = sum(row["attempts"] for row in found["routes"])
    requests = sum(sum(day.values()) for day in found.get("per_day", {}).values())
    facts = (
        ("requests", requests),
        ("refused", found["requests_refused"]),
        ("attempts sent", attempts),
        ("providers", len(found["providers"])),
    )
    items = "".join(f"<li><b>{n}</b>{escape(label)}</li>" for label, n in facts)
    return f'<ul class="facts">{items}</ul>'


def _routes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No request was sent to any provider.</p>"
    head = (
        "<tr><th>provider</th><th>model</th><th>catalog version</th><th>attempts</th>"
        "<th>retention</th><th>flagged content</th><th>trains on API data</th>"
        "<th>user identifier</th><th>first &ndash; last</th></tr>"
    )
    body = "".join(_route(row) for row in rows)
    return f"<table>{head}{body}</table>"


def _route(row: dict[str, Any]) -> str:
    policy = row["policy"]
    if policy is None:
        terms = '<td colspan="4">catalog version not available here</td>'
    else:
        trains = policy["trains_on_api_data"]
        mark = "yes" if trains else "no"
        stated = "" if policy["training_stated"] else " (not stated)"
        terms = (
            f"<td>{escape(policy['retention'])}</td><td>{escape(policy['flagged_retention'])}</td>"
            f'<td class="{mark}">{mark}{stated}</td><td>{escape(policy["user_identifier"])}</td>'
        )
    offline = f" ({row['offline_attempts']} offline)" if row["offline_attempts"] else ""
    cells = (
        f"<td>{escape(row['provider_name'] or row['provider'])}</td>"
        f'<td>{escape(row["model"])}</td><td class="nw">{escape(row["catalog_version"])}</td>'
        f"<td>{row['attempts']}{offline}</td>{terms}"
        f'<td class="nw">{_day(row["first"])} &ndash; {_day(row["last"])}</td>'
    )
    return f"<tr>{cells}</tr>"


def _refusals(refusals: list[dict[str, Any]]) -> str:
    if not refusals:
        return "<p>No request was refused.</p>"
    rows = []
    for refusal in refusals:
        kind = _REFUSALS.get(refusal["reason"], refusal["reason"])
        why = "".join(
            f"<li>{escape(reason)} ({count})</li>"
            for reason, count in refusal["rejection_reasons"].items()
        )
        rows.append(
            f"<tr><td>{escape(kind)}</td><td>{refusal['count']}</td>"
            f"<td>{f'<ul>{why}</ul>' if why else '&ndash;'}</td></tr>"
        )
    head = "<tr><th>refused as</th><th>requests</th><th>why routes were rejected</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _chart(per_day: dict[str, dict[str, int]]) -> str:
    """Stacked bars per day: requests sent to a provider (blue) and refused (orange)."""
    if not per_day:
        return "<p>No request in this period.</p>"
    width, height, left, bottom = 880, 180, 36, 24
    days = list(per_day)
    top = max(sum(c.values()) for c in per_day.values()) or 1
    step = (width - left) / len(days)
    bar = max(2.0, min(40.0, step * 0.7))
    scale = (height - bottom - 10) / top
    shapes = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#c9ced6"/>',
        f'<text x="{left - 6}" y="14" text-anchor="end">{top}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    for i, day in enumerate(days):
        x = left + i * step + (step - bar) / 2
        base = float(height - bottom)
        for kind, colour in (("sent", "#3d6fd8"), ("refused", "#e8772e")):
            h = per_day[day].get(kind, 0) * scale
            if h:
                shapes.append(
                    f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{escape(day)}: {per_day[day].get(kind, 0)} '
                    f"{kind}</title></rect>"
                )
                base -= h
        if i in (0, len(days) - 1) or len(days) <= 12:
            shapes.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{escape(day[5:])}</text>"
            )
    legend = (
        '<p class="sub"><span style="color:#3d6fd8">&#9632;</span> sent to a provider &nbsp; '
        '<span style="color:#e8772e">&#9632;</span> refused</p>'
    )
    return (
        f'<svg role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-label="requests per day">{"".join(shapes)}</svg>{legend}'
    )
