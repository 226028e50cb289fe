# Build stage: the Swift toolchain plus the C libraries' headers.
FROM swift:6.1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY fixtures ./fixtures
RUN swift build -c release --static-swift-stdlib --product addonmock \
 && install -m 0755 "$(swift build -c release --show-bin-path)/addonmock" /usr/local/bin/addonmock

# Runtime stage: only the shared libraries the binary links, and a non-root user owning /data.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libsqlite3-0 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data addonmock \
 && mkdir -p /data && chown addonmock:addonmock /data
COPY --from=build /usr/local/bin/addonmock /usr/local/bin/addonmock
USER addonmock
WORKDIR /data
ENV ADDONMOCK_HOST=0.0.0.0 \
    ADDONMOCK_PORT=8080 \
    ADDONMOCK_DB=/data/addonmock.sqlite \
    ADDONMOCK_PROFILE=realistic
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --start-period=2s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${ADDONMOCK_PORT}/_mock/health" || exit 1
ENTRYPOINT ["/usr/local/bin/addonmock"]
CMD ["serve"]
