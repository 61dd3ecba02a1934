"""`Simulator`: the HTTPS server tying the login authority, Graph, faults and persistence together.

It runs in a background thread of whatever process starts it (a test, a benchmark, the
`simulator` management command) and needs no Django configuration. Connections are HTTP/1.1
keep-alive with a Content-Length on every answer, so a requests.Session reuses one TLS connection.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .auth import DEFAULT_APP_ROLES, FEDERATED_AUDIENCE, AuthResponse, LoginAuthority
from .ca import CLIENT_CERTIFICATE_PASSWORD, KeyMaterial, ensure_key_material
from .faults import Faults
from .generate import FEDERATED_ISSUER, FEDERATED_SUBJECT
from .graph import GraphApi, GraphRequest, GraphResponse, parse_options
from .odata import GraphError, error_envelope, parse_query
from .paging import PageCursors
from .persist import StateWriter
from .requestlog import LoggedRequest, RequestLog, removal_target
from .tenant import SimTenant

logger = logging.getLogger(__name__)
STATE_FILE = "tenant.json"
GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Test helpers reachable through POST /_sim/tenant for a simulator in another process.
_TENANT_OPERATIONS = (
    "add_role_assignment",
    "remove_assignment",
    "rename_principal",
    "add_service_principal",
    "delete_service_principal",
    "grant_app_role",
    "revoke_app_role",
    "set_redirect_uris",
    "add_app_role_assignment",
    "remove_app_role_assignment",
)

Answer = tuple[int, Any, dict[str, str], str]  # status, JSON body or None, headers, content type


class Simulator:
    """A local Entra ID (login authority + Microsoft Graph) over HTTPS; see the package doc."""

    client_certificate_password = CLIENT_CERTIFICATE_PASSWORD

    def __init__(
        self,
        tenant: SimTenant,
        state_dir: str | Path = "var/simulator",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 100,
        token_lifetime: int = 3599,
        code_lifetime: int = 600,
        _loaded: bool = False,
    ) -> None:
        if not 1 <= page_size <= 999:
            raise ValueError("page_size must be between 1 and 999")
        self.tenant = tenant
        self.state_dir = Path(state_dir)
        self.host = host
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self.code_lifetime = code_lifetime  # authorization codes, seconds (Entra: 10 minutes)
        self.faults = Faults()
        self.requests = RequestLog()
        self.keys: KeyMaterial = ensure_key_material(self.state_dir)
        self._register_credentials()
        self._writer = StateWriter(tenant, self.state_dir / STATE_FILE, loaded_from_disk=_loaded)
        self._requested_port = port
        self._port: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._authority: LoginAuthority | None = None
        self._graph: GraphApi | None = None

    # ----- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def load(cls, state_dir: str | Path, **kwargs: Any) -> Simulator:
        """A simulator over the tenant persisted in state_dir (keys and CA are reused too)."""
        tenant = SimTenant.load(Path(state_dir) / STATE_FILE)
        return cls(tenant, state_dir=state_dir, _loaded=True, **kwargs)

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.keys.server_cert_path, self.keys.server_key_path)
        handler = type("SimulatorHandler", (_Handler,), {"simulator": self})
        server = _Server((self.host, self._requested_port), handler, context)
        self._port = server.server_address[1]
        origin = f"https://{self.host}:{self._port}"
        self._authority = LoginAuthority(
            self.tenant, self.keys, origin, origin, self.token_lifetime, self.code_lifetime
        )
        self._graph = GraphApi(
            self.tenant, self.faults, PageCursors(), origin, self.page_size, self._writer.changed
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, and flush unsaved state."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._writer.close()

    def save(self) -> None:
        """Persist the tenant to state_dir/tenant.json now."""
        self._writer.save()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- addresses and credentials ---------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def authority_host(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.keys.ca_path

    @property
    def client_certificate_path(self) -> Path:
        return self.keys.client_cert_path

    @property
    def encrypted_client_certificate_path(self) -> Path:
        return self.keys.client_cert_encrypted_path

    @property
    def client_certificate_thumbprint(self) -> str:
        return self.keys.client_thumbprint

    def env(
        self, credential: str = "secret", federated_token_file: str | Path | None = None
    ) -> dict[str, str]:
        """Environment for the app, azure-identity style. credential: "secret" (default),
        "certificate" or "federated" (writes a token file; default state_dir/federated-token)."""
        env = {
            "AZURE_TENANT_ID": self.tenant.tenant_id,
            "AZURE_CLIENT_ID": self.tenant.client_id,
            "AZURE_AUTHORITY_HOST": self.authority_host,
            "GRAPH_URL": self.graph_url,
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }
        if credential == "secret":
            env["AZURE_CLIENT_SECRET"] = self.tenant.client_secret
        elif credential == "certificate":
            env["AZURE_CLIENT_CERTIFICATE_PATH"] = str(self.client_certificate_path)
        elif credential == "federated":
            target = Path(federated_token_file or self.state_dir / "federated-token")
            env["AZURE_FEDERATED_TOKEN_FILE"] = str(self.write_federated_token(target))
        else:
            raise ValueError("credential must be 'secret', 'certificate' or 'federated'")
        return env

    def write_federated_token(
        self,
        path: str | Path,
        *,
        lifetime: int = 3600,
        subject: str | None = None,
        issuer: str | None = None,
        audience: str = FEDERATED_AUDIENCE,
    ) -> Path:
        """Write a workload-identity token (as Kubernetes projects it) for the registered
        federated credential; subject/issuer/audience override it to test refusals."""
        credential = self.tenant.app.federated_credentials[0]
        token = self._login().federated_token(
            issuer=issuer or credential["issuer"],
            subject=subject or credential["subject"],
            audience=audience,
            lifetime=lifetime,
        )
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(token, encoding="utf-8")
        tmp.replace(target)  # atomic, like the kubelet's rotation
        return target

    def sign_in(self, auth_uri: str, user_id: str) -> dict[str, str]:
        """Play the browser for a test: submit the sign-in page of auth_uri (msal's
        `initiate_auth_code_flow(...)["auth_uri"]`) as user_id, the way its form does, and
        return what the simulator sends to the redirect URI ({"code", "state", ...} or
        {"error", "error_description", "state"}), ready for acquire_token_by_auth_code_flow."""
        import requests  # msal's own dependency; imported here to keep start-up light

        url, _, query = auth_uri.partition("?")
        fields = {**dict(parse_qsl(query, keep_blank_values=True)), "user_id": user_id}
        answer = requests.post(
            url, data=fields, allow_redirects=False, verify=str(self.ca_path), timeout=30
        )
        if answer.status_code == 302:
            location = urlsplit(answer.headers["Location"])
            return dict(parse_qsl(location.query or location.fragment, keep_blank_values=True))
        if answer.status_code == 200 and 'name="code"' in answer.text:  # response_mode=form_post
            pairs = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', answer.text)
            return {html.unescape(k): html.unescape(v) for k, v in pairs}
        raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}: {answer.text[:500]}")

    def _register_credentials(self) -> None:
        """Make the app registration accept this state dir's certificate and federated issuer."""
        app = self.tenant.app
        with self.tenant.lock:
            if not any(c["thumbprint"] == self.keys.client_thumbprint for c in app.certificates):
                app.certificates.append(
                    {
                        "thumbprint": self.keys.client_thumbprint,
                        "thumbprint_sha256": self.keys.client_thumbprint_sha256,
                        "pem": self.keys.client_cert_pem,
                    }
                )
                self.tenant.touch()
            if not app.federated_credentials:
                app.federated_credentials.append(
                    {
                        "name": "spreview-sync-kubernetes",
                        "issuer": FEDERATED_ISSUER,
                        "subject": FEDERATED_SUBJECT,
                        "audiences": [FEDERATED_AUDIENCE],
                    }
                )
                self.tenant.touch()
            if not app.roles:
                app.roles.extend(DEFAULT_APP_ROLES)

    def _login(self) -> LoginAuthority:
        if self._authority is None:
            # Tokens can be written before start(); the issuer key does not depend on the port.
            return LoginAuthority(
                self.tenant, self.keys, "https://unstarted", "", self.token_lifetime
            )
        return self._authority

    # ----- request dispatch (called from server threads) ------------------------------------

    def dispatch(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        path, _, raw_query = raw_path.partition("?")
        first = path.split("/")[1] if path.count("/") >= 1 else ""
        if first == "_sim":
            return self._control(method, path, raw_query, body)
        if first in ("v1.0", "beta"):
            return self._graph_answer(method, path, raw_query, headers, body)
        return self._login_answer(method, path, raw_query, headers, body)

    def _graph_answer(
        self, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        out_headers = {"request-id": request_id, "client-request-id": client_request_id}
        latency = self.faults.latency
        if latency:
            time.sleep(latency)
        assert self._graph is not None and self._authority is not None
        try:
            version = path.split("/")[1]
            if version == "beta" and self.faults.beta_unavailable:
                segment = unquote(path.rstrip("/").rsplit("/", 1)[-1])
                raise GraphError(
                    404, "BadRequest", f"Resource not found for the segment '{segment}'."
                )
            claims = self._authority.verify_access_token(headers.get("Authorization"))
            request = GraphRequest(
                method=method,
                version=version,
                path=path,
                raw_query=raw_query,
                query=parse_options(parse_query(raw_query)),
                headers=headers,
                body=body,
                roles=frozenset(claims.get("roles") or ()),
            )
            self.faults.check_request(request.target)
            response = self._graph.handle(request)
        except GraphError as exc:
            envelope = error_envelope(exc.code, exc.message, request_id, client_request_id)
            response = GraphResponse(exc.status, envelope, exc.headers)
        return (
            response.status,
            response.body,
            {**out_headers, **response.headers},
            GRAPH_CONTENT_TYPE,
        )

    def _login_answer(
        self, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        segments = [unquote(s) for s in path.split("/")[1:] if s]
        if not segments:
            answer = AuthResponse(404, {"error": "not_found", "error_description": "Not found."})
        else:
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            answer = self._login().handle(
                method,
                segments,
                form,
                headers.get("client-request-id", ""),
                query=dict(parse_qsl(raw_query, keep_blank_values=True)),
                cookie_header=headers.get("Cookie") or "",
            )
        headers_out = {
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
            **answer.headers,
        }
        if isinstance(answer.body, str):  # an HTML page (sign-in, errors) or an empty redirect
            headers_out["X-Frame-Options"] = "DENY"
            headers_out["Content-Security-Policy"] = (
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                "form-action *; frame-ancestors 'none'"
            )
            return answer.status, answer.body.encode(), headers_out, answer.content_type
        return answer.status, answer.body, headers_out, answer.content_type

    def _control(self, method: str, path: str, raw_query: str, body: bytes) -> Answer:
        """Test hooks for a simulator in another process: faults, request log, tenant changes."""
        route = (method, path.rstrip("/"))
        try:
            payload = json.loads(body) if body else {}
            if route == ("GET", "/_sim/requests"):
                since = int(dict(parse_qsl(raw_query)).get("since", 0))
                items = self.requests.snapshot()[since:]
                result: Any = {
                    "count": since + len(items),
                    "requests": [r.as_dict() for r in items],
                }
            elif route == ("DELETE", "/_sim/requests"):
                self.requests.clear()
                result = {}
            elif route == ("GET", "/_sim/faults"):
                result = self.faults.describe()
            elif route == ("POST", "/_sim/faults"):
                self.faults.apply(payload)
                result = self.faults.describe()
            elif route == ("DELETE", "/_sim/faults"):
                self.faults.clear()
                result = self.faults.describe()
            elif route == ("GET", "/_sim/people"):
                result = [p._asdict() for p in self.tenant.demo_people()]
            elif route == ("GET", "/_sim/expected"):
                result = sorted(list(t) for t in self.tenant.expected_privileged_sp_assignments())
            elif route == ("GET", "/_sim/expected-app-permissions"):
                result = sorted(list(t) for t in self.tenant.expected_app_permission_grants())
            elif route == ("POST", "/_sim/tenant"):
                operation = payload.get("op")
                if operation not in _TENANT_OPERATIONS:
                    raise ValueError(f"op must be one of {_TENANT_OPERATIONS}")
                value = getattr(self.tenant, operation)(**payload.get("args", {}))
                self._writer.changed()
                result = {"result": value}
            elif route == ("POST", "/_sim/save"):
                self.save()
                result = {}
            else:
                return 404, {"error": "unknown simulator control route"}, {}, JSON_CONTENT_TYPE
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"error": str(exc)}, {}, JSON_CONTENT_TYPE
        return 200, result, {}, JSON_CONTENT_TYPE


class _Server(ThreadingHTTPServer):
    """Threading HTTPS server: TLS handshakes happen in the worker threads, not the acceptor."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        self._context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK
        # would add ~40 ms to every keep-alive request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wrapped = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: clients that hang up or distrust the CA are not the simulator's problem."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spreview-simulator/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are dropped after this
    simulator: Simulator

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request stderr output."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_DELETE = do_PATCH = do_PUT = do_GET

    def _serve(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            status, payload, headers, content_type = self.simulator.dispatch(
                self.command, self.path, self.headers, body
            )
        except Exception:  # a bug in the simulator must still answer like Graph would
            logger.exception("simulator failed on %s %s", self.command, self.path)
            request_id = str(uuid.uuid4())
            payload = error_envelope(
                "InternalServerError", "The simulator failed unexpectedly.", request_id, request_id
            )
            status, headers, content_type = 500, {"request-id": request_id}, GRAPH_CONTENT_TYPE
        if isinstance(payload, bytes):
            data = payload
        else:
            data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        if not self.path.startswith("/_sim/"):
            # Logged before answering, so a client that got its answer finds it in the log.
            self.simulator.requests.append(
                LoggedRequest(
                    method=self.command,
                    path=self.path,
                    status=status,
                    at=time.time(),
                    duration=time.monotonic() - started,
                    target=removal_target(self.command, self.path, body),
                )
            )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204:
            self.wfile.write(data)
        self.wfile.flush()
