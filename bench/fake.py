#!/usr/bin/python3
# Copyright (c) 2026, peering developers
# Released under the PostgreSQL License (see LICENSE).
"""bench/run.sh's hands on the simulated cloud (test/fakecloud): seeding, the request log
summed up by kind, and the fake's own throughput.  Standard library only; loopback only.

    fake.py WORLD_JSON seed JSON                 POST /_fake/seed, print the answer
    fake.py WORLD_JSON reset | clear-log         a fresh world | an empty request log
    fake.py WORLD_JSON vpcs N [FIRST_CIDR]       N new project VPCs, each its own /24; their ids, one a line
    fake.py WORLD_JSON vnets N                   N new VNets vnet-bulk-J (10.J.0.0/16) in rg-bench
    fake.py WORLD_JSON mesh N VNETS VPCS CSV     N ACTIVE peerings; CSV of peering.connections rows
    fake.py WORLD_JSON log-summary               the request log since clear-log, by kind (JSON)
    fake.py WORLD_JSON throughput CLIENTS N SECS GET loop: requests/s the fake serves
"""

import csv
import http.client
import json
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit, urlencode

ARM_NET = "2024-05-01"


class Fake:
    def __init__(self, world_file):
        with open(world_file) as f:
            self.w = json.load(f)
        u = urlsplit(self.w["base_url"])
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=self.w["ca_file"])
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        """(status, parsed JSON) over one kept-alive connection."""
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {}, **({"Content-Type": "application/json"} if data else {}))
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=120)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def control(self, method, path, body=None):
        status, out = self.call(method, "/_fake" + path, body)
        if status != 200:
            sys.exit("fake %s %s: %s %s" % (method, path, status, out))
        return out

    def seed(self, **body):
        return self.control("POST", "/seed", body)

    def secret(self, key):
        with open(self.w[key]) as f:
            return f.read().strip()

    def arm_token(self):
        form = urlencode({"grant_type": "client_credentials", "client_id": self.w["admin_client_id"],
                          "client_secret": self.secret("admin_secret_file"),
                          "scope": "https://management.azure.com/.default"})
        self.conn = self.conn or http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=120)
        self.conn.request("POST", "/login/%s/oauth2/v2.0/token" % self.w["tenant_id"], body=form,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = self.conn.getresponse()
        return json.loads(r.read())["access_token"]


def new_vpcs(fake, count, first_cidr="10.100.0.0/24"):
    out = fake.seed(aiven_vpcs=[{"cloud_name": "azure-westeurope", "network_cidr": first_cidr, "count": count}])
    return [v["project_vpc_id"] for v in out["aiven_vpcs"]]


def mesh_pairs(count, vnets, vpcs):
    """(VNet index, VPC index) of each peering: each VNet peers with a run of consecutive VPCs,
    so that every VPC has count/vpcs connections and every VNet count/vnets."""
    per_vnet = -(-count // vnets)
    return [(j, (j * per_vnet + m) % vpcs) for j in range(vnets) for m in range(per_vnet)
            if j * per_vnet + m < count]


CSV_COLUMNS = ("project", "project_vpc_id", "subscription_id", "resource_group", "vnet_name", "peering_name",
               "tenant_id", "vnet_id", "app_id", "to_tenant_id", "to_network_id", "azure_peering_id")


def mesh(fake, count, vnets, vpcs, csv_file):
    """Seeds `count` ACTIVE peerings between new VNets and new project VPCs, and writes the
    matching rows of peering.connections (CSV_COLUMNS) for run.sh to COPY."""
    W = fake.w
    sub, rg = W["subscription_id"], "rg-bench"
    fake.seed(vnets=[{"resource_group": rg, "name": "vnet-bench-%d" % j, "address_prefixes": ["10.%d.0.0/16" % j]}
                     for j in range(vnets)])
    vpc_ids = new_vpcs(fake, vpcs)
    pairs = mesh_pairs(count, vnets, vpcs)
    specs = [{"project_vpc_id": vpc_ids[k], "subscription": sub, "resource_group": rg, "vnet": "vnet-bench-%d" % j,
              "peering_name": "peering-bench-%d" % k} for j, k in pairs]
    seeded = []
    for i in range(0, len(specs), 2000):  # bounded request bodies
        seeded += fake.seed(active_peerings=specs[i:i + 2000])["active_peerings"]
    with open(csv_file, "w", newline="") as f:
        out = csv.writer(f)
        for spec, s in zip(specs, seeded):
            vnet_id = s["peering_id"].rsplit("/virtualNetworkPeerings/", 1)[0]
            out.writerow([W["project"], spec["project_vpc_id"], sub, rg, spec["vnet"], spec["peering_name"],
                          W["tenant_id"], vnet_id, s["app_id"], s["to_tenant_id"], s["to_network_id"],
                          s["peering_id"]])


def kind_of(e):
    """service, and for ARM whether the request writes."""
    service = e["path"].split("/", 2)[1]
    return service, service == "arm" and e["method"] in ("PUT", "PATCH", "DELETE", "POST")


def log_summary(fake):
    log = fake.control("GET", "/requests")["requests"]
    by_service = {}
    for e in log:
        by_service[kind_of(e)[0]] = by_service.get(kind_of(e)[0], 0) + 1
    return {"requests": len(log), "by_service": by_service,
            "arm_writes": sum(1 for e in log if kind_of(e)[1]),
            "role_definition_puts": sum(1 for e in log if e["method"] == "PUT" and "/roleDefinitions/" in e["path"]),
            "aiven_vpc_gets": sum(1 for e in log if e["method"] == "GET" and e["path"].startswith("/aiven/")
                                  and "/vpcs/" in e["path"]),
            "aiven_service_lists": sum(1 for e in log if e["method"] == "GET" and e["path"].startswith("/aiven/")
                                       and e["path"].endswith("/service")),
            "arm_peering_lists": sum(1 for e in log if e["method"] == "GET" and
                                     e["path"].endswith("/virtualNetworkPeerings")),
            "span_s": round(log[-1]["time"] - log[0]["time"], 3) if log else 0.0,
            "failed": sum(1 for e in log if not 200 <= (e["status"] or 0) < 300)}


def throughput(fake, clients, total, seconds):
    """`clients` threads, each with its own kept-alive connection, share `total` GETs (an Aiven
    VPC and an ARM peering list, alternately; both answers independent of the world's size),
    stopping early after `seconds`.  Prints requests per second."""
    W = fake.w
    aiven = ("/aiven/v1/project/%s/vpcs/%s" % (W["project"], W["project_vpc_id"]),
             {"Authorization": "aivenv1 " + fake.secret("aiven_token_file")})
    arm = ("/arm%s/virtualNetworkPeerings?api-version=%s" % (W["vnet_id"], ARM_NET),
           {"Authorization": "Bearer " + fake.arm_token()})
    done, errors, lock = [0], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        me = Fake.__new__(Fake)
        me.__dict__.update(fake.__dict__, conn=None)
        while time.monotonic() < deadline:
            with lock:
                if done[0] >= total:
                    return
                done[0] += 1
                n = done[0]
            path, headers = aiven if n % 2 else arm
            status, _ = me.call("GET", path, headers=headers)
            if status != 200:
                with lock:
                    errors[0] += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    print(json.dumps({"requests": done[0], "seconds": round(elapsed, 3), "per_second": round(done[0] / elapsed, 1),
                      "errors": errors[0]}))


def census(fake, vnet):
    """What the cloud holds for the peerings of one VNet (or of every VNet whose name starts with
    what precedes a final "*"): applications of the extension, customer-side Azure peerings,
    live Aiven connections."""
    w = fake.control("GET", "/world")

    def named(name):
        return name.lower().startswith(vnet[:-1].lower()) if vnet.endswith("*") else name.lower() == vnet.lower()
    apps = [a for a in w["applications"] if (a.get("uniqueName") or "").startswith("peering-")]
    peerings = [p for v in w["virtualNetworks"] if named(v["name"])
                for p in v["peerings"] if p.get("owner", "customer") == "customer"]
    conns = [c for p in w["aiven"]["projects"] for v in p["vpcs"]
             for c in v.get("peering_connections") or []
             if named(c["peer_vpc"]) and c["state"] != "DELETED"]
    return {"applications": len(apps), "azure_peerings": len(peerings), "aiven_connections": len(conns)}


def main(argv):
    fake, cmd, args = Fake(argv[1]), argv[2], argv[3:]
    if cmd == "seed":
        print(json.dumps(fake.seed(**json.loads(args[0]))))
    elif cmd == "reset":
        fake.control("POST", "/reset")
    elif cmd == "clear-log":
        fake.control("DELETE", "/requests")
    elif cmd == "vpcs":
        print("\n".join(new_vpcs(fake, int(args[0]), *args[1:2])))
    elif cmd == "vnets":
        fake.seed(vnets=[{"resource_group": "rg-bench", "name": "vnet-bulk-%d" % j,
                          "address_prefixes": ["10.%d.0.0/16" % j]} for j in range(int(args[0]))])
    elif cmd == "mesh":
        mesh(fake, int(args[0]), int(args[1]), int(args[2]), args[3])
    elif cmd == "census":
        print(json.dumps(census(fake, args[0])))
    elif cmd == "log-summary":
        print(json.dumps(log_summary(fake)))
    elif cmd == "throughput":
        throughput(fake, int(args[0]), int(args[1]), float(args[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
