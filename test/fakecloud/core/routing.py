# Copyright (c) 2026, peering developers
"""Route tables: (method, path pattern, handler name) -> a bound handler called with the
pattern's named groups, percent-decoded, as keyword arguments."""

import re
from urllib.parse import unquote


def canonical_path(raw):
    """The path with each segment percent-decoded, except '%' and '/' (kept encoded so that a
    decoded slash cannot split a segment).  Patterns match this form, so they can use literal
    quotes and parentheses however the client encoded them."""
    return "/".join(unquote(s).replace("%", "%25").replace("/", "%2F") for s in raw.split("/"))


class Router:
    """Matches a path against a service's table.  A path no route matches goes to `not_found`;
    a path some route matches, but for other methods, goes to `not_allowed`.  Patterns are
    anchored at both ends."""

    def __init__(self, service, table, not_found, not_allowed, flags=0):
        self.routes = [(method, re.compile("^%s$" % pattern, flags), getattr(service, handler))
                       for method, pattern, handler in table]
        self.not_found = not_found
        self.not_allowed = not_allowed

    def dispatch(self, req, raw_path, **context):
        path = canonical_path(raw_path)
        path_matched = False
        for method, rx, handler in self.routes:
            m = rx.match(path)
            if m is None:
                continue
            if method != req.method:
                path_matched = True
                continue
            args = {k: (unquote(v) if v is not None else None) for k, v in m.groupdict().items()}
            return handler(req, **context, **args)
        raise (self.not_allowed if path_matched else self.not_found)(req)


class Service:
    """A service of the fake cloud: its ROUTES dispatched by a Router to its handlers, which
    answer a path no route knows with `not_found` and a known path with the wrong method with
    `not_allowed`.  ROUTE_FLAGS are the patterns' regex flags."""

    ROUTE_FLAGS = 0

    def __init__(self, cloud):
        self.cloud = cloud
        self.router = Router(self, self.ROUTES, self.not_found, self.not_allowed, self.ROUTE_FLAGS)

    @property
    def w(self):
        return self.cloud.world
