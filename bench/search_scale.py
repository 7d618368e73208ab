#!/usr/bin/env python3
"""Does an indexed search cost the same with ~1,000 and with ~100,000 stored resources?

For each dataset size this starts the given pzp-fhir binary on a fresh database (SQLite in a
temporary folder, or a new schema in the PostgreSQL named by --database-url), loads synthetic PZP
records (bench/generate.py), and times a handful of searches and a read from one client thread.
If the search index works, the latencies barely move between sizes; a query whose p50 grows with
the data is scanning somewhere.

    cargo build --release
    python3 bench/search_scale.py --server target/release/pzp-fhir --sizes 100,10000
"""

import argparse
import bisect
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402  (the dataset generator beside this file)

JSON = "application/fhir+json"
BUNDLE_ENTRIES = 200
TRANSACTION_LOADERS = 2
PUT_LOADERS = 8
RESOURCE_TYPES = ["Patient", "Practitioner", "Encounter", "Consent", "Observation", "Goal"]


# The bearer token of the server under test (a trusted integration, minted with its
# development key); None for a build from before authentication.
TOKEN = None


class Client:
    """One keep-alive HTTP connection, so timings are the server's work and not TCP setup."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, body=None):
        """(status, body). Every request here is safe to repeat (reads, PUTs of fixed ids and
        transactions of such PUTs), so one whose idle connection the server had closed is
        sent again."""
        headers = {"Accept": JSON}
        if TOKEN:
            headers["Authorization"] = f"Bearer {TOKEN}"
        if body is not None:
            headers["Content-Type"] = JSON
        try:
            return self._send(method, path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()  # the next request opens a new connection
            return self._send(method, path, body, headers)

    def _send(self, method, path, body, headers):
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def get_json(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_psql(database_url, sql):
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-d", database_url, "-c", sql],
                   check=True)


class Server:
    """The binary under test on a free port and a database of its own, stopped on exit."""

    def __init__(self, binary, postgres_url=None, schema=None, keep=False):
        """`schema`: an existing PostgreSQL schema to serve instead of a new one; `keep`: leave
        the schema in place on exit (for EXPLAIN, or to measure another build on the same data)."""
        self.binary = os.path.abspath(binary)
        self.postgres_url = postgres_url
        self.reuse, self.keep = schema, keep or schema is not None
        self.port = free_port()

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="pzp-bench-")
        env = dict(os.environ, PZP_BIND=f"127.0.0.1:{self.port}", PZP_DATA_DIR=self.dir.name)
        env.setdefault("RUST_LOG", "warn")  # one log line per request would be measured too
        self.schema = None
        if self.postgres_url:
            self.schema = self.reuse or f"bench_{secrets.token_hex(4)}"
            if not self.reuse:
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
        except BaseException:
            self.__exit__(None, None, None)
            raise
        global TOKEN
        minted = subprocess.run([self.binary, "token", "--minutes", "720"], env=env,
                                capture_output=True, text=True, cwd=self.dir.name)
        TOKEN = minted.stdout.strip() if minted.returncode == 0 else None
        return self

    def _wait_ready(self, timeout=120, path="/ready"):
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{path}"
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
        """Refreshes PostgreSQL's planner statistics after the bulk load, as autovacuum would in
        production; a test database may run without autovacuum, and then the planner keeps
        taking the index tables for empty."""
        if self.schema:
            run_psql(self.postgres_url, f"""DO $$ DECLARE t text; BEGIN
                FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '{self.schema}' LOOP
                    EXECUTE format('ANALYZE %I.%I', '{self.schema}', t);
                END LOOP; END $$""")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self.schema and not self.keep:
            run_psql(self.postgres_url,
                     f"SET client_min_messages = warning; DROP SCHEMA {self.schema} CASCADE")
        self.dir.cleanup()


def prepare(patients, seed):
    """The request bodies for both load paths, serialized before any clock starts, and the
    Patient resources (to pick query values from)."""
    resources, bundles, puts, chunk = [], [], [], []
    for resource in generate.generate(patients, seed):
        if resource["resourceType"] == "Patient":
            resources.append(resource)
        url = f"{resource['resourceType']}/{resource['id']}"
        puts.append((url, json.dumps(resource, ensure_ascii=False).encode()))
        chunk.append({"resource": resource, "request": {"method": "PUT", "url": url}})
        if len(chunk) == BUNDLE_ENTRIES:
            bundles.append(chunk)
            chunk = []
    if chunk:
        bundles.append(chunk)
    bodies = [json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries},
                         ensure_ascii=False).encode() for entries in bundles]
    return resources, bodies, puts


def run_parallel(port, workers, jobs, send):
    """Runs `send(client, job)` for every job on `workers` threads, one connection each."""
    local = threading.local()

    def work(job):
        if not hasattr(local, "client"):
            local.client = Client(port)
        send(local.client, job)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(work, jobs):
            pass


def load(port, bodies, puts):
    """Loads the dataset; returns (how, seconds)."""
    def expect(status, body, what, ok):
        if status not in ok:
            raise RuntimeError(f"{what}: {status} {body[:500]!r}")

    def post_bundle(client, body):
        status, answer = client.request("POST", "/", body)
        expect(status, answer, "transaction", (200,))

    def put(client, job):
        url, body = job
        status, answer = client.request("PUT", "/" + url, body)
        expect(status, answer, f"PUT {url}", (200, 201))

    start = time.perf_counter()
    # The first Bundle tells whether the server takes transactions yet.
    status, answer = Client(port).request("POST", "/", bodies[0])
    if status in (404, 405):
        how = f"individual PUTs, {PUT_LOADERS} workers (POST / answered {status})"
        run_parallel(port, PUT_LOADERS, puts, put)
    else:
        expect(status, answer, "transaction", (200,))
        how = f"transaction Bundles of {BUNDLE_ENTRIES} entries, {TRANSACTION_LOADERS} loaders"
        run_parallel(port, TRANSACTION_LOADERS, bodies[1:], post_bundle)
    return how, time.perf_counter() - start


def normalize(text):
    """Lower case without accents, the way string search parameters compare."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def rare_family(patients):
    """The family name, nearest the middle patient, that starts no other patient's family name
    (so `family=` has about one match at every size)."""
    families = sorted(normalize(p["name"][0]["family"]) for p in patients)
    middle = len(patients) // 2
    by_distance = sorted(range(len(patients)), key=lambda i: abs(i - middle))
    for i in by_distance:
        family = patients[i]["name"][0]["family"]
        key = normalize(family)
        lo = bisect.bisect_left(families, key)
        hi = bisect.bisect_left(families, key + "\uffff")
        if hi - lo == 1:
            return family
    return patients[middle]["name"][0]["family"]


