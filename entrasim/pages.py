"""The few HTML pages of the simulated sign-in: pick a person, errors, signed out, form_post.

Every value that reaches a page is escaped: display names in a generated tenant are hostile on
purpose (see generate.HOSTILE_NAMES).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from .tenant import DemoPerson

# How many people the picker lists; a large tenant's others sign in through login_hint or a
# POST with their user_id.
PICKER_LIMIT = 200

_STYLE = """
body{font-family:"Segoe UI",system-ui,sans-serif;background:#f2f2f2;margin:0;color:#1b1b1b}
main{max-width:30rem;margin:3rem auto;background:#fff;padding:2rem 2.5rem;
box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:1.5rem;font-weight:600;margin:0 0 .5rem}
.sim{font-size:.8rem;color:#605e5c;text-transform:uppercase;letter-spacing:.05em}
ul{list-style:none;padding:0;margin:1rem 0}
li{margin:.4rem 0}
button.person{display:block;width:100%;text-align:left;padding:.6rem .8rem;border:1px solid #8a8886;
background:#fff;cursor:pointer;font:inherit;overflow-wrap:anywhere}
button.person:hover,button.person:focus{background:#f3f2f1;border-color:#0067b8}
button.person.hinted{border:2px solid #0067b8}
.name{font-weight:600;display:block}.upn{color:#605e5c;display:block;font-size:.9rem}
.role{display:inline-block;font-size:.75rem;background:#0067b8;color:#fff;padding:0 .4rem;
margin-top:.2rem}
.error{border-left:4px solid #a80000;padding-left:1rem}
code{overflow-wrap:anywhere}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="none">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><main><p class="sim">Entra ID simulator</p>{body}</main></body></html>\n'
    )


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )


def picker_page(
    *,
    tenant_name: str,
    app_name: str,
    action: str,
    request_fields: Mapping[str, str],
    people: Iterable[DemoPerson],
    hinted_user_id: str | None,
    notice: str = "",
) -> str:
    """The sign-in page: one submit button per person (name="user_id", value=object id) inside
    a POST form whose hidden fields carry the authorization request."""
    listed = list(people)
    if hinted_user_id:
        # The login_hint's person comes first and has the focus.
        listed.sort(key=lambda p: p.user_id != hinted_user_id)
    shown, hidden_count = listed[:PICKER_LIMIT], max(0, len(listed) - PICKER_LIMIT)
    items = []
    for person in shown:
        hinted = person.user_id == hinted_user_id
        roles = "".join(f' <span class="role">{escape(r)}</span>' for r in person.roles)
        items.append(
            f'<li><button type="submit" class="person{" hinted" if hinted else ""}" '
            f'name="user_id" value="{escape(person.user_id)}"{" autofocus" if hinted else ""}>'
            f'<span class="name">{escape(person.display_name)}</span>'
            f'<span class="upn">{escape(person.upn)}</span>{roles}</button></li>'
        )
    more = (
        f"<p>{hidden_count} more people are not listed: sign in with their user principal name "
        "as <code>login_hint</code>.</p>"
        if hidden_count
        else ""
    )
    notice_html = f'<p class="error">{escape(notice)}</p>' if notice else ""
    title = f"Sign in to {tenant_name} (simulated)"
    body = (
        f"<h1>{escape(title)}</h1>"
        f"<p>to continue to <strong>{escape(app_name)}</strong>. Pick a person: no password is "
        "asked.</p>"
        f"{notice_html}"
        f'<form method="post" action="{escape(action)}">{_hidden(request_fields)}'
        f'<ul class="people">{"".join(items)}</ul></form>{more}'
    )
    return _page(title, body)


def error_page(*, code: int, error: str, message: str, trace_id: str, correlation_id: str) -> str:
    """An error Entra shows on its own page instead of redirecting (bad client, reply URL…)."""
    body = (
        "<h1>Sorry, but we&rsquo;re having trouble signing you in.</h1>"
        f'<div class="error"><p id="error-message">AADSTS{code}: {escape(message)}</p>'
        f'<p>Error: <code id="error-code">{escape(error)}</code></p>'
        f"<p>Trace ID: {escape(trace_id)}<br>Correlation ID: {escape(correlation_id)}</p></div>"
    )
    return _page(f"Sign in (simulated): AADSTS{code}", body)


def signed_out_page(tenant_name: str) -> str:
    body = (
        "<h1>You are signed out</h1>"
        f"<p>You signed out of your account in {escape(tenant_name)} (simulated). "
        "It&rsquo;s a good idea to close all browser windows.</p>"
    )
    return _page("You are signed out (simulated)", body)


def form_post_page(redirect_uri: str, values: Mapping[str, str]) -> str:
    """response_mode=form_post: a form that posts the answer to the redirect URI by itself."""
    body = (
        "<h1>Signing you in…</h1>"
        f'<form method="post" action="{escape(redirect_uri)}">{_hidden(values)}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.forms[0].submit()</script>"
    )
    return _page("Working… (simulated)", body)
