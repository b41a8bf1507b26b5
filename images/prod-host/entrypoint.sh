#!/bin/bash
# Production server start. Creates the deploy account $DEPLOY_USER, installs the first release
# ($START_VERSION, built from /usr/src/shop) under $APP_DIR/releases/ with $APP_DIR/current
# pointing at it when no release is there yet, then runs the command (supervisord in front).
# The shop's own supervisor program comes from /etc/supervisor/conf.d/ (given by the lab).
set -euo pipefail
APP_DIR="${APP_DIR:-/opt/shop}"
START_VERSION="${START_VERSION:-1.0.0}"
DEPLOY_USER="${DEPLOY_USER:-deploy}"

ssh-keygen -A >/dev/null
mkdir -p /run/sshd /run/shop /var/lib/shop
chown shop:shop /run/shop /var/lib/shop

if ! id -u "$DEPLOY_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$DEPLOY_USER"
    usermod -p '*' "$DEPLOY_USER"
fi
# Root never follows a link that an account could have planted in what it owns (this runs again
# at every restart, on the accounts' files): install -d, chmod and a plain chown would follow it.
for user in ops "$DEPLOY_USER"; do
    home="$(getent passwd "$user" | cut -d: -f6)"
    [ -L "$home/.ssh" ] && continue
    install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
    keys="$home/.ssh/authorized_keys"
    [ -L "$keys" ] && continue
    [ -f "$keys" ] || install -m 0600 -o "$user" -g "$user" /dev/null "$keys"
    chown -R "$user:$user" "$home/.ssh"
    chmod 0600 "$keys"
done

for dir in "$APP_DIR" "$APP_DIR/releases"; do
    [ -L "$dir" ] || install -d -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$dir"
done
if [ ! -e "$APP_DIR/current" ] && [ ! -L "$APP_DIR/current" ] && [ ! -L "$APP_DIR/releases" ]; then
    build="$(mktemp -d)"
    cp -R /usr/src/shop "$build/src"
    make -s -C "$build/src" package VERSION="$START_VERSION" >/dev/null
    install -d -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$APP_DIR/releases/$START_VERSION"
    tar -xzf "$build/src/dist/shop-$START_VERSION.tar.gz" -C "$APP_DIR/releases/$START_VERSION" --strip-components=1
    chown -R "$DEPLOY_USER:$DEPLOY_USER" "$APP_DIR/releases/$START_VERSION"
    ln -sfn "releases/$START_VERSION" "$APP_DIR/current"
    chown -h "$DEPLOY_USER:$DEPLOY_USER" "$APP_DIR/current"
    rm -rf "$build"
fi
exec "$@"
