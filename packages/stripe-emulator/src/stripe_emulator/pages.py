"""Hosted pages: Checkout, customer portal and invoices (development emulator pages)."""

from __future__ import annotations

from html import escape
from typing import Any

from .billing import money
from .state import EmulatorState, Obj

BANNER = (
    '<div class="banner">Stripe emulator &mdash; a development tool. No real payment is '
    "made and nothing is sent to Stripe.</div>"
)
STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.6rem;border-radius:6px;
margin-bottom:1rem}
.error{background:#fde2e1;border:1px solid #e57373;padding:.6rem;border-radius:6px}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}
label{display:block;margin:.5rem 0}input{padding:.4rem;width:100%;box-sizing:border-box}
button{padding:.5rem 1rem;margin:.4rem 0}.row{display:flex;gap:1rem}
.hint{color:#666;font-size:.9rem}
"""


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f" &middot; Stripe emulator</title><style>{STYLE}</style></head><body>{BANNER}"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def _price_text(price: Obj) -> str:
    rec = price.get("recurring") or {}
    every = f" / {rec['interval']}" if rec else ""
    if rec.get("usage_type") == "metered":
        return f"metered usage, billed in arrears{every}"
    if price.get("billing_scheme") == "tiered":
        return f"{price['tiers_mode']} tiers{every}"
    return f"{price['currency'].upper()} {price.get('unit_amount_decimal')} (minor units){every}"


def checkout_page(state: EmulatorState, s: Obj, error: str | None = None) -> str:
    if s["status"] != "open":
        return page("Checkout", f"<p>This checkout session is <b>{escape(s['status'])}</b>.</p>")
    rows = "".join(
        f"<tr><td>{escape(li['description'])}</td><td>{escape(_price_text(li['price']))}</td>"
        f"<td>{li['quantity'] if li['quantity'] is not None else ''}</td></tr>"
        for li in s["_line_items"]
    )
    due = money(int(s["amount_total"] or 0), s["currency"] or "usd")
    customer = state.get(s["customer"]) if s.get("customer") else None
    email = (customer or {}).get("email") or s.get("customer_email") or ""
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    cancel = (
        f'<p><a href="{escape(s["cancel_url"])}">Cancel and go back</a></p>'
        if s.get("cancel_url")
        else ""
    )
    body = f"""
<table><tr><th>Item</th><th>Price</th><th>Qty</th></tr>{rows}</table>
<p>Due today: <b>{escape(due)}</b></p>{err}
<form method="post" action="/checkout/pay/{escape(s["id"])}">
<label>Email <input name="email" type="email" value="{escape(email)}"></label>
<label>Name on card <input name="name" autocomplete="cc-name"></label>
<label>Card number <input name="card_number" inputmode="numeric" autocomplete="cc-number"
 placeholder="4242 4242 4242 4242" required></label>
<div class="row"><label>Expiry (MM/YY) <input name="expiry" placeholder="12/34" required></label>
<label>CVC <input name="cvc" inputmode="numeric" placeholder="123" required></label></div>
{_optional_fields(s)}
<button type="submit">{"Pay" if s["mode"] == "payment" else "Subscribe"}</button></form>
<p class="hint">Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0341 attaches but its
charges fail; 4000 0000 0000 9995 is declined; 4000 0027 6000 3184 requires authentication
for later off-session charges.</p>{cancel}"""
    return page("Checkout", body)


def _optional_fields(s: Obj) -> str:
    """The fields a session asks for: promotion code, billing country, tax ID."""
    out = ""
    if s.get("allow_promotion_codes"):
        out += '<label>Promotion code <input name="promotion_code"></label>'
    if s["automatic_tax"]["enabled"] or s.get("billing_address_collection") == "required":
        out += (
            '<label>Country of the billing address (two letters) <input name="country" '
            'maxlength="2" placeholder="US" required></label>'
        )
    if (s.get("tax_id_collection") or {}).get("enabled"):
        out += '<label>Tax ID (optional) <input name="tax_id"></label>'
    discount = (s.get("total_details") or {}).get("amount_discount") or 0
    if discount:
        out += f"<p>Discount: {escape(money(int(discount), s['currency'] or 'usd'))}</p>"
    return out


def portal_page(state: EmulatorState, session: Obj, customer: Obj, message: str | None) -> str:
    secret = escape(session["_secret"])
    subs = [s for s in state.of("subscription") if s["customer"] == customer["id"]]
    invoices = [i for i in state.of("invoice") if i["customer"] == customer["id"]]
    sub_rows = []
    for s in subs:
        end = s["items"]["data"][0]["current_period_end"]
        names = ", ".join(
            escape(str((state.get(i["price"]["product"]) or {}).get("name", i["price"]["id"])))
            for i in s["items"]["data"]
        )
        note = " (cancels at period end)" if s["cancel_at_period_end"] else ""
        actions = ""
        if s["status"] not in ("canceled", "incomplete_expired"):
            actions = (
                f'<form method="post" action="/portal/session/{secret}/cancel">'
                f'<input type="hidden" name="subscription" value="{escape(s["id"])}">'
                '<button name="mode" value="at_period_end">Cancel subscription</button> '
                '<button name="mode" value="now">Cancel now</button></form>'
            )
        sub_rows.append(
            f"<tr><td>{names}</td><td>{escape(s['status'])}{note}</td><td>{end}</td>"
            f"<td>{actions}</td></tr>"
        )
    inv_rows = "".join(
        f"<tr><td>{escape(i['number'] or i['id'])}</td>"
        f"<td>{escape(money(i['amount_due'], i['currency']))}</td><td>{escape(i['status'])}</td>"
        f'<td><a href="{escape(i["hosted_invoice_url"] or "")}">view</a></td></tr>'
        for i in invoices
    )
    pm = state.get(customer["invoice_settings"]["default_payment_method"] or "")
    card = f"{pm['card']['brand']} ending {pm['card']['last4']}" if pm else "none"
    msg = f'<p class="banner" role="status">{escape(message)}</p>' if message else ""
    back = (
        f'<p><a href="{escape(session["return_url"])}">Return</a></p>'
        if session.get("return_url")
        else ""
    )
    body = f"""{msg}<p>Customer: {escape(customer.get("email") or customer["id"])}</p>
<h2>Subscriptions</h2><table><tr><th>Plan</th><th>Status</th><th>Period end</th><th></th></tr>
{"".join(sub_rows)}</table>
<h2>Invoices</h2><table><tr><th>Number</th><th>Amount</th><th>Status</th><th></th></tr>
{inv_rows}</table>
<h2>Payment method</h2><p>Default card: {escape(card)}</p>
<form method="post" action="/portal/session/{secret}/card">
<label>Card number <input name="card_number" required></label>
<div class="row"><label>Expiry (MM/YY) <input name="expiry" required></label>
<label>CVC <input name="cvc" required></label></div>
<button type="submit">Update card</button></form>{back}"""
    return page("Billing portal", body)


def invoice_page(inv: Obj) -> str:
    rows = "".join(
        f"<tr><td>{escape(li['description'])}</td><td>{escape(li['quantity_decimal'])}</td>"
        f"<td>{escape(money(li['amount'], li['currency']))}</td></tr>"
        for li in inv["lines"]["data"]
    )
    body = f"""<p>Invoice {escape(inv["number"] or inv["id"])}: <b>{escape(inv["status"])}</b></p>
<table><tr><th>Line</th><th>Quantity</th><th>Amount</th></tr>{rows}</table>
<p>Total: {escape(money(inv["total"], inv["currency"]))}</p>"""
    return page("Invoice", body)


def parse_expiry(text: str) -> tuple[int, int] | None:
    parts = text.replace(" ", "").split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    month, year = int(parts[0]), int(parts[1])
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        return None
    return month, year


def form_value(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _table(head: tuple[str, ...], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="hint">{escape(empty)}</p>'
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{cells}</tr>{''.join(rows)}</table>"


def index_page(state: EmulatorState, pending: list[Obj], message: str | None) -> str:
    """The emulator's home: what it serves, where its pages are, what it holds now."""
    masked = {k[:12] + "…" + k[-4:]: v["type"] for k, v in state.keys.items() if not v.get("added")}
    keys = ", ".join(f"{escape(t)} <code>{escape(k)}</code>" for k, t in masked.items())
    counts: dict[str, int] = {}
    for obj in state.objects.values():
        kind = str(obj.get("object"))
        counts[kind] = counts.get(kind, 0) + 1
    count_rows = [f"<tr><td>{escape(k)}</td><td>{n}</td></tr>" for k, n in sorted(counts.items())]
    sessions = [
        f'<tr><td><a href="/checkout/pay/{escape(s["id"])}">{escape(s["id"][:24])}…</a></td>'
        f"<td>{escape(s['mode'])}</td><td>{escape(str(s.get('customer') or ''))}</td></tr>"
        for s in state.of("checkout.session")
        if s["status"] == "open"
    ]
    subs = [
        f"<tr><td>{escape(s['id'])}</td><td>{escape(s['customer'])}</td>"
        f"<td>{escape(s['status'])}</td></tr>"
        for s in state.of("subscription")[:20]
    ]
    invoices = [
        f"<tr><td>{escape(i['number'] or i['id'])}</td><td>{escape(i['status'])}</td>"
        f"<td>{escape(money(i['amount_due'], i['currency']))}</td>"
        f'<td><a href="/invoice/{escape(i["id"])}">view</a></td></tr>'
        for i in state.of("invoice")[:20]
    ]
    portal = any(c["is_default"] for c in state.of("billing_portal.configuration"))
    portal_text = (
        "saved: portal sessions use the default configuration."
        if portal
        else "not saved yet: <code>billing_portal.sessions.create</code> fails without a "
        "<code>configuration</code>, as in Stripe test mode."
    )
    msg = f'<p class="banner" role="status">{escape(message)}</p>' if message else ""
    body = f"""{msg}
<p>Account <code>{escape(state.account_id)}</code>. Point the official SDK at this address:
<code>StripeClient(key, base_addresses={{"api": "http://this-host:port"}})</code>.
Keys: {keys}.</p>
<h2>Hosted pages</h2>
<p>Checkout (<code>checkout.session.url</code> → <code>/checkout/pay/…</code>), the customer
portal (<code>billing_portal.session.url</code> → <code>/portal/session/…</code>) and hosted
invoices (<code>/invoice/…</code>).</p>
{_table(("Open Checkout Session", "Mode", "Customer"), sessions, "No open Checkout Session.")}
<h2>Customer portal settings</h2>
<p>Default configuration {portal_text}</p>
<form method="post" action="/_emulator/portal_configuration">
<button type="submit">Save customer portal settings</button></form>
<h2>Subscriptions</h2>
{_table(("Subscription", "Customer", "Status"), subs, "No subscription.")}
<h2>Invoices</h2>
{_table(("Invoice", "Status", "Amount due", ""), invoices, "No invoice.")}
<h2>Objects</h2>
{_table(("Type", "Count"), count_rows, "Nothing yet.")}
<p>Meter events received: {len(state.meter_events)}. Webhook deliveries pending:
{len(pending)}.</p>
<h2>Test endpoints (JSON)</h2>
<ul>
<li><a href="/_emulator/webhooks">GET /_emulator/webhooks</a>: pending deliveries, last
attempts</li>
<li><a href="/_emulator/keys">GET /_emulator/keys</a>, <code>POST /_emulator/keys</code>:
keys, restricted keys</li>
<li><a href="/_emulator/settings">GET /_emulator/settings</a>: switches</li>
<li><code>POST /_emulator/webhooks/deliver</code>, <code>POST /_emulator/time</code>,
<code>POST /_emulator/reset</code></li>
<li><a href="/_emulator/health">GET /_emulator/health</a></li>
</ul>"""
    return page("Stripe emulator", body)
