#!/usr/bin/env bash
# A private ssh server for the ssh-protocol iotests (upstream 207: `check
# -raw -ssh 207`), which expect sshd on 127.0.0.1:22 letting the current user
# in with a key held by ssh-agent, and 127.0.0.1's host key in the user's
# ~/.ssh/known_hosts (QEMU's ssh driver checks it by default).
#
#   tools/setup.sh --ssh                   install openssh-server (once)
#   eval "$(tools/test-sshd.sh start)"     start sshd and an agent; exports SSH_AUTH_SOCK and USER
#   cargo run -q -p iotests-cli -- check -raw -ssh 207
#   tools/test-sshd.sh stop                stop both
#
# Everything but the known_hosts line lives in $IOTESTS_SSHD_DIR (default
# /tmp/iotests-sshd): its own host and user keys, config, pid files and the
# agent's socket. The server listens on 127.0.0.1 only, takes public keys
# only, and authorizes only the key made here. Needs root for port 22.
set -euo pipefail

dir=${IOTESTS_SSHD_DIR:-/tmp/iotests-sshd}
sshd=${SSHD:-/usr/sbin/sshd}
say() { printf 'test-sshd: %s\n' "$*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  [ -x "$sshd" ] || { say "no $sshd: run tools/setup.sh --ssh"; exit 1; }
  mkdir -p "$dir" && chmod 700 "$dir"
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C iotests-host -f "$dir/host_ed25519"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C iotests-user -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  cat >"$dir/sshd_config" <<EOF
Port 22
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
  # Debian's sshd wants its privilege separation directory.
  mkdir -p /run/sshd
  if alive "$dir/sshd.pid"; then
    say "sshd already running (pid $(cat "$dir/sshd.pid"))"
  else
    "$sshd" -t -f "$dir/sshd_config"
    "$sshd" -f "$dir/sshd_config"
    for _ in $(seq 50); do alive "$dir/sshd.pid" && break; sleep 0.1; done
    alive "$dir/sshd.pid" || { say "sshd did not start"; exit 1; }
    say "sshd on 127.0.0.1:22 (pid $(cat "$dir/sshd.pid"))"
  fi

  if ! alive "$dir/agent.pid"; then
    rm -f "$dir/agent.sock"
    eval "$(ssh-agent -s -a "$dir/agent.sock")" >/dev/null
    echo "$SSH_AGENT_PID" >"$dir/agent.pid"
  fi
  SSH_AUTH_SOCK="$dir/agent.sock" ssh-add -q "$dir/id_ed25519"

  # 127.0.0.1's host key for the default (known_hosts) host key check.
  local hostkey known=~/.ssh/known_hosts
  hostkey="127.0.0.1 $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")"
  mkdir -p ~/.ssh && chmod 700 ~/.ssh
  grep -qxF "$hostkey" "$known" 2>/dev/null || echo "$hostkey" >>"$known"

  echo "export SSH_AUTH_SOCK=$dir/agent.sock USER=${USER:-$(id -un)}"
}

stop() {
  local f
  for f in sshd agent; do
    if alive "$dir/$f.pid"; then
      kill "$(cat "$dir/$f.pid")"
      say "stopped $f (pid $(cat "$dir/$f.pid"))"
    fi
    rm -f "$dir/$f.pid"
  done
  rm -f "$dir/agent.sock"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SSH_AUTH_SOCK=$dir/agent.sock USER=${USER:-$(id -un)}" ;;
  *) say "usage: $0 start|stop|env"; exit 2 ;;
esac
