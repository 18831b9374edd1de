# Shared helpers for Corridor's setup scripts (sourced, not executed).
set -euo pipefail

say() { printf '\033[1m[corridor]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[corridor] error:\033[0m %s\n' "$*" >&2; exit 1; }

# ensure_pnpm: installs the pnpm version pinned in package.json when missing or different.
ensure_pnpm() {
  local want
  want=$(node -p "require('./package.json').packageManager.split('@')[1]")
  if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v 2>/dev/null)" != "$want" ]; then
    say "installing pnpm@$want"
    npm install -g "pnpm@$want" >/dev/null 2>&1 || die "could not install pnpm@$want with npm (is the npm registry reachable?)"
  fi
}

# ensure_deps: installs workspace dependencies (frozen lockfile) and generates code.
ensure_deps() {
  ensure_pnpm
  say "installing workspace dependencies"
  pnpm install --frozen-lockfile --reporter=append-only >/dev/null || die "pnpm install failed; rerun 'pnpm install' to see why"
}

# apt_install PKG...: installs Debian packages that are missing (root only).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages (${missing[*]}); run as root or install them yourself"
    return 1
  fi
  say "apt-get install ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null || return 1
  fi
}

# Debian packages the test suite uses: build tools for the native addons, the real PostgreSQL and
# Redis servers of the integration tests, the network tools of the TUN / namespace tests and of
# the netns lab (test/lab: iproute2, nftables, procps for sysctl, iputils-ping, curl, tcpdump),
# Chromium for the admin dashboard's browser tests (test/browser), and HAProxy for test/deploy
# (deploy/haproxy/haproxy.cfg in front of two controller replicas); nDPI's ndpiReader (libndpi-bin)
# and tinyproxy for test/transports (DPI classification of captures, a client behind an HTTP proxy).
TEST_PACKAGES=(ca-certificates python3 make g++ iproute2 iputils-ping iptables nftables procps
  util-linux postgresql redis-server iperf3 tcpdump curl chromium haproxy libndpi-bin tinyproxy openssl)

# ensure_test_packages: installs TEST_PACKAGES when root; otherwise says which tests will skip.
ensure_test_packages() {
  if [ "$(id -u)" -ne 0 ]; then
    say "not root: not installing system packages; tests that need root or missing tools skip and say why"
    return 0
  fi
  apt_install "${TEST_PACKAGES[@]}" || die "could not install the test packages (${TEST_PACKAGES[*]}); is the Debian mirror reachable?"
}
