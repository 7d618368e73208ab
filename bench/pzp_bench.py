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
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
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
  if method == "GET" then
    return wrk.format("GET", line, {["Authorization"] = "Bearer " .. token,
                                    ["Accept"] = "application/fhir+json"})
  end
  local tab = line:find("\t", 1, true)
  return wrk.format(method, line:sub(1, tab - 1),
                    {["Authorization"] = "Bearer " .. token,
                     ["Accept"] = "application/fhir+json",
                     ["Content-Type"] = "application/fhir+json"},
                    line:sub(tab + 1))
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

# The bearer token of the server under test (a trusted integration of URA 00000000).
TOKEN = None


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
        headers = {"Accept": JSON, "Authorization": f"Bearer {TOKEN}"}
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


class Server:
    """The binary under test on a free port with a database of its own, stopped on exit."""

    def __init__(self, binary, postgres_url=None):
        self.binary = os.path.abspath(binary)
        self.postgres_url = postgres_url
        self.port = free_port()

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="pzp-bench-")
        env = dict(os.environ, PZP_BIND=f"127.0.0.1:{self.port}", PZP_DATA_DIR=self.dir.name)
        env.setdefault("RUST_LOG", "warn")  # a log line per request would be measured too
        self.schema = None
        if self.postgres_url:
            self.schema = f"pzpbench_{secrets.token_hex(4)}"
            run_psql(self.postgres_url, f"CREATE SCHEMA {self.schema}")
            sep = "&" if "?" in self.postgres_url else "?"
            env["PZP_DATABASE_URL"] = (
                f"{self.postgres_url}{sep}options=-csearch_path%3D{self.schema}")
        else:
            env["PZP_DATABASE_URL"] = f"sqlite://{os.path.join(self.dir.name, 'pzp.sqlite')}"
        self.log_path = os.path.join(self.dir.name, "server.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([self.binary], env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=self.dir.name)
        try:
            self._wait_ready()
            global TOKEN
            minted = subprocess.run([self.binary, "token", "--minutes", "720"], env=env,
                                    capture_output=True, text=True, cwd=self.dir.name)
            if minted.returncode != 0:
                raise RuntimeError(f"pzp-fhir token failed: {minted.stderr}")
            TOKEN = minted.stdout.strip()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def analyze(self):
        """Planner statistics after the bulk load, as autovacuum would gather them."""
        if self.schema:
            run_psql(self.postgres_url, f"""DO $$ DECLARE t text; BEGIN
                FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '{self.schema}' LOOP
                    EXECUTE format('ANALYZE %I.%I', '{self.schema}', t);
                END LOOP; END $$""")

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            progress(f"the server's log (RUST_LOG={os.environ.get('RUST_LOG', 'warn')}), "
                     f"last lines:\n{self.log_tail()}")
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self.schema:
            run_psql(self.postgres_url,
                     f"SET client_min_messages = warning; DROP SCHEMA {self.schema} CASCADE")
        self.dir.cleanup()


# --- the dataset -------------------------------------------------------------------------------

class Dataset:
    """The serialized transaction Bundles of `patients` plans, and what the queries pick from."""

    def __init__(self, patients, seed, per_bundle):
        self.directory = None
        self.bodies = []
        self.resources = 0
        self.patients = []  # (id, encounter id, BSN, family name)
        for kind, numbers, bundle in pzp_dataset.bundles(patients, seed, per_bundle):
            body = json.dumps(bundle, ensure_ascii=False).encode()
            self.resources += len(bundle["entry"])
            if kind == "directory":
                self.directory = body
                continue
            self.bodies.append(body)
            for entry in bundle["entry"]:
                r = entry["resource"]
                if r["resourceType"] == "Patient":
                    pid, enc = pzp_dataset.patient_ids(int(r["id"].rsplit("-", 1)[1]))
                    self.patients.append((pid, enc, r["identifier"][0]["value"],
                                          r["name"][0]["family"]))


def transaction_problems(answer):
    """The warnings the server put in a transaction-response, as short texts."""
    found = []
    for entry in json.loads(answer).get("entry", []):
        for issue in (entry.get("response", {}).get("outcome") or {}).get("issue", []):
            found.append(f"{issue.get('severity')}: {issue.get('diagnostics')}")
    return found


def load(port, data, loaders, tag=""):
    """Loads the directory, then the patients' Bundles from `loaders` threads; returns
    (seconds, warnings). Reports progress every tenth of the Bundles."""
    warnings = []
    lock = threading.Lock()
    local = threading.local()
    done = [0]
    step = max(1, len(data.bodies) // 10)

    def post(body):
        if not hasattr(local, "client"):
            local.client = Client(port)
        status, answer = local.client.request("POST", "/", body)
        if status != 200:
            raise RuntimeError(f"transaction answered {status}: "
                               f"{answer[:3000].decode(errors='replace')}")
        found = transaction_problems(answer)
        with lock:
            warnings.extend(found)
            if body is data.directory:
                return
            done[0] += 1
            if done[0] % step == 0 and done[0] < len(data.bodies):
                elapsed = time.perf_counter() - start
                progress(f"{tag}: {done[0]}/{len(data.bodies)} Bundles in {elapsed:.0f} s, "
                         f"{done[0] / elapsed:.1f} Bundles/s")

    start = time.perf_counter()
    post(data.directory)
    with concurrent.futures.ThreadPoolExecutor(loaders) as pool:
        for _ in pool.map(post, data.bodies):
            pass
    return time.perf_counter() - start, warnings


def stored(port):
    client = Client(port)
    return sum(client.get_json(f"/{t}?_count=1")["total"] for t in RESOURCE_TYPES)


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
        ("`Patient/$pzp-summary?identifier=<bsn>`", "GET",
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
        types = sorted({e["resource"]["resourceType"] for e in doc.get("entry", [])})
        if "pzp-summary" in path:
            sections = doc["entry"][0]["resource"].get("section", [])
            return f"document, {len(doc['entry'])} entries, {len(sections)} sections"
        return f"total {doc.get('total', '?')}, entries {len(doc.get('entry', []))} ({', '.join(types)})"
    return f"{doc['resourceType']} {status}"


def run_wrk(port, method, list_file, script, seconds, clients, threads, seed, timeout):
    """One wrk run; returns its numbers (latency in ms)."""
    command = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
               "--timeout", f"{timeout}s", "-s", script, f"http://127.0.0.1:{port}",
               "--", method, list_file, TOKEN, str(seed)]
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


def run_one(args, backend, size, binary, workdir, data):
    """Loads `data` into a fresh server on `backend` and measures every request type; returns
    the ingest record and the result rows."""
    postgres = args.database_url if backend == "postgres" else None
    tag = f"{backend} {size}"
    with Server(binary, postgres) as server:
        progress(f"{tag}: loading {data.resources} resources in {len(data.bodies) + 1} Bundles")
        seconds, warnings = load(server.port, data, args.loaders, tag)
        count = stored(server.port)
        ingest = {"backend": backend, "patients": size, "resources": data.resources,
                  "stored": count, "seconds": seconds, "rate": data.resources / seconds,
                  "warnings": warnings, "bundles": len(data.bodies) + 1}
        progress(f"{tag}: loaded in {seconds:.1f} s ({data.resources / seconds:.0f} resources/s), "
                 f"server holds {count}, {len(warnings)} warnings")
        if count != data.resources:
            raise RuntimeError(f"loaded {data.resources} resources but the server holds {count}")
        if postgres:
            started = time.perf_counter()
            server.analyze()
            progress(f"{tag}: ANALYZE in {time.perf_counter() - started:.1f} s")
        script = os.path.join(workdir, "pick.lua")
        with open(script, "w", encoding="utf-8") as f:
            f.write(LUA_SCRIPT)
        rows = []
        for n, (label, method, lines) in enumerate(request_lists(data, args.seed)):
            note = check_sample(server.port, label, method, lines)
            list_file = os.path.join(workdir, f"requests-{n}.txt")
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
            result = measure(args.duration)
            result.update(backend=backend, patients=size, resources=count, query=label,
                          sample=note)
            rows.append(result)
            progress(f"{tag}: {label}: {result['rps']:.1f} req/s, p50 {result['p50']:.1f} ms, "
                     f"p99 {result['p99']:.1f} ms, {result['errors']} errors ({note})")
    return ingest, rows


def markdown(header, ingests, rows):
    cell = lambda s: s.replace("|", "\\|")  # noqa: E731  (a bare | would end the table cell)
    lines = [header, "",
             "| backend | patients | resources | query | req/s | p50 ms | p99 ms | errors |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['patients']} | {r['resources']} | {cell(r['query'])} "
                     f"| {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} |")
    lines.append("")
    for i in ingests:
        lines.append(f"- Ingest {i['backend']}, {i['patients']} patients: {i['resources']} "
                     f"resources in {i['bundles']} transaction Bundles in {i['seconds']:.1f} s = "
                     f"**{i['rate']:.0f} resources/s** (server holds {i['stored']}; "
                     f"{len(i['warnings'])} warnings in the responses)")
    notes = [r for r in rows if r["errors"]]
    if notes:
        lines.append("")
        for r in notes:
            lines.append(f"- Errors, {r['backend']} {r['patients']} {cell(r['query'])}: "
                         f"{r['non2xx']} non-2xx, {r['socket_errors']} socket errors/timeouts; "
                         f"first: `{cell(r['first_bad'][:300])}`")
    lines += ["", "One request of each type, sent before measuring, answered:", ""]
    for r in rows:
        lines.append(f"- {r['backend']} {r['patients']}, {cell(r['query'])}: {r['sample']}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True,
                        help="the server binary to start (pzp-fhir, or one that behaves alike)")
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
    parser.add_argument("--no-wrk", action="store_true",
                        help="use the Python thread pool even when wrk is installed")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    args = parser.parse_args()
    args.wrk = shutil.which("wrk") is not None and not args.no_wrk
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    sizes = [int(s) for s in args.sizes.split(",")]

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
    header = "\n".join([
        f"PZP server benchmark, {now}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Backends: {'; '.join(backend_names)}",
        f"- Load: transaction Bundles of {args.per_bundle} patients (PUT), {args.loaders} loader "
        f"threads, after one Bundle with the directory of 450 Organizations, Practitioners and "
        f"PractitionerRoles",
        f"- Measurement: {driver}, {args.clients} connections, {args.warmup:g} s warm-up then "
        f"{args.duration:g} s per query; each request picks a random patient; create runs last",
    ])

    results_dir = tempfile.TemporaryDirectory(prefix="pzp-bench-run-")
    try:
        # The binary is copied first, so that a rebuild during the run does not mix builds.
        binary = os.path.join(results_dir.name, os.path.basename(args.server))
        shutil.copy2(args.server, binary)
        ingests, rows = [], []
        for size in sizes:
            progress(f"generating {size} patients")
            data = Dataset(size, args.seed, args.per_bundle)
            for backend in backends:
                t0 = time.perf_counter()
                ingest, measured = run_one(args, backend, size, binary, results_dir.name, data)
                ingests.append(ingest)
                rows += measured
                progress(f"{backend} {size}: done in {time.perf_counter() - t0:.0f} s")
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
