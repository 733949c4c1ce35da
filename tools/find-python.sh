#!/bin/sh
# Print the path of a working Python interpreter for the course, or explain what is missing (exit 1).
# Arguments: what to look for, in order of preference: versions (3.11 3.12) or commands (python3.12, /path/python).
# A command on PATH that does not run (a pyenv shim for a version not selected answers "command not found") is
# skipped; pyenv's and conda's own version folders are searched next.
for want in "$@"; do
  case "$want" in
    [0-9].[0-9]*) candidates="python$want" ; version="$want" ;;
    *) candidates="$want" ; version=$(printf '%s' "$want" | sed -n 's/.*python\([0-9][0-9.]*\)$/\1/p') ;;
  esac
  for cmd in $candidates; do
    path=$(command -v "$cmd" 2>/dev/null) || continue
    if "$path" -c 'import sys' >/dev/null 2>&1; then
      "$path" -c 'import sys; print(sys.executable)'
      exit 0
    fi
  done
  if [ -n "$version" ]; then
    root=$(pyenv root 2>/dev/null || printf '%s' "${PYENV_ROOT:-$HOME/.pyenv}")
    for path in "$root"/versions/"$version"*/bin/python"$version" /usr/local/bin/python"$version" \
                /opt/homebrew/bin/python"$version" "${CONDA_PREFIX:-/nonexistent}"/bin/python"$version"; do
      if [ -x "$path" ] && "$path" -c 'import sys' >/dev/null 2>&1; then
        printf '%s\n' "$path"
        exit 0
      fi
    done
  fi
done
echo "error: no working Python among: $* (the course supports 3.11 and 3.12). Install one, or point make at it:" \
     "make test PYTHON=/path/to/python3.12, or use conda: conda env create -f environment.yml" >&2
exit 1
