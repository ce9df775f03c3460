# syntax=docker/dockerfile:1
#
# adrec container image: one Rust binary on a slim Debian, run as a non-root user.
# The same image runs on App Runner and on ECS Fargate (infra/adrec.yaml); both run x86_64 here,
# so on an arm64 laptop build with `docker build --platform linux/amd64 -t adrec .`.
#
# Stages: builder (Rust toolchain, deps layer cached apart from our source) -> runtime (no compiler).

############################## builder ##############################
# rustc 1.95 is the project's toolchain (Cargo.toml: rust-version = "1.94"). bookworm so the binary's
# glibc matches the runtime stage below exactly.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build

# 1) Dependencies only. This layer depends on Cargo.toml + Cargo.lock alone, so editing src/ does not
#    recompile DataFusion, the AWS SDK & co (~8 min on 2 cores). Stub targets stand in for our crate;
#    if a build.rs or another explicit [[bin]]/[[test]] path is added to Cargo.toml, stub it here too.
#    Afterwards everything built from the stubs is deleted: COPY keeps the real sources' (older)
#    mtimes, so cargo's mtime check could otherwise take the stub artifacts as up to date.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin adrec \
    && rm -rf src target/release/adrec target/release/adrec.d \
        target/release/deps/adrec-* target/release/deps/libadrec-* \
        target/release/.fingerprint/adrec-*

# 2) Our crate. The binary embeds files with include_str! from sql/ (migrations), queries/
#    (DataFusion SQL) and static/ (the /docs page), so they must be present at compile time.
COPY src ./src
COPY sql ./sql
COPY queries ./queries
COPY static ./static
# The --help check proves we ship the real binary, not the stub (which prints nothing).
RUN cargo build --release --locked --bin adrec \
    && ./target/release/adrec --help > /tmp/help.txt \
    && grep -q serve /tmp/help.txt

############################## runtime ##############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to S3 and other AWS endpoints. Versions are not pinned: bookworm-slim only
# gets security updates, and a pinned version disappears from the mirror when it is superseded.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 adrec \
    && useradd --system --uid 10001 --gid adrec --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin adrec

# Amazon RDS server certificates chain to Amazon's own CAs, which are not in the Mozilla/Debian
# roots, so TLS to RDS (rds.force_ssl=1, sslmode=verify-full) needs this bundle. It is fetched at
# build time (the build host has internet; App Runner/Fargate tasks need not). ADD from a URL
# would write mode 0600 owned by root, unreadable for the service user, hence --chmod.
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
    /etc/ssl/certs/rds-global-bundle.pem
# Fail the build, not the first database connection, if the download was not a PEM bundle.
RUN grep -q -- '-----BEGIN CERTIFICATE-----' /etc/ssl/certs/rds-global-bundle.pem

COPY --from=builder /build/target/release/adrec /usr/local/bin/adrec

# The service reads PGSSLROOTCERT for extra Postgres CA roots (src/db/tls.rs).
ENV PGSSLROOTCERT=/etc/ssl/certs/rds-global-bundle.pem \
    PORT=8080

# Numeric uid so that platforms enforcing "run as non-root" can check it without /etc/passwd.
USER 10001:10001
EXPOSE 8080

# No HEALTHCHECK: App Runner and the ALB probe GET /healthz themselves and ignore Docker's, and the
# image carries no curl to run one with.
ENTRYPOINT ["/usr/local/bin/adrec"]
CMD ["serve"]
