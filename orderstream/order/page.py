"""The order timeline as one HTML page: every step of every context, in time order."""

from html import escape

OUTCOME = {"Failed": "bad", "Unavailable": "bad", "Insufficient": "bad", "Refused": "bad",
           "Rejected": "bad", "Cancelled": "warn", "Released": "warn", "Refunded": "warn",
           "Voided": "warn", "Compensation": "warn", "Retried": "warn"}
STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{padding:.35rem .6rem;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}th{background:#f4f4f4}
.ctx{font-weight:600;text-transform:capitalize}.bad{color:#b00020}.warn{color:#a15c00}
.ok{color:#1b5e20}small{color:#666}"""
SKIP = {"type", "message_id", "correlation_id", "causation_id", "occurred_at", "context"}


def outcome(kind: str) -> str:
    return next((css for word, css in OUTCOME.items() if word in kind), "ok")


def details(event: dict) -> str:
    pairs = [f"{k}={v}" for k, v in event.items() if k not in SKIP and v not in (None, "", [], {})
             and k not in ("items", "address", "shipping_address", "lines")]
    return escape(", ".join(pairs)[:300])


def render(order_id: str, events: list[dict]) -> str:
    rows = "".join(
        f"<tr><td><small>{escape(e['occurred_at'])}</small></td><td class=ctx>{escape(e['context'])}</td>"
        f"<td class={outcome(e['type'])}>{escape(e['type'])}</td><td>{details(e)}</td></tr>"
        for e in events)
    body = (f"<table><tr><th>time</th><th>context</th><th>what happened</th><th>details</th></tr>"
            f"{rows}</table>") if events else "<p>No events for this order (yet).</p>"
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Order {escape(order_id)}</title>"
            f"<style>{STYLE}</style></head><body><h1>Order {escape(order_id)}</h1>"
            f"<p>{len(events)} events across contexts, oldest first. Red: a failure; amber: a "
            f"compensation or retry.</p>{body}</body></html>")
