# pgsluice container image: build on Debian 12, run on Debian 12 slim as an unprivileged user.
# docker build -t pgsluice . && docker run -v $PWD/pgsluice.yaml:/etc/pgsluice/pgsluice.yaml -p 6432:6432 pgsluice
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake ninja-build pkg-config libboost1.81-dev libssl-dev libyaml-cpp-dev \
        prometheus-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPGSLUICE_TESTS=OFF \
    && cmake --build build --target pgsluice \
    && strip build/cmd/pgsluice

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libssl3 libyaml-cpp0.7 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libspdlog1.10 \
        libfmt9 libsystemd0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin pgsluice
COPY --from=build /src/build/cmd/pgsluice /usr/local/bin/pgsluice
COPY deploy/examples/pgsluice.yaml /etc/pgsluice/pgsluice.yaml
USER pgsluice
EXPOSE 6432 9632
ENTRYPOINT ["/usr/local/bin/pgsluice"]
CMD ["run", "-c", "/etc/pgsluice/pgsluice.yaml"]
