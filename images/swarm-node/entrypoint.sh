#!/bin/sh
# Starts the node's engine: overlay2 where the node's storage takes it, else fuse-overlayfs,
# else vfs (slow, but works everywhere).
set -e
mkdir -p /var/lib/docker/.probe/lower /var/lib/docker/.probe/upper /var/lib/docker/.probe/work /var/lib/docker/.probe/merged
driver=vfs
if mount -t overlay overlay -o lowerdir=/var/lib/docker/.probe/lower,upperdir=/var/lib/docker/.probe/upper,workdir=/var/lib/docker/.probe/work /var/lib/docker/.probe/merged 2>/dev/null; then
  umount /var/lib/docker/.probe/merged
  driver=overlay2
elif [ -e /dev/fuse ] && command -v fuse-overlayfs >/dev/null; then
  driver=fuse-overlayfs
fi
rm -rf /var/lib/docker/.probe
echo "swarm-node: storage driver $driver"
# cgroup v1 hierarchies are mounted read-only for containers unless privileged: the engine
# needs them writable, which privileged gives.
exec dockerd --host unix:///var/run/docker.sock --host tcp://0.0.0.0:2375 \
  --storage-driver "$driver" --log-level warn "$@"
