#!/bin/bash
# Workstation start: host keys are made per container, then the command (sshd -D) runs in front.
set -euo pipefail
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
chown trainee:trainee /home/trainee
# Root never follows a link the trainee could have planted (this runs again at every restart):
# chown -R and find do not follow links, chmod would.
if [ -d /home/trainee/.ssh ] && [ ! -L /home/trainee/.ssh ]; then
    chown -R trainee:trainee /home/trainee/.ssh
    chmod 0700 /home/trainee/.ssh
    find /home/trainee/.ssh -type f -name 'id_*' ! -name '*.pub' -exec chmod 0600 {} +
fi
exec "$@"
