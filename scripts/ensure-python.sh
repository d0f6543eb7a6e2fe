#!/usr/bin/env bash
# Print the path of a Python >= 3.11 that can create virtual environments.
#
# Used by `make venv`. Prefers python3.11, then python3. On Debian/Ubuntu the venv
# module needs the python3-venv package (ensurepip); when `python -m venv` fails we
# apt-get install it, as root or through sudo. Messages go to stderr; the only line
# on stdout is the interpreter path, so callers can do: py="$(scripts/ensure-python.sh)".
set -euo pipefail

say() { printf '%s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

python=""
for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    path="$(command -v "$candidate" 2>/dev/null || true)"
    if [ -n "$path" ] && python_ok "$path"; then
        python="$path"
        break
    fi
done

if [ -z "$python" ]; then
    found="$(python3 --version 2>&1 || echo 'no python3')"
    say "Gatehouse needs Python 3.11 or newer, but found only: ${found}."
    exit 1
fi

# A real venv creation is the only reliable test: Debian ships the venv module but
# not ensurepip's wheels, and fails only when pip is bootstrapped.
venv_works() {
    local probe
    probe="$(mktemp -d)"
    if "$python" -m venv "$probe/venv" >/dev/null 2>&1; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    return 1
}

if ! venv_works; then
    minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    say "${python} cannot create virtual environments; installing python3-venv with apt-get."
    if ! command -v apt-get >/dev/null 2>&1; then
        say "Install the venv module for ${python} (no apt-get here), then re-run make."
        exit 1
    fi
    # python3-venv matches the system python3; python${minor}-venv matches e.g. python3.11.
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update >&2 \
        || ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "python${minor}-venv" >&2 \
            || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2; }; then
        say "Could not install python3-venv (need root or sudo): run 'sudo apt-get install python3-venv' and re-run make."
        exit 1
    fi
    if ! venv_works; then
        say "${python} still cannot create a virtual environment after installing python3-venv."
        exit 1
    fi
fi

printf '%s\n' "$python"
