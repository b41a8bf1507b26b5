#!/bin/bash
# Git server start. On the first start, creates the bare repository /srv/git/$REPO.git seeded
# with the shop's sources at $START_VERSION, and installs the hooks found in /etc/ci/hooks/.
# Then starts nginx (CI pages, /etc/nginx/sites-enabled/*) and runs the command (sshd -D).
set -euo pipefail
REPO="${REPO:-shop}"
START_VERSION="${START_VERSION:-1.0.0}"
BARE="/srv/git/$REPO.git"

ssh-keygen -A >/dev/null
mkdir -p /run/sshd
# Root never follows a link that an account could have planted in what it owns (this runs again
# at every restart, on the accounts' files): chown -R and find do not follow links, chmod and a
# plain chown would, so links are left alone.
for home in /srv/git /home/ops; do
    owner="$(stat -c %U "$home")"
    if [ -d "$home/.ssh" ] && [ ! -L "$home/.ssh" ]; then
        chown -R "$owner:$owner" "$home/.ssh"
        chmod 0700 "$home/.ssh"
        find "$home/.ssh" -type f \( -name authorized_keys -o -name 'id_*' \) ! -name '*.pub' -exec chmod 0600 {} +
    fi
done

if [ ! -f "$BARE/HEAD" ]; then
    seed="$(mktemp -d)"
    cp -R /usr/src/shop/. "$seed/"
    find "$seed" -name __pycache__ -prune -exec rm -rf {} +
    printf '%s\n' "$START_VERSION" > "$seed/VERSION"
    (
        cd "$seed"
        export GIT_AUTHOR_NAME="Alice Martin" GIT_AUTHOR_EMAIL="alice@$REPO.example"
        export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
        git init -q -b main
        git add shop migrations/001_create_items.sql Makefile README.md .gitignore VERSION
        git commit -q -m "Import the shop"
        git add -A
        git commit -q -m "Tests, and an index on item names"
    )
    git clone -q --bare "$seed" "$BARE"
    rm -rf "$seed"
    if compgen -G "/etc/ci/hooks/*" >/dev/null; then
        for hook in /etc/ci/hooks/*; do
            install -m "$(stat -c %a "$hook")" "$hook" "$BARE/hooks/$(basename "$hook")"
        done
    fi
    chown -R git:git "$BARE"
fi
chown -h git:git /var/lib/ci /var/lib/ci/www /var/lib/ci/work
[ -f /var/lib/ci/www/index.html ] || su git -s /bin/sh -c '/usr/local/bin/ci-run --index'

nginx
exec "$@"
