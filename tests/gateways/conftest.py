"""Real gateways from Debian's packages (`make gateway-deps`), each started as the current
user on free loopback ports with a config generated in `tmp_path`, in front of a tiny
upstream, and killed at teardown.

- `upstream`: a threaded `http.server` answering `?s=<status>&n=<body bytes>` and sleeping
  `SLOW_MS` on paths ending in `/slow`; it counts what reached it.
- `nginx`: writes `combined` to `access.log` and a JSON `log_format ... escape=json` to
  `access.json` at once; /api/ needs Basic auth (htpasswd with {SSHA} hashes).
- `caddy`: Caddyfile, admin API off, `auto_https off`, JSON access log to `access.json`;
  /api/* needs Basic auth (bcrypt hashes from `caddy hash-password`).
- `start_haproxy(syslog_port)`: `option httplog` over UDP syslog (RFC 3164, with the real
  hostname), TZ=UTC (its `[%tr]` accept date is local time; the mapping reads it as UTC);
  /maintenance/ goes to a backend without servers (HAProxy answers 503 itself).
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from apim import processes

from .traffic import SLOW_MS, USERS

START_TIMEOUT_S = 15


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    server: _UpstreamServer

    def _answer(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        status = int(query.get("s", ["200"])[0])
        size = int(query.get("n", ["0"])[0])
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.endswith("/slow"):
            time.sleep(SLOW_MS / 1000)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if 300 <= status < 400:
            self.send_header("Location", "/public/health")
        if status != 204:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if status != 204:
            self.wfile.write(b"x" * size)
        with self.server.lock:
            self.server.seen[(self.command, url.path)] += 1

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 overflows: SYNs retried after 1 s, slow lies

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Upstream)
        self.lock = threading.Lock()
        self.seen: Counter = Counter()
        """(method, path) -> requests answered."""

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        """HAProxy resets idle keep-alive connections: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def upstream() -> Iterator[_UpstreamServer]:
    server = _UpstreamServer()
    thread = threading.Thread(target=server.serve_forever, name="upstream", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Gateway:
    name: str
    process: subprocess.Popen
    port: int
    dir: Path
    """Its config, logs, pid and temp files."""
    output: Path
    """Its stdout and stderr."""

    def diagnostics(self) -> str:
        parts = []
        for path in [*sorted(self.dir.glob("*.log")), self.output]:
            if path.exists() and "access" not in path.name:
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:  # no skip: a missing gateway is a failure, `make gateway-deps` fixes it
        raise AssertionError(f"{name} is not installed: run `make gateway-deps` (apt-get install)")
    return path


def _start(
    name: str, args: list[str], directory: Path, port: int, env: dict[str, str] | None = None
) -> Gateway:
    output = directory / f"{name}.out"
    process = processes.spawn(args, output, env)
    gateway = Gateway(name, process, port, directory, output)
    try:
        processes.wait_for_port("127.0.0.1", port, START_TIMEOUT_S, process)
    except (RuntimeError, TimeoutError) as exc:
        processes.stop(process, 5)
        raise AssertionError(f"{name} did not start: {exc}\n{gateway.diagnostics()}") from None
    return gateway


def _stop(gateway: Gateway) -> None:
    processes.stop(gateway.process, 10)


def _ssha(password: str, salt: bytes) -> str:
    """An htpasswd {SSHA} hash, which nginx's auth_basic_user_file reads."""
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _user_directive() -> str:
    """As root, nginx workers would run as `nobody`, who cannot read tmp_path."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.getuid()).pw_name};"


NGINX_JSON_FORMAT = (
    '{"time_iso8601":"$time_iso8601","remote_addr":"$remote_addr",'
    '"remote_user":"$remote_user","request_method":"$request_method",'
    '"request_uri":"$request_uri","status":"$status","body_bytes_sent":"$body_bytes_sent",'
    '"request_length":"$request_length","request_time":"$request_time",'
    '"upstream_response_time":"$upstream_response_time",'
    '"http_user_agent":"$http_user_agent","request_id":"$http_x_request_id"}'
)


@pytest.fixture
def nginx(tmp_path: Path, upstream: _UpstreamServer) -> Iterator[Gateway]:
    d = tmp_path / "nginx"
    d.mkdir()
    (d / "htpasswd").write_text(
        "".join(f"{u}:{_ssha(p, os.urandom(8))}\n" for u, p in USERS.items())
    )
    port = processes.free_port()
    (d / "nginx.conf").write_text(f"""
{_user_directive()}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format apim_json escape=json '{NGINX_JSON_FORMAT}';
    server {{
        listen 127.0.0.1:{port};
        access_log {d}/access.log combined;
        access_log {d}/access.json apim_json;
        location /api/ {{
            auth_basic "apim test";
            auth_basic_user_file {d}/htpasswd;
            proxy_pass http://127.0.0.1:{upstream.port};
        }}
        location / {{
            proxy_pass http://127.0.0.1:{upstream.port};
        }}
    }}
}}
""")
    args = [_binary("nginx"), "-p", f"{d}/", "-c", f"{d}/nginx.conf", "-e", f"{d}/error.log"]
    args += ["-g", "daemon off;"]
    gateway = _start("nginx", args, d, port)
    yield gateway
    _stop(gateway)


@pytest.fixture(scope="session")
def caddy_hashes() -> dict[str, str]:
    """bcrypt hashes of `USERS`' passwords (about 1 s each: computed once, in parallel)."""
    caddy = _binary("caddy")

    def hashed(password: str) -> str:
        done = subprocess.run(
            [caddy, "hash-password", "--plaintext", password],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout.strip()

    with ThreadPoolExecutor(len(USERS)) as pool:
        return dict(zip(USERS, pool.map(hashed, USERS.values()), strict=True))


@pytest.fixture
def caddy(
    tmp_path: Path, upstream: _UpstreamServer, caddy_hashes: dict[str, str]
) -> Iterator[Gateway]:
    d = tmp_path / "caddy"
    d.mkdir()
    port = processes.free_port()
    accounts = "\n".join(f"\t\t{u} {h}" for u, h in caddy_hashes.items())
    (d / "Caddyfile").write_text(f"""{{
	admin off
	auto_https off
	storage file_system {{
		root {d}/data
	}}
	log {{
		output file {d}/caddy.log
		level INFO
	}}
}}

http://127.0.0.1:{port} {{
	bind 127.0.0.1
	log {{
		output file {d}/access.json
		format json
	}}
	basicauth /api/* {{
{accounts}
	}}
	reverse_proxy 127.0.0.1:{upstream.port}
}}
""")
    env = dict(os.environ)
    env.update(HOME=str(d), XDG_CONFIG_HOME=str(d / "config"), XDG_DATA_HOME=str(d / "data"))
    args = [_binary("caddy"), "run", "--config", f"{d}/Caddyfile", "--adapter", "caddyfile"]
    gateway = _start("caddy", args, d, port, env)
    yield gateway
    _stop(gateway)


@pytest.fixture
def start_haproxy(tmp_path: Path, upstream: _UpstreamServer) -> Iterator[Callable[[int], Gateway]]:
    started: list[Gateway] = []

    def start(syslog_port: int) -> Gateway:
        d = tmp_path / "haproxy"
        d.mkdir()
        port = processes.free_port()
        (d / "haproxy.cfg").write_text(f"""
global
    log 127.0.0.1:{syslog_port} local0
    log-send-hostname
    pidfile {d}/haproxy.pid

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe_api
    bind 127.0.0.1:{port}
    use_backend be_maintenance if {{ path_beg /maintenance/ }}
    default_backend be_api

backend be_api
    server app1 127.0.0.1:{upstream.port}

backend be_maintenance
""")
        env = dict(os.environ, TZ="UTC")
        gateway = _start(
            "haproxy", [_binary("haproxy"), "-db", "-f", f"{d}/haproxy.cfg"], d, port, env
        )
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        _stop(gateway)
