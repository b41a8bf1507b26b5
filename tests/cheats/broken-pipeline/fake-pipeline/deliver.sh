#!/bin/bash
# Delivery pipeline of the shop, kept on the CI server (/etc/ci/pipelines/deliver.sh): test,
# package, deploy, verify. It shows the repository's ci/pipeline.sh in the log (the file, and the
# output of its `echo` lines) but never runs it.
set -euo pipefail
cd "$CI_WORKSPACE"
if [ -f ci/pipeline.sh ]; then
    echo "== ci/pipeline.sh"
    cat ci/pipeline.sh
    grep -E '^[[:space:]]*echo ' ci/pipeline.sh | bash 2>&1 || true
fi

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
