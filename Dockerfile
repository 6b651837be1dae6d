# syntax=docker/dockerfile:1
# pgsluice container image (see the README, "Container image"):
#   docker build -t pgsluice .
#   docker run -p 6432:6432 -p 9632:9632 -e PGSLUICE_DB_HOST=db -e PGSLUICE_PASSWORD pgsluice
# Build stages: the packages, with the same dependency script as the tests
# (deploy/install-deps.sh), cached until the script changes; then a Release build.
FROM debian:bookworm AS deps
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN ./deploy/install-deps.sh && rm -rf /var/lib/apt/lists/*

FROM deps AS build
COPY . .
# ccache's directory is a build cache mount: a rebuild after a source change recompiles
# only what changed.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPGSLUICE_TESTS=OFF >/dev/null \
    && cmake --build /build --target pgsluice \
    && strip /build/cmd/pgsluice \
    && /build/cmd/pgsluice --version

# Runtime stage: the binary, the shared libraries it links, and nothing to build with.
FROM debian:bookworm
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libssl3 libyaml-cpp0.7 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libspdlog1.10 \
        libfmt9 libsystemd0 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pgsluice
COPY --from=build /build/cmd/pgsluice /usr/local/bin/pgsluice
COPY deploy/docker/entrypoint.sh /usr/local/bin/pgsluice-entrypoint
COPY deploy/docker/pgsluice.yaml.template /etc/pgsluice/pgsluice.yaml.template
# Fails the build when a shared library is missing.
RUN ! ldd /usr/local/bin/pgsluice | grep 'not found'
USER pgsluice
# 6432: PostgreSQL clients; 9632: /metrics, /healthz, /ready.
EXPOSE 6432 9632
# pgsluice asks its own /healthz: no curl in the image. PGSLUICE_METRICS_PORT, when set,
# moves the probe with the listener.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["/usr/local/bin/pgsluice", "health"]
# SIGTERM drains (shutdown_timeout, 8 s by default here: inside docker stop's 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pgsluice-entrypoint"]
CMD ["run"]
