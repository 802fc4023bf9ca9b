#!/bin/sh
# Update the vendored Chart.js from the npm registry tarball (no CDN at run time):
#   sh server/web/static/vendor/update_chartjs.sh 4.6.1
set -eu
version="${1:?usage: update_chartjs.sh VERSION}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "chart.js@$version" >/dev/null && tar xzf "chart.js-$version.tgz")
cp "$tmp/package/dist/chart.umd.min.js" "$tmp/package/LICENSE.md" "$here/chartjs/"
sha="$(sha256sum "$tmp/chart.js-$version.tgz" | cut -d' ' -f1)"
cat > "$here/chartjs/VERSION" <<EOT
chart.js $version (MIT, LICENSE.md beside this file)
from the npm registry tarball https://registry.npmjs.org/chart.js/-/chart.js-$version.tgz (sha256 $sha), file dist/chart.umd.min.js
update: sh server/web/static/vendor/update_chartjs.sh <version>
EOT
echo "chart.js $version vendored into $here/chartjs"
