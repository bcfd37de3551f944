#!/usr/bin/env bash
# Mutation testing with mutmut (docs/testing.md): how many deliberate bugs the tests catch.
#
#   scripts/mutation.sh params                   # infra/src/bookingapp_infra/params.py
#   scripts/mutation.sh common                   # every module of common/src/bookingapp_common
#   scripts/mutation.sh common config neighbours # only these modules of common
#   scripts/mutation.sh all                      # both (the scheduled CI workflow)
#
# Prints killed / total per target and lists the survivors; exits 1 when a target kills
# fewer than MUTATION_MIN_SCORE percent (default 90), 2 on a usage error.
# Slow (minutes to an hour on two cores), so not part of `pytest` or .ci/run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# mutmut names a mutant after its file's path below src/ and must find the same name in the
# module the tests import, so both packages go under one src/ here; everything else the
# tests read is linked at the same place it has in the repo. Under /build/: ignored by git.
stage="$root/build/mutation"
min_score=${MUTATION_MIN_SCORE:-90}

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The mutant-name globs for a target (mutmut matches them against "module.x_function__mutmut_N").
globs_for() {
    local target=$1
    shift
    case $target in
        params) echo "bookingapp_infra.params.*" ;;
        common)
            if [ $# -eq 0 ]; then
                echo "bookingapp_common.*"
            else
                for module in "$@"; do
                    # The package's own __init__.py: mutmut names its mutants after the package.
                    if [ "$module" = __init__ ]; then
                        echo "bookingapp_common.x_*"
                    else
                        echo "bookingapp_common.$module.*"
                    fi
                done
            fi
            ;;
        all) printf '%s\n' "bookingapp_infra.params.*" "bookingapp_common.*" ;;
    esac
}

# Lay out build/mutation: links only, so the run always sees the working tree as it is.
stage() {
    rm -rf "$stage"
    mkdir -p "$stage/src"
    ln -s "$root/common/src/bookingapp_common" "$stage/src/bookingapp_common"
    ln -s "$root/infra/src/bookingapp_infra" "$stage/src/bookingapp_infra"
    # params.py finds infra/services and infra/templates two directories above itself.
    ln -s "$root/infra/services" "$stage/services"
    ln -s "$root/infra/templates" "$stage/templates"
    # The workspace's members (pyproject.toml), so a service added later is linked too.
    read -ra members <<<"$(python3 -c 'import sys, tomllib; print(*tomllib.load(open(sys.argv[1], "rb"))["tool"]["uv"]["workspace"]["members"])' "$root/pyproject.toml")"
    for item in pyproject.toml uv.lock tests .github "${members[@]}" compose.yaml; do
        ln -s "$root/$item" "$stage/$item"
    done
}

case ${1:-} in params | all) [ $# -eq 1 ] || usage ;; common) ;; *) usage ;; esac
for module in "${@:2}"; do
    if [ ! -f "$root/common/src/bookingapp_common/$module.py" ]; then
        echo "mutation.sh: no module common/src/bookingapp_common/$module.py" >&2
        exit 2
    fi
done
mapfile -t globs < <(globs_for "$@")
stage
cd "$stage"
# The unit tests' Redis: a local redis-server (never a container inside mutmut's forks).
export BOOKINGAPP_TEST_REDIS=local
# --project: uv would otherwise take the linked pyproject.toml here for a second workspace.
uv run --project "$root" --group mutation mutmut run "${globs[@]}"
uv run --project "$root" --group mutation mutmut results --all true >results.txt
uv run --project "$root" python "$root/scripts/mutation_score.py" results.txt "$min_score"
