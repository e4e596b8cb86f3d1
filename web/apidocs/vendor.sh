#!/usr/bin/env bash
# The API reference viewer served at /api/docs: Swagger UI's standalone bundle from the npm package
# swagger-ui-dist, whose version web/package.json pins (and web/package-lock.json locks, with its
# hash). The copy in web/apidocs/vendor/ is committed and embedded in the binary, so running Confab
# needs neither npm nor the network.
#
#   npm ci --prefix web && web/apidocs/vendor.sh           # refresh the copy (after changing the pin)
#   npm ci --prefix web && web/apidocs/vendor.sh --check   # CI: the copy is exactly the locked version
set -euo pipefail
cd "$(dirname "$0")"
from=../node_modules/swagger-ui-dist
files=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE)
[ -d "$from" ] || { echo "$from is missing: run npm ci --prefix web first" >&2; exit 1; }
version=$(node -p "require('$from/package.json').version")
if [ "${1:-}" = "--check" ]; then
    for f in "${files[@]}"; do
        cmp -s "$from/$f" "vendor/$f" || {
            echo "web/apidocs/vendor/$f differs from swagger-ui-dist $version: run web/apidocs/vendor.sh" >&2
            exit 1
        }
    done
    grep -qx "$version" vendor/VERSION || { echo "web/apidocs/vendor/VERSION is not $version" >&2; exit 1; }
    echo "web/apidocs/vendor is swagger-ui-dist $version"
else
    for f in "${files[@]}"; do cp "$from/$f" "vendor/$f"; done
    echo "$version" > vendor/VERSION
    echo "web/apidocs/vendor: swagger-ui-dist $version"
fi
