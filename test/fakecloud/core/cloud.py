# Copyright (c) 2026, peering developers
"""The cloud: the world, the issued tokens, the request log and faults, and the dispatch of a
request to the service that owns its path prefix."""

import json
import secrets
import threading

from ..aiven.routes import AivenService
from ..arm.routes import ArmService
from ..graph.routes import GraphService
from ..login.routes import LoginService
from .common import HttpError, new_id, Resp
from .faults import Faults, RequestLog
from .presets import render
from .scenario import initial_world
from .transitions import tick


class Cloud:
    def __init__(self, scenario, base_url, latency_ms=0.0, static=None):
        self.lock = threading.RLock()  # one lock serialises the world logic
        self.scenario = scenario
        self.base_url = base_url
        self.cli_latency_ms = float(latency_ms or 0)
        # secrets and Aiven tokens are random per process and survive resets
        self.static = static or {
            "admin_secret": "adm~" + secrets.token_urlsafe(30),
            "limited_secret": "lim~" + secrets.token_urlsafe(30),
            "provider_secret": "prv~" + secrets.token_urlsafe(30),
            "aiven_token": secrets.token_urlsafe(32),
            "other_aiven_token": secrets.token_urlsafe(32),
        }
        self.tokens = {}  # access token -> Token; survives resets too
        self.log = RequestLog()
        self.faults = Faults()
        self.login, self.graph = LoginService(self), GraphService(self)
        self.arm, self.aiven = ArmService(self), AivenService(self)
        self.services = {"/login/": self.login, "/graph/": self.graph, "/arm/": self.arm, "/aiven/": self.aiven}
        self.world = None
        self.reset()

    @property
    def settings(self):
        return self.world.settings

    def reset(self):
        """The scenario's initial world and settings; faults cleared; tokens and the log kept."""
        with self.lock:
            self.world = initial_world(self.scenario, self.cli_latency_ms, self.static)
            self.faults.clear()

    def service_for(self, path):
        if path == "/arm":
            return self.arm
        for prefix, service in self.services.items():
            if path.startswith(prefix):
                return service
        return None

    def handle(self, req):
        """Serves one cloud request, as of its arrival time."""
        with self.lock:
            tick(self.world, req.now)
            service = self.service_for(req.raw_path)
            if service is None:
                return Resp(404, {"error": "unknown service; use /login, /graph, /arm or /aiven"})
            try:
                return service.handle(req)
            except HttpError as e:
                return e.resp

    def fault_response(self, path, fault):
        """The answer of a fault with a status or a preset.  A preset is a real service's answer;
        the fault's own status and body override it.  Without a body, the service at the path
        shapes a generic error."""
        if fault["preset"]:
            resp = render(self, fault["preset"], path)
            status, headers = fault["status"] or resp.status, resp.headers
            body = fault["body"] if fault["body"] is not None else json.loads(resp.body)
        else:
            status, headers = fault["status"], [("x-ms-request-id", new_id())]
            body = fault["body"] if fault["body"] is not None else \
                (self.service_for(path) or self.arm).fault_error(status)
        if fault["retry_after"] is not None:
            headers = [h for h in headers if h[0].lower() != "retry-after"]
            headers.append(("Retry-After", str(fault["retry_after"])))
        return Resp(status, body, headers=[(str(k), str(v)) for k, v in fault["headers"].items()] + headers)
