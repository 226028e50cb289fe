# Sourced by scripts/run and scripts/test: installs the Debian packages the build needs, once, and builds the
# pinned libmicrohttpd (scripts/libmicrohttpd) that the build then links through PKG_CONFIG_PATH.
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

ensure_libmicrohttpd() {
    local pkgconfig
    pkgconfig="$(scripts/libmicrohttpd)"
    export PKG_CONFIG_PATH="$pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}
