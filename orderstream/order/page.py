"""The order timeline as one HTML page: every step of every context, in time order, and below
it the order's status and saga steps as they happen (its event stream, GET /orders/{id}/stream)."""

from html import escape

from orderstream.runtime.codec import order_trace_id

OUTCOME = {"Failed": "bad", "Unavailable": "bad", "Insufficient": "bad", "Refused": "bad",
           "Rejected": "bad", "Cancelled": "warn", "Released": "warn", "Refunded": "warn",
           "Voided": "warn", "Compensation": "warn", "Retried": "warn"}
STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{padding:.35rem .6rem;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}th{background:#f4f4f4}
.ctx{font-weight:600;text-transform:capitalize}.bad{color:#b00020}.warn{color:#a15c00}
.ok{color:#1b5e20}small{color:#666}"""
LIVE = """<h2>Live</h2><p>Now: <b id=now>…</b></p><ol id=live></ol>
<script>
(() => {
  const list = document.getElementById('live'), now = document.getElementById('now');
  const url = location.pathname.replace(/\\/view$/, '/stream');
  const text = {status: d => `${d.at} ${d.status}` + (d.reason ? ` (${d.reason})` : ''),
                step: d => `step ${d.step} done`, compensation: d => `compensation ${d.compensation} done`};
  let last = '';
  function open() {
    const source = new EventSource(last ? `${url}?last_event_id=${encodeURIComponent(last)}` : url);
    for (const kind of Object.keys(text)) source.addEventListener(kind, e => {
      const d = JSON.parse(e.data), item = document.createElement('li');
      last = e.lastEventId;
      item.textContent = text[kind](d);
      item.className = d.reason ? 'bad' : kind === 'compensation' ? 'warn' : 'ok';
      list.append(item);
      if (kind === 'status') now.textContent = d.status;
    });
    source.addEventListener('end', e => { source.close(); now.textContent += ' (final)'; });
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) setTimeout(open, 3000); };
  }
  open();
})();
</script>"""
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
            f"compensation or retry. Trace id <code>{order_trace_id(order_id):032x}</code>.</p>"
            f"{body}{LIVE}</body></html>")
