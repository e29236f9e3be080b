# Rampart in a container. See docs/DEPLOYMENT.md ("Docker").
#   docker build -t rampart .
#   docker run -p 8080:8080 -v rampart-data:/var/lib/rampart rampart

# ---- build -------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, against stub sources: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
# Build settings (SQLite compile flags) apply to the dependency layer too.
COPY .cargo ./.cargo
RUN mkdir -p src tests/api \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs tests/api/main.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. COPY keeps the files' own modification times, which can be older than the stub
# build above; touching the crate roots makes cargo rebuild Rampart itself.
COPY src ./src
COPY migrations ./migrations
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -m 0755 target/release/rampart /usr/local/bin/rampart

# ---- run ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid so that host folders and volumes can be given to it.
RUN groupadd --system --gid 10001 rampart \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rampart --no-create-home \
      --shell /usr/sbin/nologin rampart \
 && install -d -o rampart -g rampart -m 0700 /var/lib/rampart

COPY --from=builder /usr/local/bin/rampart /usr/local/bin/rampart

ENV RAMPART_BIND=0.0.0.0:8080 RAMPART_DATA_DIR=/var/lib/rampart
EXPOSE 8080

# No HEALTHCHECK: the image has no HTTP client. Point the orchestrator at GET /healthz (liveness)
# and GET /readyz (readiness) instead.

USER rampart
ENTRYPOINT ["/usr/local/bin/rampart"]
CMD ["serve"]
