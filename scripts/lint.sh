#!/usr/bin/env bash
# Static checks: TypeScript, ESLint (type-aware), and the protobuf contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> tsc"
npx tsc -p tsconfig.json
echo "==> eslint"
npx eslint --max-warnings 0 .
echo "==> buf lint / format"
npx buf lint
npx buf format -d --exit-code
