#!/usr/bin/env bash
# Runs on the droplet: deploy one image tag, and roll back to the previous one if the stack is not healthy.
#   scripts/deploy.sh sha-<full commit>
# .github/workflows/deploy.yml copies the compose files and configs to /srv/zaps and runs this over SSH;
# the same command works by hand, and with an older tag it is the manual rollback.
# Steps: pull -> up -d --wait (container healthchecks) -> probe every service through Traefik and HTTPS,
# checking it runs the new commit -> on failure, start the previous tag again and exit 1.
set -euo pipefail

readonly NEW_TAG="${1:?usage: deploy.sh sha-<commit>}"
readonly APP_DIR="${APP_DIR:-/srv/zaps}"
readonly STATE_FILE="${APP_DIR}/.deployed-tag"
readonly WAIT_SECONDS="${WAIT_SECONDS:-180}"
readonly PROBE_SECONDS="${PROBE_SECONDS:-120}"
readonly PROBE_SCHEME="${PROBE_SCHEME:-https}"   # tests probe a plain-HTTP stand-in
# Two knobs for the stack test (tests/stack), which runs this script on a machine with no registry; both default
# to what the droplet does. DEPLOY_PULL=never uses the images already present; DEPLOY_EXTRA_COMPOSE_FILES adds
# compose files (the test's stand-in managed database and sink).
readonly DEPLOY_PULL="${DEPLOY_PULL:-always}"
readonly DEPLOY_EXTRA_COMPOSE_FILES="${DEPLOY_EXTRA_COMPOSE_FILES:-}"

# Only immutable commit tags: a moving tag such as "latest" could not be rolled back to.
if [[ ! "${NEW_TAG}" =~ ^sha-[0-9a-f]{7,40}$ ]]; then
  echo "refusing tag '${NEW_TAG}': expected sha-<commit>" >&2
  exit 2
fi

cd "${APP_DIR}"
if [[ ! -f .env ]]; then
  echo "${APP_DIR}/.env is missing (see docs/deploy.md)" >&2
  exit 2
fi

compose_files=(-f docker-compose.yml -f docker-compose.prod.yml)
for extra in ${DEPLOY_EXTRA_COMPOSE_FILES}; do
  compose_files+=(-f "${extra}")
done

# The optional services that run are the ones COMPOSE_PROFILES in .env names (docs/deploy.md).
compose() {
  docker compose --env-file .env "${compose_files[@]}" "$@"
}

# Every running service answers GET https://<ZAPS_DOMAIN><PATH_PREFIX>/health/ready through Traefik, and its
# /health reports the commit of the tag (the image bakes ZAPS_CODE_VERSION in).
read -r -d '' PROBE_PY <<'PY' || true
import json, sys, time, urllib.request

model_file, origin, commit, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
with open(model_file) as f:
    model = json.load(f)
prefixes = sorted(
    svc["environment"]["PATH_PREFIX"]
    for svc in model["services"].values()
    if (svc.get("environment") or {}).get("PATH_PREFIX")
)
deadline = time.monotonic() + budget
for prefix in prefixes:
    base = f"{origin}{prefix}"
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=5):
                pass
            with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
                version = json.load(answer).get("version", "")
            if not version or not (commit.startswith(version) or version.startswith(commit)):
                raise RuntimeError(f"runs version {version!r}, expected {commit!r}")
            print(f"ok   {base}/health/ready (version {version[:12]})")
            break
        except Exception as error:  # not ready yet: certificate being issued, app starting, old container
            if time.monotonic() > deadline:
                print(f"FAIL {base}: {error}", file=sys.stderr)
                sys.exit(1)
            time.sleep(3)
PY

probe() {
  local expected_commit="$1" domain model
  domain="$(sed -n 's/^ZAPS_DOMAIN=//p' .env | tail -n 1 | tr -d "\"'")"
  model="$(mktemp)"
  compose config --format json >"${model}"
  python3 -c "${PROBE_PY}" "${model}" "${PROBE_SCHEME}://${domain:?ZAPS_DOMAIN is not set in .env}" \
    "${expected_commit}" \
    "${PROBE_SECONDS}"
  local status=$?
  rm -f "${model}"
  return "${status}"
}

start() {
  local tag="$1"
  export IMAGE_TAG="${tag}"   # the shell's value wins over .env in compose's interpolation
  local pull=()
  [[ "${DEPLOY_PULL}" == "never" ]] && pull=(--pull never)
  compose up -d --remove-orphans "${pull[@]}" --wait --wait-timeout "${WAIT_SECONDS}"
}

previous="$(cat "${STATE_FILE}" 2>/dev/null || true)"
echo "deploying ${NEW_TAG} (running now: ${previous:-nothing})"

export IMAGE_TAG="${NEW_TAG}"
if [[ "${DEPLOY_PULL}" != "never" ]]; then
  compose pull --quiet
fi
if start "${NEW_TAG}" && probe "${NEW_TAG#sha-}"; then
  echo "${NEW_TAG}" >"${STATE_FILE}"
  echo "$(date -u +%FT%TZ) ${NEW_TAG}" >>"${APP_DIR}/.deploy-history"
  # Keep two weeks of images: a rollback to a recent tag needs no registry access.
  docker image prune -af --filter "until=336h" >/dev/null || true
  echo "deployed ${NEW_TAG}"
  exit 0
fi

echo "deploy of ${NEW_TAG} failed" >&2
compose ps >&2 || true
compose logs --tail 50 >&2 || true
if [[ -n "${previous}" && "${previous}" != "${NEW_TAG}" ]]; then
  echo "rolling back to ${previous}" >&2
  if start "${previous}"; then
    echo "rolled back to ${previous}" >&2
  else
    echo "ROLLBACK FAILED: the stack needs a look (docker compose ps)" >&2
  fi
fi
exit 1
