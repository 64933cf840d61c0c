#!/usr/bin/env bash
# Sets up tex's development environment in .venv and, when sourced, activates it.
#
#   bash scripts/setup_env.sh       # set up only
#   source scripts/setup_env.sh     # set up, then use .venv's python, pytest, ruff and tex in this shell
#
# - .venv: created with python3 -m venv (PYTHON=... picks another interpreter, >= 3.11), then
#   `pip install -e .[test]`; redone only when pyproject.toml changes (a stamp in .venv remembers).
# - System libraries, on Linux as root with apt-get: Debian's PoCL OpenCL driver (pocl-opencl-icd,
#   ocl-icd-libopencl1) when no OpenCL driver is registered in /etc/OpenCL/vendors, libgomp1 when the
#   dynamic linker does not know it, and gcc (for export_library) when there is no C compiler. Best effort: when that fails, OpenCL tests skip with a reason.
#   Tried once per .venv; delete .venv/.tex-apt-tried to try again. TEX_NO_APT=1 skips this step.
#
# Safe to source from an interactive shell: it sets no shell options and leaves only the venv's
# VIRTUAL_ENV and PATH behind.

_tex_say() { echo "setup_env: $*" >&2; }

_tex_find_python() {
    local cand
    for cand in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$cand" ] || continue
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

_tex_system_packages() {
    # $1: the venv, where the "already tried" stamp lives.
    local stamp="$1/.tex-apt-tried" ldconfig_bin need=() log
    [ "$(uname -s)" = Linux ] || return 0
    [ -z "${TEX_NO_APT:-}" ] || return 0
    if ! compgen -G "/etc/OpenCL/vendors/*.icd" >/dev/null; then
        need+=(ocl-icd-libopencl1 pocl-opencl-icd)
    fi
    # export links kernels with the system C compiler; gcc also brings libgomp.so for -lgomp
    if ! command -v cc >/dev/null 2>&1; then
        need+=(gcc libc6-dev)
    fi
    ldconfig_bin="$(command -v ldconfig 2>/dev/null || echo /sbin/ldconfig)"
    if [ -x "$ldconfig_bin" ] && ! "$ldconfig_bin" -p 2>/dev/null | grep -q 'libgomp\.so\.1'; then
        need+=(libgomp1)
    fi
    [ "${#need[@]}" -gt 0 ] || return 0
    if [ -f "$stamp" ]; then
        return 0  # tried before and failed: say it once, not on every run
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        _tex_say "warning: missing system packages: ${need[*]} (install them with your package manager;"
        _tex_say "         without an OpenCL driver the OpenCL tests skip, without libgomp parallel loops fail)"
        : >"$stamp"
        return 0
    fi
    _tex_say "installing Debian packages: ${need[*]}"
    log="$(mktemp)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >"$log" 2>&1; then
        # The package lists may be missing or stale on a fresh machine: update them once and retry.
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 \
               && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >>"$log" 2>&1; }; then
            _tex_say "warning: apt-get install ${need[*]} failed (last lines below); going on without them,"
            _tex_say "         OpenCL tests will skip. Delete $stamp to try again."
            tail -n 5 "$log" >&2
            : >"$stamp"
        fi
    fi
    rm -f "$log"
    return 0
}

_tex_setup() {
    local root venv py stamp want
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    venv="$root/.venv"

    if [ ! -x "$venv/bin/python" ]; then
        if ! py="$(_tex_find_python)"; then
            _tex_say "error: tex needs Python >= 3.11; none found (set PYTHON=/path/to/python3.11 or newer)"
            return 1
        fi
        _tex_say "creating $venv with $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
        if ! "$py" -m venv "$venv"; then
            rm -rf "$venv"
            # Debian's own python3 ships venv's pip separately, in python3-venv.
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${TEX_NO_APT:-}" ]; then
                _tex_say "installing Debian's python3-venv and trying again"
                { DEBIAN_FRONTEND=noninteractive apt-get update -q \
                  && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; } >/dev/null 2>&1
            fi
            if ! "$py" -m venv "$venv"; then
                _tex_say "error: '$py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
                rm -rf "$venv"
                return 1
            fi
        fi
    fi

    _tex_system_packages "$venv"

    stamp="$venv/.tex-installed"
    want="$(cksum <"$root/pyproject.toml")"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$venv/bin/tex" ]; then
        _tex_say "installing tex and its test dependencies into .venv (about a minute on a fresh machine)"
        if ! "$venv/bin/python" -m pip install -qq --disable-pip-version-check --progress-bar off \
                -e "$root[test]"; then
            _tex_say "error: pip install -e '.[test]' failed (see above)"
            return 1
        fi
        echo "$want" >"$stamp"
    fi

    export VIRTUAL_ENV="$venv"
    case ":$PATH:" in
        *":$venv/bin:"*) ;;
        *) export PATH="$venv/bin:$PATH" ;;
    esac
    unset PYTHONHOME
    hash -r 2>/dev/null
    return 0
}

if _tex_setup; then
    _tex_status=0
else
    _tex_status=1
fi
unset -f _tex_say _tex_find_python _tex_system_packages _tex_setup

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    # Run, not sourced: nothing to activate in the caller's shell.
    [ "$_tex_status" = 0 ] && echo "setup_env: ready; 'source .venv/bin/activate' to use it" >&2
    exit "$_tex_status"
fi
if [ "$_tex_status" = 0 ]; then
    unset _tex_status
    true
else
    unset _tex_status
    false
fi
