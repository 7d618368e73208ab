# pzp-fhir container image.
#
#   docker build -t pzp-fhir .
#   docker run -p 8080:8080 -v pzp-data:/var/lib/pzp-fhir pzp-fhir
#
# Without PZP_DATABASE_URL the server keeps its SQLite file in the volume
# /var/lib/pzp-fhir; set PZP_DATABASE_URL=postgres://user:pass@host:5432/db to use
# PostgreSQL instead (see docker-compose.yml). Migrations run at start.
#
# The cache mounts below need BuildKit (the default builder since Docker 23).

# ---------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# libpq for diesel's postgres backend; SQLite is compiled in (bundled).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY . .

# The registry and target caches persist between builds, so an edit to src/
# recompiles only the workspace crates. target/ is a cache mount (not part of the
# image), so the binary is copied out within the same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin pzp-fhir \
    && install -D -m 0755 target/release/pzp-fhir /out/pzp-fhir

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
FROM debian:bookworm-slim

# libpq5: the binary links libpq. ca-certificates: TLS to a remote PostgreSQL.
# curl: only for the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged user (numeric ids, so runAsNonRoot-style checks can verify it).
RUN groupadd --system --gid 10001 pzp \
    && useradd --system --uid 10001 --gid pzp --home-dir /var/lib/pzp-fhir \
       --no-create-home --shell /usr/sbin/nologin pzp \
    && install -d -o pzp -g pzp -m 0750 /var/lib/pzp-fhir

COPY --from=builder /out/pzp-fhir /usr/local/bin/pzp-fhir

ENV PZP_BIND=0.0.0.0:8080 \
    PZP_DATA_DIR=/var/lib/pzp-fhir \
    RUST_LOG=info

VOLUME ["/var/lib/pzp-fhir"]
WORKDIR /var/lib/pzp-fhir
USER 10001:10001
EXPOSE 8080

# Liveness: GET /health on the port taken from PZP_BIND (readiness is GET /ready).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${PZP_BIND##*:}/health" || exit 1

ENTRYPOINT ["/usr/local/bin/pzp-fhir"]
