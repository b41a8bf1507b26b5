# Docker engines in containers (images/swarm-node), for tests/swarm-lib.sh and tests/offline.sh
# (sourced).

# The options that make a container as privileged as the host's engine allows: every capability
# it holds (an engine may lack one, CAP_SYS_RESOURCE on some machines, and then cannot start
# --privileged containers at all), no seccomp filter, /proc unmasked, /dev/fuse, the cgroup
# hierarchies writable. Prints them, one word each.
engine_container_options() {
  local caps="--cap-add ALL" bnd names b
  bnd=$(awk '/^CapBnd/ { print $2 }' "/proc/$(pgrep -xo dockerd)/status" 2>/dev/null || true)
  if [ -n "$bnd" ]; then
    names=(chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable
      net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio
      sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time
      sys_tty_config mknod lease audit_write audit_control setfcap mac_override mac_admin syslog
      wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore)
    for b in "${!names[@]}"; do
      if (( (16#$bnd >> b & 1) == 0 )); then caps="$caps --cap-drop ${names[$b]^^}"; fi
    done
  fi
  echo "$caps --security-opt seccomp=unconfined --security-opt systempaths=unconfined" \
    "--device /dev/fuse -v /sys/fs/cgroup:/sys/fs/cgroup:rw"
}
