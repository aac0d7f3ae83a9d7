# Sourced by the other scripts here: make a program available, installing its Debian package when
# it is missing and this user may install packages (root, or sudo without a password), and say so.
# INNOTTER_INSTALL_COMMAND replaces the installer (another package manager, or a test): it is run
# with the package names as arguments, and counts as permission to install.

may_install_packages() {
  [ -n "${INNOTTER_INSTALL_COMMAND:-}" ] && return 0
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] && return 0
  command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1
}

install_packages() {
  if [ -n "${INNOTTER_INSTALL_COMMAND:-}" ]; then
    # shellcheck disable=SC2086 # a command with its own arguments, split on purpose
    $INNOTTER_INSTALL_COMMAND "$@"
    return
  fi
  local as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo -n)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# ensure_command PROGRAM PACKAGE WHY
ensure_command() {
  local program=$1 package=$2 why=$3
  command -v "$program" >/dev/null 2>&1 && return 0
  if ! may_install_packages; then
    echo "$program is missing ($why), and this user may not install packages (neither root nor" \
      "sudo without a password): install it with  sudo apt-get install -y $package" >&2
    return 1
  fi
  echo "installing $package ($why): $program is missing"
  install_packages "$package"
  if ! command -v "$program" >/dev/null 2>&1; then
    echo "installed $package, but $program is still not on PATH" >&2
    return 1
  fi
  echo "installed $package ($(command -v "$program"))"
}
