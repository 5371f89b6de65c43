#!/usr/bin/env bash
# Runs the README's "Build a program against cio" section verbatim: the
# blocks marked <!-- check-install: ... --> are written to files or run as
# shell commands, with HOME set to a scratch folder (so the README's
# $HOME/.local is a custom prefix here), and each run of the program must
# print the README's output block. CI runs this, so the README cannot
# drift from what works.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/app"

python3 - "$src/README.md" "$scratch" <<'PY'
import os, re, sys
readme, scratch = sys.argv[1], sys.argv[2]
text = open(readme).read()
blocks = re.findall(r"<!-- check-install: (.*?) -->\n```[a-z]*\n(.*?)```", text, re.S)
if not blocks:
    sys.exit("check-install: no marked blocks in the README")
steps = []
for i, (what, body) in enumerate(blocks):
    if what.startswith("file "):
        with open(os.path.join(scratch, "app", what[5:]), "w") as f:
            f.write(body)
    elif what == "output":
        with open(os.path.join(scratch, "expected"), "w") as f:
            f.write(body)
    elif what in ("run in the source tree", "run in the app folder"):
        path = os.path.join(scratch, f"step{i:02d}.sh")
        with open(path, "w") as f:
            f.write(body)
        steps.append(("src" if "source" in what else "app") + " " + path)
    else:
        sys.exit(f"check-install: unknown marker '{what}'")
with open(os.path.join(scratch, "steps"), "w") as f:
    f.write("\n".join(steps) + "\n")
PY

export HOME="$scratch/home"
mkdir -p "$HOME"
n=0
while read -r where script; do
    dir=$src
    [ "$where" = app ] && dir=$scratch/app
    echo "check-install: running in $where:"
    sed 's/^/  $ /' "$script"
    # Each block runs as written; a line running the program is checked
    # against the README's output.
    (cd "$dir" && bash -euo pipefail "$script") > "$scratch/out" 2> "$scratch/err" || {
        cat "$scratch/out" "$scratch/err" >&2
        echo "check-install: a README command failed" >&2
        exit 1
    }
    if grep -q '^\./' "$script"; then
        n=$((n + 1))
        if ! tail -n "$(wc -l < "$scratch/expected")" "$scratch/out" |
                diff -u "$scratch/expected" - ; then
            echo "check-install: the program's output is not the README's" >&2
            exit 1
        fi
    fi
done < "$scratch/steps"
[ "$n" -eq 2 ] || { echo "check-install: expected 2 program runs, saw $n" >&2; exit 1; }
echo "check-install: both routes build and print the README's output"
