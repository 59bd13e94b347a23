"""A context's HTTP façade on Faust web views: JSON errors, auth, body limits, OpenAPI.

Handlers are plain `async def handler(request, **path) -> (status, body)` functions registered
with `api.get/post`; a handler raises `ApiError` for anything a client got wrong. Reads of an
aggregate are served by the worker that owns its key (`table=`), whichever replica is asked.
"""

import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import ClientError, ClientTimeout, web
from yarl import URL
from faust.web import Request, Response, View
from pydantic import BaseModel, ConfigDict, ValidationError

from orderstream.contracts.envelope import derived_id

log = logging.getLogger(__name__)

ROUTED = "X-Orderstream-Routed"  # a request routed once is answered where it lands
Handler = Callable[..., Awaitable[tuple[int, Any]]]


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Html(str):
    """A handler's body that is a page, not JSON."""


class EventStream:
    """A handler's body that is a stream of Server-Sent Events: an async iterator of
    (id, event, data) entries, data as JSON, or None for a keep-alive comment. It is written as
    it comes, until the iterator ends or the client goes away."""

    RETRY_MS = 2000  # how long a disconnected EventSource waits before it reconnects
    HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}  # no buffering proxy (nginx) between the events

    def __init__(self, entries: AsyncIterator[tuple[str, str, Any] | None]):
        self.entries = entries

    async def respond(self, request: Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=self.HEADERS)
        await response.prepare(request)
        try:
            await response.write(f"retry: {self.RETRY_MS}\n\n".encode())
            async for entry in self.entries:
                await response.write(self.frame(entry))
        except (ConnectionError, RuntimeError):  # the client went away (aiohttp: closing transport)
            pass
        except Exception:
            log.exception("%s %s: the event stream failed", request.method, request.path)
        finally:
            await self.entries.aclose()
        return response

    @staticmethod
    def frame(entry: tuple[str, str, Any] | None) -> bytes:
        if entry is None:
            return b": keep-alive\n\n"
        event_id, event, data = entry
        return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.rule = status, message, field, rule

    def body(self) -> dict:
        error = {"status": self.status, "message": self.message}
        error |= {k: v for k, v in (("field", self.field), ("rule", self.rule)) if v}
        return {"error": error}


def invalid(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return ApiError(422, f"{field}: {first['msg']}", field, first["type"])


def _number(literal: str) -> int | float:
    """A JSON number with a fraction or exponent: an integer if its value is one (2.0, 1e3), as in
    JSON Schema, where 2.0 is an integer; strict models would refuse the float. Beyond 2**53 a
    float is not exact, but every integer field here is bounded far below that."""
    value = float(literal)
    return int(value) if value.is_integer() else value


def href(*segments: str) -> str:
    """The path of a resource, each segment percent-encoded: an id may hold any character, and a
    Location header must hold none that is not allowed in a URI (aiohttp refuses to send them)."""
    return "/" + "/".join(quote(segment, safe="", errors="surrogatepass") for segment in segments)


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, f"no {what} with id {key!r}", "id", "unknown_id")


async def _relay(request: Request, upstream) -> web.StreamResponse:
    """The owner's event stream, chunk by chunk, until either side ends it."""
    response = web.StreamResponse(status=upstream.status, headers=EventStream.HEADERS)
    await response.prepare(request)
    try:
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
    except (ConnectionError, RuntimeError, ClientError, TimeoutError):
        pass  # the client or the owner went away: the client reconnects with its Last-Event-ID
    return response


