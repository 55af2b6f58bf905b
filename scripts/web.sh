#!/usr/bin/env bash
# Builds the web client into web-client/dist when its sources are newer than the build.
set -euo pipefail
cd "$(dirname "$0")/../web-client"
[ -f package.json ] || exit 0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
stamp=dist/.built
if [ ! -f "$stamp" ] || [ -n "$(find src *.html package.json vite.config.* -newer "$stamp" 2>/dev/null | head -1)" ]; then
  npm run build --silent
  touch "$stamp"
fi
