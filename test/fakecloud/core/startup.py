# Copyright (c) 2026, peering developers
"""Start-up: the command line, a throwaway CA and server certificate, the secret files and
world.json, then serve until SIGTERM or SIGINT."""

import argparse
import json
import os
import signal
import ssl
import subprocess
import threading

from .cloud import Cloud
from .common import did, NETWORK_CONTRIBUTOR_ROLE, vnet_id
from .scenario import ids, SCENARIOS
from .server import FakeServer


def write_secret(path, text):
    """A file only its owner may read (mode 0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make_certs(d):
    """A throwaway CA (CA:TRUE) and a server certificate for 127.0.0.1 and localhost, by openssl."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    srv_key, srv_csr, srv_crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")
    for p in (ca_key, srv_key):
        write_secret(p, "")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "30",
        "-subj", "/CN=fakecloud throwaway test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", srv_key, "-out", srv_csr, "-subj", "/CN=localhost")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", srv_csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial",
        str(int.from_bytes(os.urandom(8), "big")), "-out", srv_crt, "-days", "30", "-extfile", ext)
    os.chmod(ca_key, 0o600)
    os.chmod(srv_key, 0o600)
    for p in (srv_csr, ext):
        os.unlink(p)
    return ca_crt, srv_crt, srv_key


def write_world(d, cloud, port):
    """world.json: the contract keys the tests read, plus conveniences; secrets only as file names."""
    I = ids()
    files = {"admin_secret_file": ("admin.secret", cloud.static["admin_secret"]),
             "limited_secret_file": ("limited.secret", cloud.static["limited_secret"]),
             "aiven_token_file": ("aiven.token", cloud.static["aiven_token"]),
             "other_aiven_token_file": ("other-aiven.token", cloud.static["other_aiven_token"])}
    world = {"base_url": cloud.base_url, "ca_file": os.path.join(d, "ca.crt"), "port": port,
             "scenario": cloud.scenario, "pid": os.getpid(),
             "login_url": cloud.base_url + "/login", "graph_url": cloud.base_url + "/graph",
             "arm_url": cloud.base_url + "/arm", "aiven_url": cloud.base_url + "/aiven"}
    for key, (name, secret) in files.items():
        p = os.path.join(d, name)
        write_secret(p, secret)
        world[key] = p
    world.update(I)
    world["vnet_id"] = vnet_id(I["subscription_id"], I["resource_group"], I["vnet_name"])
    world["admin_sp_id"] = did("sp:admin")
    world["limited_sp_id"] = did("sp:limited")
    with cloud.lock:
        world["provider_vnet_id"] = cloud.world.projects[I["project"]].vpcs[I["project_vpc_id"]].provider_vnet_id
    world["network_contributor_role_id"] = NETWORK_CONTRIBUTOR_ROLE
    tmp = os.path.join(d, ".world.json.tmp")
    with open(tmp, "w") as f:
        json.dump(world, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(d, "world.json"))


def main(argv=None):
    ap = argparse.ArgumentParser(description="HTTPS fake of Entra ID, Graph, ARM and Aiven for peering tests")
    ap.add_argument("--dir", required=True, help="directory for ca.crt, world.json and secret files")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="test")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="added latency per cloud request")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    ca_crt, srv_crt, srv_key = make_certs(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(srv_crt, srv_key)

    cloud = Cloud(args.scenario, "https://127.0.0.1:0", args.latency_ms)
    server = FakeServer(("127.0.0.1", args.port), ctx, cloud, verbose=args.verbose)
    port = server.server_address[1]
    cloud.base_url = "https://127.0.0.1:%d" % port
    write_world(d, cloud, port)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    print("fakecloud listening on %s" % cloud.base_url, flush=True)
    while not stop.is_set():
        stop.wait(0.5)
    server.shutdown()
    server.server_close()
    return 0
