#!/usr/bin/env bash
# Install what the iotests toolkit needs on Debian/Ubuntu: QEMU's tools
# (qemu-utils), a system emulator (qemu-system-x86) whose version matches the
# installed qemu-img, and bzip2 for upstream's sample images.
#
# Idempotent and quick when everything is there: it only touches apt when
# something is missing. The backports suite is added on the mirror that apt
# already uses (read from the machine's own Debian source entry), never on a
# hard-coded host.
#
#   tools/setup.sh            install what is missing
#   tools/setup.sh --check    only report what is missing (exit 1 if any)
#   tools/setup.sh --ssh      also what the ssh-protocol tests need: QEMU's
#                             ssh block driver (qemu-block-extra, pinned like
#                             the emulator) and openssh-server (started by
#                             tools/test-sshd.sh, not as a service)
set -euo pipefail

check_only=false
want_ssh=false
for arg in "$@"; do
  case "$arg" in
    --check) check_only=true ;;
    --ssh) want_ssh=true ;;
    *) printf 'setup: unknown option %s\n' "$arg" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

tool_version() { # qemu-img version 10.0.2 (Debian ...) -> 10.0.2
  "$1" --version 2>/dev/null | sed -n 's/^.* version \([0-9][0-9.]*\).*/\1/p' | head -n1
}

# openssh-server from the machine's release suite, apart from QEMU's pinned
# packages; Debian's policy-rc.d (or none of its init) keeps the service down.
if $want_ssh && [ ! -x /usr/sbin/sshd ]; then
  if $check_only; then
    say "missing: openssh-server"
    exit 1
  fi
  say "installing openssh-server"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi

missing=()
command -v qemu-img >/dev/null || missing+=(qemu-utils)
command -v qemu-io >/dev/null || missing+=(qemu-utils)
command -v qemu-nbd >/dev/null || missing+=(qemu-utils)
command -v qemu-storage-daemon >/dev/null || missing+=(qemu-utils)
# Upstream's sample images are bzip2-compressed (unarchive_sample_image).
command -v bzip2 >/dev/null || missing+=(bzip2)
# The ssh driver is a module of qemu-block-extra.
if $want_ssh && ! dpkg-query -W -f='${Status}' qemu-block-extra 2>/dev/null | grep -q 'install ok installed'; then
  missing+=(qemu-block-extra)
fi

img_ver=$(tool_version qemu-img || true)
sys_ver=$(tool_version qemu-system-x86_64 || true)
if [ -z "$sys_ver" ] || { [ -n "$img_ver" ] && [ "$sys_ver" != "$img_ver" ]; }; then
  missing+=(qemu-system-x86)
fi

if [ ${#missing[@]} -eq 0 ]; then
  say "qemu-img $img_ver, qemu-system-x86_64 $sys_ver: nothing to install"
  exit 0
fi
if $check_only; then
  say "missing: ${missing[*]}"
  exit 1
fi

# Debian ships qemu-system-x86 in the same suite as the installed qemu-utils;
# when that is a backports build (…~bpo12+1), add the backports suite.
add_backports() {
  local src=/etc/apt/sources.list.d/debian.sources uri keyring codename list
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 0
  list=/etc/apt/sources.list.d/iotests-backports.sources
  if grep -rqs "$codename-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  uri=$(awk '/^URIs:/ {print $2; exit}' "$src" 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { say "no Debian mirror configured for apt; cannot add $codename-backports"; return 1; }
  keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$src" 2>/dev/null || true)
  say "adding $codename-backports on $uri"
  {
    echo "Types: deb"
    echo "URIs: $uri"
    echo "Suites: $codename-backports"
    echo "Components: main"
    [ -z "$keyring" ] || echo "Signed-By: $keyring"
  } | as_root tee "$list" >/dev/null
}

pkgs=()
for p in "${missing[@]}"; do
  case " ${pkgs[*]} " in *" $p "*) ;; *) pkgs+=("$p") ;; esac
done

installed_utils=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
target=release
if [[ "$installed_utils" == *bpo* ]]; then
  add_backports
  target="$(. /etc/os-release && echo "$VERSION_CODENAME")-backports"
fi
say "apt-get update"
as_root apt-get update -qq >/dev/null
args=()
for p in "${pkgs[@]}"; do
  # Pin the emulator to the exact version of the installed tools.
  if [ -n "$installed_utils" ] && [ "$p" != qemu-utils ] && [ "$p" != bzip2 ]; then
    args+=("$p=$installed_utils")
  else
    args+=("$p")
  fi
done
say "installing ${args[*]}"
if [ "$target" = release ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${args[@]}" >/dev/null
else
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t "$target" "${args[@]}" >/dev/null
fi
say "qemu-img $(tool_version qemu-img), qemu-system-x86_64 $(tool_version qemu-system-x86_64)"
