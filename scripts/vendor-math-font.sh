#!/bin/sh
# Rebuilds docs/assets/fonts/noto-sans-math.woff2: Noto Sans Math (SIL OFL 1.1) from the npm
# registry (@fontsource/noto-sans-math, the whole font with its OpenType MATH table), cut
# down with fontTools to what formulas use. Not part of the build: run it by hand to update
# the font, and commit the result.
#
# Kept: Latin and Greek letters, the styled letters LaTeX commands produce (italic, bold,
# bold italic, script, double-struck), accents, operators, arrows, brackets with their stretchy
# pieces, and every glyph the MATH table's size variants reach. Hinting is dropped (screens
# that need it use the installed copy, which the stylesheet prefers).
set -eu
VERSION=5.3.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "fonttools==4.*" brotli
(cd "$work" && npm pack --silent "@fontsource/noto-sans-math@$VERSION" >/dev/null && tar xzf ./*.tgz)
here=$(cd "$(dirname "$0")/.." && pwd)
"$work/venv/bin/pyftsubset" "$work/package/files/noto-sans-math-latin-400-normal.woff2" \
  --unicodes="U+0020-007E,U+00A0-00FF,U+0131,U+0237,U+02C6-02DD,U+0300-036F,U+0391-03C9,U+03D1,U+03D5,\
U+03D6,U+03F0,U+03F1,U+03F5,U+2000-206F,U+2100-214F,U+2190-21FF,U+2200-22FF,U+2308-230B,\
U+2329-232A,U+239B-23B3,U+27E6-27EF,U+1D400-1D4CF,U+1D538-1D56B,U+1D6A8-1D755,U+1D7CE-1D7E1" \
  --layout-features='*' --no-hinting --flavor=woff2 \
  --output-file="$here/docs/assets/fonts/noto-sans-math.woff2"
cp "$work/package/LICENSE" "$here/docs/assets/fonts/OFL.txt"
ls -l "$here/docs/assets/fonts/noto-sans-math.woff2"
