#!/usr/bin/env python3
"""Does the server give memory back after large requests?

Starts the release binary on a free port with a fresh SQLite database, and reads its resident
memory (VmRSS) when idle, then around each large request: a Patient of 16 MiB (the body limit;
some 300,000 identifiers), a transaction Bundle of 1,000 entries (the entry limit), and a
Bundle of 20,000 entries (refused by the limit). After each request it waits a few seconds and
reads the memory again. Standard library only.

    cargo build --release && python3 bench/memory_release.py --server target/release/pzp-fhir
"""

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def send(base, token, method, path, body):
    data = json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, len(data)
    except urllib.error.HTTPError as e:
        return e.code, len(data)


def big_patient():
    ids = [{"system": "urn:oid:2.16.528.1.1007.3.3.9", "value": f"id-{i:09d}"} for i in range(300_000)]
    return {"resourceType": "Patient", "identifier": ids}


def bundle(entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}",
         "resource": {"resourceType": "Patient", "name": [{"family": f"Naam{i}", "given": ["Jan"]}]},
         "request": {"method": "POST", "url": "Patient"}} for i in range(entries)]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait after a request")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        env = dict(os.environ, PZP_DATA_DIR=data, PZP_BIND=f"127.0.0.1:{port}", RUST_LOG="warn")
        token = subprocess.run([args.server, "token", "--role", "system", "--ura", "00000000",
                                "--scope", "system/*.cruds"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        server = subprocess.Popen([args.server], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            time.sleep(args.settle)
            idle = rss_mib(server.pid)
            print(f"| request | status | body MiB | RSS after | RSS {args.settle:.0f} s later |")
            print("|---|---:|---:|---:|---:|")
            print(f"| idle | | | {idle:.0f} MiB | |")
            for name, path, body in [
                ("Patient, 300,000 identifiers", "Patient", big_patient()),
                ("transaction, 1,000 entries", "", bundle(1_000)),
                ("transaction, 20,000 entries", "", bundle(20_000)),
                ("Patient, 300,000 identifiers, again", "Patient", big_patient()),
            ]:
                status, size = send(base, token, "POST", path, body)
                after = rss_mib(server.pid)
                time.sleep(args.settle)
                later = rss_mib(server.pid)
                print(f"| {name} | {status} | {size / 2**20:.1f} | {after:.0f} MiB | {later:.0f} MiB |")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
