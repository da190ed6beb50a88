"""A Streamlit client without a browser: one session speaking the app's own websocket protocol.

It does what the front end does, with the protobufs that ship in the ``streamlit`` package: fetch the page (for the
XSRF cookie), open ``/_stcore/stream`` with the token in the subprotocol header, send ``BackMsg.rerun_script``
with a page name, a query string and widget states, and read ``ForwardMsg``s until ``script_finished``. Widgets
are found by their key (a keyed widget's id ends in ``-<key>``) in the deltas the server sends; uploads go to
``/_stcore/upload_file/...`` as the front end sends them. For the load test (``benchmarks/load_test.py``) and the
tests: it measures the server, not a browser (a rerun's latency is the time from the message sent to
``script_finished`` received).

Only loopback or a URL given on purpose is ever contacted; every wait has a time-out.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.util import calc_hash

XSRF_COOKIE = "_streamlit_xsrf"
RUN_TIMEOUT_S = 60.0  # a script run longer than this is an error
FINISHED = ForwardMsg.ScriptFinishedStatus
CACHE_LIMIT = 400  # message hashes this client reports as cached (the front end caches the same kind)


class ProtocolError(RuntimeError):
    """The server did something a browser would show as broken (an exception, a closed socket, a refused upload)."""


@dataclass
class Widget:
    """A widget as the last script run drew it: its id, element type and proto (for options and ranges)."""

    id: str
    kind: str
    proto: object


@dataclass
class RunResult:
    """One rerun: how long the server took (message sent -> script_finished) and what it showed."""

    ms: float
    status: str
    errors: list[str] = field(default_factory=list)
    widgets: dict[str, Widget] = field(default_factory=dict)  # key -> widget, drawn in this run
    headings: list[str] = field(default_factory=list)  # the titles and subheaders it drew, in order


def _key_of(widget_id: str) -> str | None:
    """``$$ID-<hash>-<key>`` -> key (None for an unkeyed widget, whose id has no user key)."""
    parts = widget_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0].startswith("$$ID") and parts[2] != "None" else None


def _element_problem(element) -> str | None:
    kind = element.WhichOneof("type")
    if kind == "exception":
        return f"exception shown: {element.exception.type}: {element.exception.message[:200]}"
    if kind == "alert" and "This page failed" in element.alert.body:  # the router's last guard (dashboard.py)
        return f"page failed: {element.alert.body[:200]}"
    return None


class Session:
    """One viewer. ``await Session.open(base)``, then ``rerun``/``set_widget``/``upload``; ``close`` at the end."""

    def __init__(self, base: str, ws, cookie: str, xsrf: str | None):
        self.base, self.ws, self.cookie, self.xsrf = base.rstrip("/"), ws, cookie, xsrf
        self.session_id: str | None = None
        self.page = ""  # the url path of the page shown ("" for the default page)
        self.page_hash = ""  # its script hash (what the front end sends with every rerun)
        self.pages: dict[str, str] = {}  # url path -> page script hash, from the server's navigation message
        self.query = ""
        self.widgets: dict[str, Widget] = {}  # key -> widget, from the last finished run
        self.states: dict[str, WidgetState] = {}  # widget id -> the value this viewer gave it
        self._cache: dict[str, bytes] = {}  # message hash -> serialized ForwardMsg (the front end's cache)
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.closed_reason: str | None = None
        self.source: str | None = None  # the local address this viewer's connections come from

    # ---------------------------------------------------------------------------------------------- connect

    @classmethod
    async def open(cls, base: str, timeout_s: float = 30.0, source: str | None = None) -> Session:
        """Ask ``/_stcore/health`` (the XSRF cookie, as the front end gets it before it connects), then open the
        websocket. ``source``: the local address every connection of this viewer comes from (e.g. ``127.0.3.1``:
        on Linux all of 127/8 is loopback), so that nginx's ``ip_hash`` sees viewers on different machines."""
        from websockets.asyncio.client import connect

        base = base.rstrip("/")
        status, cookie, xsrf = await asyncio.to_thread(_http, "GET", base + "/_stcore/health", timeout_s, source=source)
        if status != 200:
            raise ProtocolError(f"{base}/_stcore/health answered {status}")
        parts = urllib.parse.urlsplit(base)
        ws_url = urllib.parse.urlunsplit(
            ("wss" if parts.scheme == "https" else "ws", parts.netloc, "/_stcore/stream", "", "")
        )
        headers = {"Cookie": cookie} if cookie else {}
        ws = await connect(
            ws_url,
            subprotocols=["streamlit", xsrf] if xsrf else ["streamlit"],
            origin=f"{parts.scheme}://{parts.netloc}",
            additional_headers=headers,
            max_size=None,  # a map figure is a few MB
            compression=None,  # the front end sends none; inflating costs this client CPU
            open_timeout=timeout_s,
            ping_interval=None,
            proxy=None,
            **({"local_addr": (source, 0)} if source else {}),
        )
        session = cls(base, ws, cookie, xsrf)
        session.source = source
        return session

    async def close(self) -> None:
        self._reader.cancel()
        try:
            await self.ws.close()
        except Exception:  # noqa: BLE001 - closing a socket the server already closed
            pass

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                if msg.WhichOneof("type") == "ref_hash":
                    cached = self._cache.get(msg.ref_hash)
                    if cached is None:
                        await self._inbox.put(("error", f"ref_hash {msg.ref_hash} not in this client's cache"))
                        continue
                    metadata = msg.metadata
                    msg = ForwardMsg()
                    msg.ParseFromString(cached)
                    msg.metadata.CopyFrom(metadata)
                elif msg.metadata.cacheable and msg.hash:
                    self._cache[msg.hash] = data
                    while len(self._cache) > CACHE_LIMIT:
                        self._cache.pop(next(iter(self._cache)))
                await self._inbox.put(("msg", msg))
        except Exception as e:  # noqa: BLE001 - a closed socket ends the session: reported to the waiter
            self.closed_reason = f"{type(e).__name__}: {e}"
        self.closed_reason = self.closed_reason or f"socket closed ({self.ws.close_code})"
        await self._inbox.put(("closed", self.closed_reason))

    # ------------------------------------------------------------------------------------------------ runs

    async def _send(self, back: BackMsg) -> None:
        await self.ws.send(back.SerializeToString())

    async def rerun(
        self, page: str | None = None, query: str | None = None, states: dict[str, WidgetState] | None = None
    ) -> RunResult:
        """Ask for a script run with this viewer's widget values and ``states`` (widget id -> state; triggers are
        sent once); waits for its ``script_finished``. ``page``: a url path, opened as a click in the navigation
        does (its script hash), or by name as a typed URL does before the navigation is known; ``query``: the
        URL's query string (a link is read on a session's first run)."""
        if page is not None:
            self.page = page
            # the default page is listed at "" in the navigation; its hash is its url path's, as every page's
            self.page_hash = self.pages.get(page) or (calc_hash(page) if page and self.pages else "")
        if query is not None:
            self.query = query
        states = states or {}
        back = BackMsg()
        cs = back.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        cs.page_name = "" if self.page_hash else self.page
        live = {w.id for w in self.widgets.values()}  # the front end sends the widgets it shows
        for wid, state in self.states.items():
            if wid in live and wid not in states:
                cs.widget_states.widgets.append(state)
        for wid, state in states.items():
            cs.widget_states.widgets.append(state)
            if state.WhichOneof("value") not in ("trigger_value", "string_trigger_value", "json_trigger_value"):
                self.states[wid] = state
        cs.cached_message_hashes.extend(self._cache)
        t0 = time.perf_counter()
        await self._send(back)
        return await self._until_finished(t0)

    async def _until_finished(self, t0: float) -> RunResult:
        """Read until a script run ends (a run that ends early for another, e.g. ``st.switch_page``, is followed)."""
        errors: list[str] = []
        drawn: dict[str, Widget] = {}
        headings: list[str] = []
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no script_finished within {RUN_TIMEOUT_S:.0f} s")
            kind, msg = await asyncio.wait_for(self._inbox.get(), left)
            if kind == "closed":
                raise ProtocolError(f"the server closed the websocket: {msg}")
            if kind == "error":
                errors.append(msg)
                continue
            which = msg.WhichOneof("type")
            if which == "new_session":
                self.session_id = msg.new_session.initialize.session_id
                self.page_hash = msg.new_session.page_script_hash
                drawn.clear()  # a new run: only its widgets count
                headings.clear()
            elif which == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                problem = _element_problem(element)
                if problem:
                    errors.append(problem)
                kind = element.WhichOneof("type")
                if kind == "heading":
                    headings.append(element.heading.body)
                proto = getattr(element, kind, None) if kind else None
                wid = getattr(proto, "id", "") if proto is not None else ""
                key = _key_of(wid) if wid else None
                if key:
                    drawn[key] = Widget(wid, kind, proto)
            elif which == "page_not_found":
                errors.append(f"page not found: {msg.page_not_found.page_name}")
            elif which == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                self.page_hash = msg.navigation.page_script_hash
                self.page = next(
                    (p.url_pathname for p in msg.navigation.app_pages if p.page_script_hash == self.page_hash),
                    self.page,
                )
            elif which == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif which == "script_finished":
                status = FINISHED.Name(msg.script_finished)
                if msg.script_finished == FINISHED.FINISHED_EARLY_FOR_RERUN:
                    continue  # another run follows at once (a page switch, a widget changed meanwhile)
                ms = (time.perf_counter() - t0) * 1e3
                self.widgets = drawn
                if msg.script_finished == FINISHED.FINISHED_WITH_COMPILE_ERROR:
                    errors.append("the script did not compile")
                return RunResult(ms, status, errors, dict(drawn), headings)

    # ------------------------------------------------------------------------------------------- widgets

    def has(self, key: str, kind: str | None = None) -> bool:
        w = self.widgets.get(key)
        return w is not None and (kind is None or w.kind == kind)

    async def set_widget(self, key: str, **value) -> RunResult:
        """Give the widget ``key`` of the last run a new value (``string_value=...``, ``double_value=...``,
        ``double_array_value=[...]``, ``trigger_value=True``, ...) and wait for the rerun it causes."""
        w = self.widgets.get(key)
        if w is None:
            raise LookupError(f"no widget with key {key!r} on page {self.page!r} ({sorted(self.widgets)})")
        state = WidgetState(id=w.id)
        for name, v in value.items():
            if name.endswith("_array_value"):
                getattr(state, name).data.extend(v)
            else:
                setattr(state, name, v)
        return await self.rerun(states={w.id: state})

    async def select_points(self, key: str, ids: list[int]) -> RunResult:
        """A click (one id) or lasso on a Plotly chart with ``on_select="rerun"``: the selection state the chart
        sends, each point with its ``customdata`` row id."""
        points = [{"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": [i]} for i in ids]
        value = {"selection": {"points": points, "point_indices": list(range(len(ids))), "box": [], "lasso": []}}
        return await self.set_widget(key, string_value=json.dumps(value))

    async def component_event(self, key: str, event: str, value) -> RunResult:
        """One event of a component (``st.components.v2``) as the front end sends it: a JSON list of
        ``{event, value}`` payloads on the component's trigger aggregator widget."""
        from streamlit.components.v2.bidi_component.constants import EVENT_DELIM
        from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX

        w = self.widgets.get(key)
        if w is None or w.kind != "bidi_component":
            raise LookupError(f"no component with key {key!r} on page {self.page!r}")
        state = WidgetState(id=f"{STREAMLIT_INTERNAL_KEY_PREFIX}_{w.id}{EVENT_DELIM}events")
        state.json_trigger_value = json.dumps([{"event": event, "value": value}])
        return await self.rerun(states={state.id: state})

    async def select_on_map(self, key: str, ids: list[int], color: str = "class") -> RunResult:
        """A click (one id) or lasso on the map component: its ``select`` event."""
        return await self.component_event(key, "select", {"ids": list(ids), "color": color})

    def component_data(self, key: str) -> dict:
        """The JSON data the last run gave component ``key`` ({} if it sent none this run)."""
        w = self.widgets.get(key)
        proto = getattr(w, "proto", None)
        raw = (proto.json or proto.mixed.json) if proto is not None else ""
        return json.loads(raw) if raw else {}

    async def load_map_tiles(self, key: str) -> int:
        """What a browser does after a map's first paint: ask for its thumbnail tiles, a batch at a time, until it
        holds them all -> how many it got (0 for a map without thumbnails)."""
        atlas = self.component_data(key).get("atlas")
        if not atlas:
            return 0
        got: set[int] = set()
        for ask in range(1, 4 * int(atlas["tiles"]) + 4):  # bounded: pending answers are asked again
            missing = [t for t in range(int(atlas["tiles"])) if t not in got]
            if not missing:
                break
            await self.component_event(
                key, "tiles", {"hash": atlas["hash"], "tiles": missing[: int(atlas["batch"])], "ask": ask}
            )
            answer = self.component_data(key).get("tiles") or {}
            if answer.get("pending"):
                await asyncio.sleep(0.5)
            got |= {int(t) for t, v in (answer.get("orig") or {}).items() if v is not None}
        return len(got)

    async def upload(self, key: str, name: str, data: bytes, mime: str = "image/png") -> RunResult:
        """What the front end does for a file uploader: ask for upload URLs, PUT the file there (with the XSRF
        token), then rerun with the uploader's state naming the file."""
        w = self.widgets.get(key)
        if w is None or w.kind != "file_uploader":
            raise LookupError(f"no file uploader with key {key!r} on page {self.page!r}")
        urls = await self.file_urls(name)
        status = await self.put_file(urls, name, data, mime)
        if status != 204:
            raise ProtocolError(f"upload of {name} answered {status}")
        info = UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        uploader = FileUploaderState()
        uploader.uploaded_file_info.append(info)
        state = WidgetState(id=w.id)
        state.file_uploader_state_value.CopyFrom(uploader)
        return await self.rerun(states={w.id: state})

    async def put_file(self, urls, name: str, data: bytes, mime: str = "image/png", xsrf: bool = True) -> int:
        """PUT a file to the upload URL the server gave (``xsrf=False``: without the token) -> the HTTP status."""
        token = self.xsrf if xsrf else None
        url = self.base + urls.upload_url
        return await asyncio.to_thread(_put_file, url, name, data, mime, self.cookie, token, self.source)

    async def file_urls(self, name: str):
        """Ask the server where to upload a file (``BackMsg.file_urls_request``) -> its ``FileURLs``."""
        request_id = uuid.uuid4().hex
        back = BackMsg()
        back.file_urls_request.request_id = request_id
        back.file_urls_request.session_id = self.session_id or ""
        back.file_urls_request.file_names.append(name)
        await self._send(back)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            kind, msg = await asyncio.wait_for(self._inbox.get(), max(0.01, deadline - time.monotonic()))
            if kind == "closed":
                raise ProtocolError(f"the server closed the websocket: {msg}")
            if kind == "msg" and msg.WhichOneof("type") == "file_urls_response":
                r = msg.file_urls_response
                if r.response_id != request_id:  # an answer to an earlier request
                    continue
                if r.error_msg:
                    raise ProtocolError(f"upload refused: {r.error_msg}")
                return r.file_urls[0]


def _http(method: str, url: str, timeout_s: float, body: bytes = b"", headers=None, source=None):
    """One HTTP request from ``source`` (a local address, or any) -> (status, the Cookie header to send back, the XSRF
    token or None when XSRF is off)."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname, parts.port, timeout=timeout_s, source_address=(source, 0) if source else None)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers or {})
        r = conn.getresponse()
        r.read()
        cookies = r.headers.get_all("Set-Cookie") or []
    finally:
        conn.close()
    pairs = [c.split(";", 1)[0] for c in cookies]
    xsrf = next((p.split("=", 1)[1] for p in pairs if p.startswith(XSRF_COOKIE + "=")), None)
    if xsrf and xsrf.startswith('"') and xsrf.endswith('"'):
        xsrf = xsrf[1:-1]
    return r.status, "; ".join(pairs), xsrf


def _put_file(url: str, name: str, data: bytes, mime: str, cookie: str, xsrf: str | None, source=None) -> int:
    """A multipart PUT of one file, as the front end sends it -> the HTTP status."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie}
    if xsrf:
        headers["X-Xsrftoken"] = xsrf
    return _http("PUT", url, RUN_TIMEOUT_S, body, headers, source)[0]
