# Copyright (c) 2026, peering developers
"""The HTTPS server: one handler thread per connection (TLS handshake included), the request
log, latency and fault injection around the cloud's dispatch, and the control API."""

import socket
import ssl
import struct
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import new_id, Req, Resp
from .control import ControlApi

MAX_BODY = 8 * 1024 * 1024
TRUNCATED = b'{"value": [{"id": "/subscriptions/trunc'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecloud/1.0"
    timeout = 120  # idle keep-alive connections are closed after this

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fakecloud: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def _write(self, resp, head_only=False):
        self.send_response(resp.status)
        seen = set()
        for k, v in resp.headers:
            self.send_header(k, v)
            seen.add(k.lower())
        if resp.ctype and "content-type" not in seen:
            self.send_header("Content-Type", resp.ctype)
        if resp.status not in (204, 304) and resp.status >= 200:
            self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        if not head_only and resp.body and resp.status not in (204, 304):
            self._headers_buffer.append(b"\r\n")
            self._headers_buffer.append(resp.body)
            self.wfile.write(b"".join(self._headers_buffer))
            self._headers_buffer = []
        else:
            self.end_headers()

    def _reset(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def dispatch(self):
        cloud = self.server.cloud
        try:
            body = self._read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            self._write(Resp(413, {"error": "bad or too large request body"}))
            return
        req = Req(self.command, self.path, self.headers, body, cloud.base_url)
        if req.raw_path.startswith("/_fake/") or req.raw_path == "/_fake":
            try:
                resp = self.server.control.handle(req)
            except Exception as e:  # a bug must not kill the connection silently
                traceback.print_exc()
                resp = Resp(500, {"error": "fakecloud internal error: %r" % e})
            self._write(resp)
            return
        entry = cloud.log.arrive(req)
        try:
            lat = float(cloud.settings.get("latency_ms") or 0)
            if lat > 0:
                time.sleep(lat / 1000.0)
            fault = cloud.faults.match(req.method, req.raw_path)
            if fault:
                entry["fault"] = fault["id"]
            if fault and not fault["after"] and self._inject(fault, req, entry):
                return
            try:
                resp = cloud.handle(req)
            except Exception:
                traceback.print_exc()
                resp = Resp(500, {"error": {"code": "InternalServerError", "message": "fakecloud internal error"}})
            # "after": the request took effect, then its answer is delayed, lost or replaced
            if fault and fault["after"] and self._inject(fault, req, entry):
                return
            entry["status"] = resp.status
            entry["duration_ms"] = round((time.time() - req.now) * 1000.0, 3)
            self._write(resp, head_only=req.method == "HEAD")
        finally:
            if entry["status"] is None:
                entry["status"] = 0

    def _inject(self, fault, req, entry):
        """Applies a fault; True when it answered (or dropped) the request, False when only a delay."""
        if fault["delay_ms"]:
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault["reset"]:
            entry["status"] = 0
            self._reset()
            return True
        if fault["malformed"]:
            entry["status"] = 200
            self._write(Resp(200, raw=TRUNCATED, headers=[("x-ms-request-id", new_id())]))
            return True
        if fault["status"] or fault["preset"]:
            resp = self.server.cloud.fault_response(req.raw_path, fault)
            entry["status"] = resp.status
            self._write(resp, head_only=req.method == "HEAD")
            return True
        return False


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024
    handshake_timeout = 10.0

    def __init__(self, addr, ssl_ctx, cloud, verbose=False):
        self.ssl_ctx = ssl_ctx
        self.cloud = cloud
        self.control = ControlApi(cloud)
        self.verbose = verbose
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # Runs in the per-connection thread: the TLS handshake happens here, never in the accept loop.
        tls = None
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(self.handshake_timeout)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError, ValueError):
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            tls.settimeout(Handler.timeout)
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)
