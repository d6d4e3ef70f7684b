#!/usr/bin/env bash
# Prepares a fresh Ubuntu 24.04 droplet for Zaps. Safe to run again: every step checks before it changes.
#   scp scripts/droplet-setup.sh root@DROPLET:
#   ssh root@DROPLET 'DEPLOY_PUBKEY="ssh-ed25519 AAAA... github-deploy" bash droplet-setup.sh'
# Installs Docker Engine and the compose plugin from Docker's apt repository, a firewall (22, 80, 443), SSH
# hardening, a `deploy` user for GitHub Actions, a 2 GB swap file, unattended security upgrades and Docker log
# rotation. Keep a second SSH session open the first time, in case the SSH change locks you out.
set -euo pipefail

readonly DEPLOY_USER="${DEPLOY_USER:-deploy}"
readonly APP_DIR="${APP_DIR:-/srv/zaps}"
readonly SWAP_SIZE="${SWAP_SIZE:-2G}"
readonly DEPLOY_PUBKEY="${DEPLOY_PUBKEY:?set DEPLOY_PUBKEY to the public half of the GitHub deploy key}"
export DEBIAN_FRONTEND=noninteractive

if [[ ${EUID} -ne 0 ]]; then
  echo "run as root" >&2
  exit 1
fi
# shellcheck source=/dev/null
. /etc/os-release

# write_file PATH MODE < content: replaces PATH only when the content differs.
# Returns 0 when it changed the file (so the caller restarts what reads it), 1 when it was already right.
write_file() {
  local path="$1" mode="$2" tmp
  tmp="$(mktemp)"
  cat >"${tmp}"
  if [[ -f "${path}" ]] && cmp -s "${tmp}" "${path}"; then
    rm -f "${tmp}"
    chmod "${mode}" "${path}"
    return 1
  fi
  install -D -m "${mode}" "${tmp}" "${path}"
  rm -f "${tmp}"
  echo "wrote ${path}"
}

echo "== packages"
apt-get update -q
apt-get -y -q upgrade
apt-get -y -q install ca-certificates curl rsync ufw unattended-upgrades

echo "== Docker Engine and the compose plugin, from Docker's apt repository"
# Ubuntu's own docker packages conflict with Docker's; remove them if present.
for pkg in docker.io docker-compose docker-compose-v2 docker-doc podman-docker containerd runc; do
  if dpkg -s "${pkg}" >/dev/null 2>&1; then
    apt-get -y -q remove "${pkg}"
  fi
done
install -m 0755 -d /etc/apt/keyrings
if [[ ! -s /etc/apt/keyrings/docker.asc ]]; then
  curl -fsSL https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
  chmod a+r /etc/apt/keyrings/docker.asc
fi
write_file /etc/apt/sources.list.d/docker.sources 0644 <<SOURCES || true
Types: deb
URIs: https://download.docker.com/linux/ubuntu
Suites: ${UBUNTU_CODENAME:-${VERSION_CODENAME}}
Components: stable
Architectures: $(dpkg --print-architecture)
Signed-By: /etc/apt/keyrings/docker.asc
SOURCES
apt-get update -q
apt-get -y -q install docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin

# Log rotation for every container (Alloy reads these files), and containers keep running while dockerd
# restarts for an upgrade.
if write_file /etc/docker/daemon.json 0644 <<'JSON'; then
{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" },
  "live-restore": true
}
JSON
  systemctl restart docker
fi
systemctl enable --now docker

echo "== deploy user (in the docker group, which is root-equivalent; no sudo)"
if ! id -u "${DEPLOY_USER}" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "${DEPLOY_USER}"
fi
usermod -aG docker "${DEPLOY_USER}"
install -d -m 700 -o "${DEPLOY_USER}" -g "${DEPLOY_USER}" "/home/${DEPLOY_USER}/.ssh"
keys="/home/${DEPLOY_USER}/.ssh/authorized_keys"
touch "${keys}"
if ! grep -qxF "${DEPLOY_PUBKEY}" "${keys}"; then
  echo "${DEPLOY_PUBKEY}" >>"${keys}"
fi
chown "${DEPLOY_USER}:${DEPLOY_USER}" "${keys}"
chmod 600 "${keys}"
install -d -m 750 -o "${DEPLOY_USER}" -g "${DEPLOY_USER}" "${APP_DIR}"

echo "== SSH: keys only"
# sshd keeps the first value it reads and includes sshd_config.d/*.conf in name order, so this file must sort
# before cloud-init's 50-cloud-init.conf (which may allow passwords).
if write_file /etc/ssh/sshd_config.d/00-zaps-hardening.conf 0644 <<'SSHD'; then
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
MaxAuthTries 3
X11Forwarding no
SSHD
  sshd -t
  systemctl reload-or-restart ssh
fi

echo "== firewall: 22, 80, 443"
# Docker-published ports bypass ufw: the compose files publish only Traefik's 80 and 443 in production.
ufw default deny incoming
ufw default allow outgoing
ufw allow OpenSSH
ufw allow 80/tcp
ufw allow 443/tcp
ufw --force enable

echo "== ${SWAP_SIZE} swap file"
if ! swapon --show=NAME --noheadings | grep -qx /swapfile; then
  if [[ ! -f /swapfile ]]; then
    fallocate -l "${SWAP_SIZE}" /swapfile
  fi
  chmod 600 /swapfile
  mkswap /swapfile >/dev/null
  swapon /swapfile
fi
if ! grep -q '^/swapfile ' /etc/fstab; then
  echo '/swapfile none swap sw 0 0' >>/etc/fstab
fi
# Swap absorbs a short spike; it should not become the working memory.
if write_file /etc/sysctl.d/99-zaps-swap.conf 0644 <<<'vm.swappiness = 10'; then
  sysctl --system >/dev/null
fi

echo "== unattended security upgrades"
write_file /etc/apt/apt.conf.d/20auto-upgrades 0644 <<'APT' || true
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT
systemctl enable --now unattended-upgrades

echo "done: docker $(docker --version | cut -d' ' -f3 | tr -d ','), compose $(docker compose version --short)"
echo "next: put .env in ${APP_DIR} (docs/deploy.md), then push to main or run the deploy workflow"
