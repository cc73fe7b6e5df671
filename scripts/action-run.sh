#!/usr/bin/env bash
# What the migguard GitHub Action (action.yml) runs, step by step, so that a test can run
# exactly the same thing locally.
#
#   action-run.sh install   pip-install migguard from $GITHUB_ACTION_PATH (the action's checkout)
#   action-run.sh check     run `migguard check --format github` on $INPUT_PATH (with
#                           `--sarif $INPUT_SARIF` in the same run when asked), write the step outputs
#                           (findings, sarif-file, exit-code, error) to $GITHUB_OUTPUT and exit
#                           with migguard's exit code.
#
# Inputs arrive as environment variables, set by action.yml from its `with:` inputs:
#   INPUT_PATH, INPUT_ARGS (shell-quoted extra arguments), INPUT_DATABASE_URL,
#   INPUT_POSTGRES_VERSION, INPUT_SINCE, INPUT_DEPLOY_ORDER, INPUT_SARIF.
set -uo pipefail

# Python, not eval: split INPUT_ARGS with shell quoting rules into NUL-separated words.
SPLIT_ARGS='
import shlex, sys
try:
    words = shlex.split(sys.argv[1])
except ValueError as exc:
    sys.exit(f"migguard action: cannot parse args {sys.argv[1]!r}: {exc}")
sys.stdout.write("".join(word + "\0" for word in words))
'

install() {
    python -m pip install --disable-pip-version-check --quiet "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
}

# One KEY=VALUE line in $GITHUB_OUTPUT (when the runner gave us one).
set_output() {
    if [ -n "${GITHUB_OUTPUT:-}" ]; then
        printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
    fi
}

check() {
    local project="${INPUT_PATH:-.}"
    local -a options=() extra=()

    # INPUT_ARGS is split like a shell would (quotes respected) but never evaluated.
    if [ -n "${INPUT_ARGS:-}" ]; then
        local split
        split="$(mktemp)"
        if ! python -c "$SPLIT_ARGS" "$INPUT_ARGS" >"$split" 2>"$split.err"; then
            cat "$split.err" >&2
            set_output exit-code 2
            set_output error "$(head -n 1 "$split.err")"
            rm -f "$split" "$split.err"
            return 2
        fi
        rm -f "$split.err"
        mapfile -d '' -t extra <"$split"
        rm -f "$split"
    fi
    if [ -n "${INPUT_POSTGRES_VERSION:-}" ]; then
        options+=(--postgres-version "$INPUT_POSTGRES_VERSION")
    fi
    if [ -n "${INPUT_SINCE:-}" ]; then
        options+=(--since "$INPUT_SINCE")
    fi
    if [ -n "${INPUT_DEPLOY_ORDER:-}" ]; then
        options+=(--deploy-order "$INPUT_DEPLOY_ORDER")
    fi
    # The URL goes through the environment, never the command line (it carries a password).
    if [ -n "${INPUT_DATABASE_URL:-}" ]; then
        export MIGGUARD_DATABASE_URL="$INPUT_DATABASE_URL"
    fi

    local report
    report="$(mktemp)"
    if [ -n "${INPUT_SARIF:-}" ]; then
        rm -f "$INPUT_SARIF"
        options+=(--sarif "$INPUT_SARIF")
    fi
    migguard check --format github "${options[@]}" "${extra[@]}" "$project" | tee "$report"
    local code="${PIPESTATUS[0]}"

    local findings="" error=""
    if [ "$code" -eq 0 ] || [ "$code" -eq 1 ]; then
        findings="$(grep -c -E '^::(error|warning)( |::)' "$report")"
    else
        # exit 2: migguard's annotation carries the reason (properties escape ':')
        error="$(sed -n 's/^::error [^:]*title=migguard could not check the project::\(.*\)$/\1/p' "$report" | head -n 1)"
    fi
    rm -f "$report"

    local sarif_file=""
    if [ -n "${INPUT_SARIF:-}" ] && [ -f "$INPUT_SARIF" ]; then
        sarif_file="$INPUT_SARIF"
    fi

    set_output findings "$findings"
    set_output sarif-file "$sarif_file"
    set_output exit-code "$code"
    set_output error "$error"
    return "$code"
}

case "${1:-}" in
install) install ;;
check) check ;;
*)
    echo "usage: action-run.sh install|check" >&2
    exit 2
    ;;
esac