def queries(patients):
    """(label, path) of the measured requests, all about the patient in the middle."""
    patient = patients[len(patients) // 2]
    pid, bsn = patient["id"], patient["identifier"][0]["value"]
    q = urllib.parse.quote
    return [
        ("Patient?identifier=bsn|…", f"/Patient?identifier={q(generate.BSN + '|' + bsn)}"),
        ("Consent?patient&scope&category",
         f"/Consent?patient={pid}&scope={q(generate.CONSENT_SCOPE + '|treatment')}"
         f"&category={q(generate.SNOMED + '|' + generate.TREATMENT_DIRECTIVE_CATEGORY)}"),
        ("Observation?subject&code",
         f"/Observation?subject=Patient/{pid}&code={q(generate.SNOMED + '|395091006')}"),
        ("Patient?family=…", f"/Patient?family={q(rare_family(patients))}"),
        ("read Patient/id", f"/Patient/{pid}"),
    ]


def measure(port, path, warmup, repeat):
    """Latencies in ms of `repeat` sequential requests after `warmup` unmeasured ones, and the
    number of matches (the Bundle total; 1 for a read)."""
    client = Client(port)
    for _ in range(warmup):
        client.request("GET", path)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        status, body = client.request("GET", path)
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
    answer = json.loads(body)
    matches = answer.get("total", "?") if answer["resourceType"] == "Bundle" else 1
    return times, matches


def stored(port):
    """How many current resources the server holds, by asking it."""
    client = Client(port)
    return sum(client.get_json(f"/{t}?_count=1&_total=accurate")["total"]
               for t in RESOURCE_TYPES)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.machine()}, {cpu}, {os.cpu_count()} cores, load average {load}"


def backend(database_url):
    if not database_url:
        return "SQLite"
    version = subprocess.run(["psql", "-Atq", "-d", database_url, "-c", "SHOW server_version"],
                             check=True, capture_output=True, text=True).stdout.strip()
    return f"PostgreSQL {version} (ANALYZE after loading)"


def run_size(args, size):
    """Loads `size` patients into a fresh server and measures every query; returns the load
    row and the result rows of the report."""
    def progress(message):
        print(f"{size} patients: {message}", file=sys.stderr, flush=True)

    progress("generating")
    patients, bodies, puts = prepare(size, args.seed)
    with Server(args.server, args.database_url) as server:
        progress(f"loading {len(puts)} resources")
        how, seconds = load(server.port, bodies, puts)
        count = stored(server.port)
        if count != len(puts):
            raise RuntimeError(f"loaded {len(puts)} resources but the server holds {count}")
        progress(f"loaded via {how} in {seconds:.1f} s")
        server.analyze()
        rows = []
        for label, path in queries(patients):
            times, matches = measure(server.port, path, args.warmup, args.requests)
            cuts = statistics.quantiles(times, n=100, method="inclusive")
            rows.append((size, count, label, matches, cuts[49], cuts[94], cuts[98],
                         1000 * len(times) / sum(times)))
            progress(f"{label}: p50 {cuts[49]:.2f} ms")
    return (size, count, how, seconds), rows


def markdown(header, loads, results):
    lines = [header, "",
             "| patients | resources stored | query | matches | p50 ms | p95 ms | p99 ms | req/s |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for size, count, label, matches, p50, p95, p99, rps in results:
        query = label.replace("|", "\\|")  # a bare | would end the table cell
        lines.append(f"| {size} | {count} | `{query}` | {matches} "
                     f"| {p50:.2f} | {p95:.2f} | {p99:.2f} | {rps:.0f} |")
    lines += ["", "| patients | resources | load path | seconds | resources/s |",
              "|---:|---:|---|---:|---:|"]
    lines += [f"| {size} | {count} | {how} | {seconds:.1f} | {count / seconds:.0f} |"
              for size, count, how, seconds in loads]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the pzp-fhir binary to start")
    parser.add_argument("--sizes", default="100,10000",
                        help="comma-separated patient counts (10 resources each)")
    parser.add_argument("--database-url", help="postgres://... to run on PostgreSQL "
                        "(a fresh schema per size, dropped afterwards); SQLite when absent")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per query")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    args = parser.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"Search latency by dataset size: {now}, {machine()}, "
              f"{backend(args.database_url)}; one client thread, {args.requests} requests per "
              f"query after {args.warmup} warm-up requests.")
    loads, results = [], []
    for size in (int(s) for s in args.sizes.split(",")):
        load_row, rows = run_size(args, size)
        loads.append(load_row)
        results += rows
    text = markdown(header, loads, results)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
