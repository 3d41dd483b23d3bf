# Copyright (c) 2026, peering developers
"""The request log (with secrets redacted) and injected faults."""

import json
import re
import threading
from urllib.parse import parse_qsl

from .common import new_id
from .presets import PRESETS

REDACT_HEADERS = {"authorization", "x-ms-authorization-auxiliary", "cookie", "proxy-authorization"}
REDACT_FIELDS = {"client_secret", "secrettext", "access_token", "refresh_token", "client_assertion",
                 "password", "secret", "token"}


def redact_obj(o):
    """A JSON value with the values of secret-bearing keys replaced."""
    if isinstance(o, dict):
        return {k: ("REDACTED" if k.lower() in REDACT_FIELDS and v is not None else redact_obj(v))
                for k, v in o.items()}
    if isinstance(o, list):
        return [redact_obj(x) for x in o]
    return o


def redact_headers(headers):
    out = {}
    for k, v in headers.items():
        if k.lower() in REDACT_HEADERS:
            schemes = [p.strip().split(" ", 1)[0] for p in v.split(",") if p.strip()]
            v = ", ".join("%s REDACTED" % s for s in schemes) if schemes else "REDACTED"
        out[k] = v
    return out


def redact_body(headers, body):
    if not body:
        return None
    ctype = (headers.get("Content-Type") or "").lower()
    text = body.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in ctype:
        return {k: ("REDACTED" if k.lower() in REDACT_FIELDS else v)
                for k, v in parse_qsl(text, keep_blank_values=True)}
    try:
        return redact_obj(json.loads(text))
    except ValueError:
        pass
    try:  # a form body sent without its content type still must not leak
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        if any(k.lower() in REDACT_FIELDS for k, _ in pairs):
            return {k: ("REDACTED" if k.lower() in REDACT_FIELDS else v) for k, v in pairs}
    except ValueError:
        pass
    return text[:4096]


class RequestLog:
    """Every cloud request in arrival order (never /_fake/ calls, never response bodies)."""
    MAX = 200000

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0

    def arrive(self, req):
        e = {"seq": 0, "time": req.now, "method": req.method, "path": req.raw_path,
             "query": req.raw_query, "status": None, "headers": redact_headers(req.headers),
             "body": redact_body(req.headers, req.body)}
        with self.lock:
            self.seq += 1
            e["seq"] = self.seq
            self.entries.append(e)
            if len(self.entries) > self.MAX:
                del self.entries[: len(self.entries) - self.MAX]
        return e

    def since(self, seq):
        with self.lock:
            return [dict(e) for e in self.entries if e["seq"] > seq]

    def clear(self):
        with self.lock:
            self.entries = []


class Faults:
    """Faults to inject into the next matching cloud requests, consumed in creation order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("fault must be a JSON object")
        method = str(spec.get("method", "*")).upper()
        path = spec.get("path", "")
        if not isinstance(path, str):
            raise ValueError("path must be a string (python regex)")
        rx = re.compile(path)
        count = int(spec.get("count", 1))
        status = spec.get("status")
        if status is not None:
            status = int(status)
            if not 100 <= status <= 599:
                raise ValueError("status out of range")
        f = {"id": new_id(), "method": method, "path": path, "rx": rx, "count": count,
             "status": status, "retry_after": spec.get("retry_after"),
             "delay_ms": float(spec.get("delay_ms") or 0), "reset": bool(spec.get("reset")),
             "malformed": bool(spec.get("malformed")), "body": spec.get("body"),
             "headers": spec.get("headers") or {}, "after": bool(spec.get("after")), "preset": spec.get("preset"),
             "hits": 0}
        if f["preset"] is not None and f["preset"] not in PRESETS:
            raise ValueError("unknown preset %r (GET /_fake/faults/presets lists them)" % f["preset"])
        if not (f["status"] or f["preset"] or f["delay_ms"] or f["reset"] or f["malformed"]):
            raise ValueError("a fault needs status, preset, delay_ms, reset or malformed")
        with self.lock:
            self.items.append(f)
        return f["id"]

    def match(self, method, path):
        """The first fault for this request (a copy), counting it as used; or None."""
        with self.lock:
            for f in self.items:
                if f["method"] not in ("*", method):
                    continue
                if not f["rx"].search(path):
                    continue
                f["count"] -= 1
                f["hits"] += 1
                if f["count"] <= 0:
                    self.items.remove(f)
                return dict(f)
        return None

    def clear(self):
        with self.lock:
            self.items = []

    def dump(self):
        with self.lock:
            return [{k: v for k, v in f.items() if k != "rx"} for f in self.items]