class Api:
    """A context's routes, declared by its views module and served on its system by its app.py
    (`api.serve(system)`), so views never import the app that serves them."""

    def __init__(self, title: str):
        self.title = title
        self.routes: dict[str, dict[str, dict]] = {}
        self.system: Any = None

    def serve(self, system) -> None:
        self.system, self.app, self.settings = system, system.app, system.settings
        self._page("/openapi.json", {"get": {"handler": self._openapi, "doc": None}})
        for path, methods in self.routes.items():
            self._page(path, methods)

    def get(self, path: str, summary: str, table: str | None = None, key: str = "", **doc: Any):
        return self._register("get", path, summary, table=table, key=key, mutating=False, **doc)

    def post(self, path: str, summary: str, body: type[BaseModel] | None = None, table: str | None = None,
             key: str = "", **doc: Any):
        return self._register("post", path, summary, body=body, table=table, key=key, mutating=True, **doc)

    def _register(self, method: str, path: str, summary: str, **doc: Any):
        def decorate(handler: Handler) -> Handler:
            self.routes.setdefault(path, {})[method] = {"handler": handler, "summary": summary, **doc}
            return handler
        return decorate

    def _page(self, path: str, methods: dict[str, dict]) -> None:
        api = self

        def make(method: str):
            async def call(view: View, request: Request, **params: str) -> Response:
                return await api._dispatch(view, request, methods.get(method), params)
            return call

        attrs = {m: make(m) for m in ("get", "post", "put", "patch", "delete", "options")}
        view = type(f"View{len(self.routes)}{path.replace('/', '_')}", (View,), attrs)
        self.app.page(path)(view)

    async def _dispatch(self, view: View, request: Request, route: dict | None, params: dict) -> Response:
        try:
            if route is None or "handler" not in route:
                raise ApiError(405, f"{request.method} is not allowed on {request.path}")
            self._authorize(request, route.get("mutating", False))
            if route.get("table") and ROUTED not in request.headers:
                routed = await self._route(view, request, route["table"], params[route["key"]],
                                           route.get("stream", False))
                if routed is not None:
                    return routed
            status, body, *headers = await route["handler"](request, **params)
            if isinstance(body, EventStream):
                return await body.respond(request)
            if isinstance(body, Html):
                return view.html(body, status=status)
            return view.json(body, status=status, headers=headers[0] if headers else None)
        except ApiError as error:
            return view.json(error.body(), status=error.status)
        except ValidationError as error:
            api_error = invalid(error)
            return view.json(api_error.body(), status=api_error.status)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return view.json(ApiError(503, "the service could not answer; retry later").body(), status=503)

    def owner(self, table: str, key: str) -> tuple[str, int] | None:
        """(host, port) of the replica that owns `key`; None when it is this one."""
        try:
            owner = self.app.router.key_store(self.app.tables[table].name, key)
        except Exception as error:  # no assignment yet (rebalancing): say so, don't guess
            raise ApiError(503, f"the owner of {key!r} is not known now ({type(error).__name__}); retry")
        here = URL(self.app.conf.canonical_url)
        return None if (owner.host, owner.port) == (here.host, here.port) else (owner.host, owner.port)

    async def _route(self, view: View, request: Request, table: str, key: str,
                     stream: bool = False) -> Response | None:
        """Answer from the replica that owns `key` (None: this one does), body and all; a stream
        is passed on as it comes."""
        if (owner := self.owner(table, key)) is None:
            return None
        body = await request.read() if request.can_read_body else None
        url = request.url.with_host(owner[0]).with_port(owner[1])
        # a stream waits as long as it lasts, but hears from the owner every keep-alive
        waits = {"timeout": ClientTimeout(total=None, sock_connect=10, sock_read=60)} if stream else {}
        try:
            headers = {**request.headers, ROUTED: "1"}
            async with self.app.http_client.request(request.method, url, headers=headers,
                                                    data=body, **waits) as response:
                if stream and response.content_type == "text/event-stream":
                    return await _relay(request, response)
                return view.text(await response.text(), content_type=response.content_type,
                                 status=response.status)
        except OSError as error:
            raise ApiError(503, f"the owner of {key!r} did not answer ({error}); retry") from None

    def _authorize(self, request: Request, mutating: bool) -> None:
        """Two roles: ORDERSTREAM_API_TOKEN may call everything, ORDERSTREAM_API_READ_TOKEN only
        reads. Reads are open unless ORDERSTREAM_AUTH_READS is set."""
        write, read = self.settings.api_token, self.settings.api_read_token
        if write is None or not (mutating or self.settings.auth_reads):
            return
        # aiohttp decodes header bytes that are not UTF-8 to surrogates; this gives them back
        given = _digest(request.headers.get("Authorization", "").encode("utf-8", "surrogateescape"))
        # every token is compared, in constant time over equal-length digests: the time taken
        # tells neither which token matched nor how long a token is
        roles = {role for role, token in (("write", write), ("read", read))
                 if token is not None and hmac.compare_digest(
                     given, _digest(f"Bearer {token.get_secret_value()}".encode()))}
        if not roles:
            raise ApiError(401, "a valid 'Authorization: Bearer <token>' header is required",
                           "Authorization", "bearer_token")
        if mutating and "write" not in roles:
            raise ApiError(403, f"this token may only read; {request.method} {request.path} needs "
                                "the token of the write role", "Authorization", "read_only_token")

    async def body(self, request: Request, model: type[BaseModel]) -> BaseModel:
        limit = self.settings.web_max_body_bytes
        if (request.content_length or 0) > limit:
            raise ApiError(413, f"body larger than {limit} bytes", "body", "max_bytes")
        raw = await request.content.read(limit + 1)
        if len(raw) > limit:
            raise ApiError(413, f"body larger than {limit} bytes", "body", "max_bytes")
        try:
            data = json.loads(raw or b"null", parse_float=_number)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: [[[[…
            raise ApiError(400, f"body is not valid JSON: {error}", "body", "json") from None
        try:  # an escaped lone surrogate ("\\ud800") parses, yet is no text: nothing can encode it
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ApiError(400, "body is not valid JSON: a string holds a lone surrogate",
                           "body", "json") from None
        if not isinstance(data, dict):
            raise ApiError(422, "body must be a JSON object", "body", "object")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise invalid(error) from None

    def edge_id(self, request: Request, purpose: str) -> str:
        """A fresh id, or with an Idempotency-Key header one derived from it, so a retried
        request makes the very same command and the aggregate answers it once."""
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return str(uuid.uuid4())
        if not 1 <= len(key) <= 200:
            raise ApiError(422, "Idempotency-Key must be 1 to 200 characters", "Idempotency-Key", "length")
        try:
            key.encode()
        except UnicodeEncodeError:  # bytes that are not UTF-8, decoded by aiohttp to surrogates
            raise ApiError(422, "Idempotency-Key must be UTF-8 text", "Idempotency-Key", "utf8") from None
        return derived_id("http", self.system.context, purpose, key)

    def command(self, cls, request: Request, correlation_id: str | None = None,
                message_id: str | None = None, **fields: Any):
        """A command made at the edge: the id and the time enter here."""
        try:
            return cls.new(message_id=message_id or self.edge_id(request, cls.__name__),
                           occurred_at=datetime.now(UTC), correlation_id=correlation_id, **fields)
        except ValidationError as error:
            raise invalid(error) from None

    async def accept(self, command, location: str) -> tuple[int, dict, dict]:
        """Hand a command to its aggregate; 202 with where to follow it."""
        await self.system.send_now(command)
        return 202, {"accepted": command.type, "message_id": command.message_id,
                     "location": location}, {"Location": location}

    def state(self, table: str, key: str, what: str) -> dict:
        state = self.system.state_of(table, key)
        if state is None:
            raise not_found(what, key)
        entries = self.system.deciders[table].entries  # kept outside the row: not part of this view
        return state.model_dump(mode="json", exclude={entries.field} if entries else None)

    async def _openapi(self, request: Request) -> tuple[int, dict]:
        from orderstream.runtime.openapi import document

        return 200, document(self)
