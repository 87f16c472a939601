#!/usr/bin/env bash
# Regenerates data/blocklists/ldnoobw-{zh,en}.txt from the npm package `naughty-words` (the
# LDNOOBW lists, CC-BY-4.0) and data/blocklists/url-*.txt from the PyPI package `datatrove`
# (its URL filter's word lists, Apache-2.0). zh-spam.txt is maintained by hand.
#
#   scripts/make-blocklists.sh
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/data/blocklists"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack naughty-words@1.2.0 >/dev/null 2>&1
tar xzf naughty-words-1.2.0.tgz
cp package/LICENSE "$out/LICENSE-LDNOOBW"
for lang in zh en; do
  {
    echo "# LDNOOBW list '$lang' from the npm package naughty-words 1.2.0 (CC-BY-4.0, see"
    echo "# LICENSE-LDNOOBW; Shutterstock's List of Dirty, Naughty, Obscene and Otherwise Bad Words)."
    python3 -c "import json,sys; [print(w) for w in json.load(open('package/$lang.json'))]"
  } >"$out/ldnoobw-$lang.txt"
done
pip download --no-deps --quiet datatrove==0.10.1 -d .
python3 -m zipfile -e datatrove-0.10.1-*.whl dt
cp dt/datatrove-0.10.1.dist-info/licenses/LICENSE "$out/LICENSE-datatrove"
for list in banned_words banned_subwords soft_banned_words; do
  name="url-${list//_/-}.txt"
  {
    echo "# datatrove 0.10.1 URLFilter '$list' (Apache-2.0, see LICENSE-datatrove)."
    cat "dt/datatrove/assets/$list.txt"
  } >"$out/$name"
done
