#!/bin/bash
# Delivery pipeline of the shop, run by the CI for every push to main:
# test, package, deploy to production, check that production serves the new version.
# Any failing step ends the run with a non-zero code: the CI marks the commit failed and
# nothing after that step happens.
set -euo pipefail

PROD_HOST=prod
DEPLOY_USER=@DEPLOY_USER@
APP_DIR=@APP_DIR@
HEALTH_URL=http://prod:@WEB_PORT@/health
KEEP_RELEASES=5

VERSION="$(cat VERSION)"
PACKAGE="dist/shop-$VERSION.tar.gz"
SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=10)

echo "--- test"
make test

echo "--- package $VERSION"
make package VERSION="$VERSION"

echo "--- deploy $VERSION to $PROD_HOST"
scp "${SSH_OPTS[@]}" "$PACKAGE" "$DEPLOY_USER@$PROD_HOST:/tmp/shop-$VERSION.tar.gz"
ssh "${SSH_OPTS[@]}" "$DEPLOY_USER@$PROD_HOST" bash -s -- "$VERSION" "$APP_DIR" "$KEEP_RELEASES" <<'REMOTE'
set -euo pipefail
version="$1" app="$2" keep="$3"
release="$app/releases/$version"
rm -rf "$release.new"
mkdir -p "$release.new"
tar -xzf "/tmp/shop-$version.tar.gz" -C "$release.new" --strip-components=1
rm -rf "$release"
mv "$release.new" "$release"
ln -sfn "releases/$version" "$app/current.new"
mv -T "$app/current.new" "$app/current"
sudo supervisorctl restart shop
rm -f "/tmp/shop-$version.tar.gz"
cd "$app/releases"
ls -1t | { grep -vxF "$version" || true; } | tail -n +"$keep" | xargs -r rm -rf --
REMOTE

echo "--- verify"
for _ in $(seq 1 30); do
    if curl -fsS "$HEALTH_URL" | grep -qF "\"version\": \"$VERSION\""; then
        echo "production serves $VERSION, healthy"
        exit 0
    fi
    sleep 1
done
echo "production does not serve $VERSION healthy after 30 s" >&2
exit 1
