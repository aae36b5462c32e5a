#!/bin/sh
# /sbin/init of worker9p's Debian root (no systemd). The initramfs mounted this tree over 9P and
# switch_root'ed here. Mount the kernel file systems, name the host, then either run the guest
# harness's script (/run/w9p/script.sh, put there by the initramfs) or give the console a root
# login shell with job control, again whenever it exits.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mountpoint_ok() { [ -d "$2" ] || mkdir -p "$2"; mounted "$2" || mount -t "$1" ${3:+-o "$3"} "$1" "$2"; }
[ -r /proc/mounts ] || mount -t proc proc /proc
mountpoint_ok sysfs /sys
mountpoint_ok devtmpfs /dev mode=0755
mountpoint_ok devpts /dev/pts gid=5,mode=0620,ptmxmode=0666
mountpoint_ok tmpfs /dev/shm mode=1777
mountpoint_ok tmpfs /tmp mode=1777
mountpoint_ok tmpfs /run mode=0755
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
for l in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
  [ -e "/dev/${l%%:*}" ] || ln -s "${l#*:}" "/dev/${l%%:*}"
done
mkdir -p /run/lock
cat /etc/hostname > /proc/sys/kernel/hostname 2>/dev/null

console=/dev/ttyS0
[ -c "$console" ] || console=/dev/console
w9p_poweroff() {
  echo o > /proc/sysrq-trigger
  sleep 30
}
if [ -f /run/w9p/script.sh ]; then
  [ -f /run/w9p/config ] && . /run/w9p/config
  export W9P_GUEST_DIR=/run/w9p TERM=dumb
  echo "@@W9P-MOUNTED $(cut -d' ' -f1 /proc/uptime)"
  cd /root
  bash /run/w9p/script.sh </dev/null
  rc=$?
  cd /
  echo "@@W9P-EXIT $rc"
  w9p_poweroff
fi
echo "@@W9P-MOUNTED $(cut -d' ' -f1 /proc/uptime)"
export TERM=${TERM:-linux}
cd /root
while :; do
  # setsid -c makes the console the shell's controlling terminal, so job control (^C, ^Z) works.
  setsid -c -w /bin/bash -l <"$console" >"$console" 2>&1
  sleep 1
done
