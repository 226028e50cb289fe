# Build stage: the Swift toolchain, SQLite's headers and the libmicrohttpd 1.0.1 that scripts/libmicrohttpd builds
# statically from Debian 13's source package (hash-checked), as scripts/run and scripts/test do. Versions are
# pinned to Debian 12 (bookworm); the `+deb12u*` globs follow Debian's point and security updates without
# unpinning the release. scripts/check-image (run by scripts/test) checks on every run that each pin still resolves.
FROM swift:6.3.1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      'libsqlite3-dev=3.40.1-2+deb12u*' pkg-config=1.8.1-1 make=4.3-4.1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/libmicrohttpd ./scripts/
RUN scripts/libmicrohttpd --static /opt/libmicrohttpd
ENV PKG_CONFIG_PATH=/opt/libmicrohttpd/lib/pkgconfig
# Package.swift names exact dependency versions, so two builds of one commit get the same code. Package.resolved
# stays out: its revisions are those of the package mirror the project is developed against, which a build
# elsewhere would refuse as "does not match previously recorded value" (docs/docker.md).
COPY Package.swift ./
COPY Sources ./Sources
COPY fixtures ./fixtures
RUN swift build -c release --static-swift-stdlib --product addonmock \
 && install -m 0755 "$(swift build -c release --show-bin-path)/addonmock" /usr/local/bin/addonmock

# Runtime stage: only the shared library the binary links (SQLite; libmicrohttpd and the Swift runtime are linked
# in), and a non-root user owning /data.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends 'libsqlite3-0=3.40.1-2+deb12u*' \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 addonmock \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data addonmock \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /usr/local/bin/addonmock /usr/local/bin/addonmock
USER 10001:10001
WORKDIR /data
# Every flag has an ADDONMOCK_* twin (docs/configuration.md); these are the image's defaults. The server writes
# its URL to the address file, so the health check finds it however the port was given (`serve --port 9000`).
ENV ADDONMOCK_HOST=0.0.0.0 \
    ADDONMOCK_PORT=8080 \
    ADDONMOCK_DB=/data/addonmock.sqlite \
    ADDONMOCK_PROFILE=realistic \
    ADDONMOCK_ADDRESS_FILE=/tmp/addonmock.address
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s --retries=3 \
  CMD ["/usr/local/bin/addonmock", "health"]
ENTRYPOINT ["/usr/local/bin/addonmock"]
CMD ["serve"]
