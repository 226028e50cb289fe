# Sourced by scripts/run, scripts/test, scripts/fuzz and scripts/release: installs the Debian packages the build needs,
# once, and finds or builds the libmicrohttpd (scripts/libmicrohttpd) that the build then links through PKG_CONFIG_PATH.
deb_packages=(libsqlite3-dev pkg-config make)

ensure_debian_packages() {
    local missing=()
    for p in "${deb_packages[@]}" "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's libmicrohttpd-dev where apt offers 1.0 or newer (Debian 13), else the pinned build; `--static` (the release)
# always takes the pinned build, linked in (scripts/libmicrohttpd says why).
ensure_libmicrohttpd() {
    local pkgconfig candidate
    if [ "${1:-}" != --static ] && [ "${ADDONMOCK_LIBMICROHTTPD:-}" != pinned ] && ! dpkg -s libmicrohttpd-dev >/dev/null 2>&1; then
        candidate="$(apt-cache policy libmicrohttpd-dev 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && dpkg --compare-versions "$candidate" ge 1.0; then
            ensure_debian_packages libmicrohttpd-dev
        fi
    fi
    pkgconfig="$(scripts/libmicrohttpd "$@")"
    export PKG_CONFIG_PATH="$pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}
