# The Debian root (npm run image) served over 9P: run by its /sbin/init with bash as root, cwd /root.
# lib.sh comes in the run's files, which the initramfs put in $W9P_GUEST_DIR (/run/w9p).
. "$W9P_GUEST_DIR/lib.sh"

fstype() { awk -v m="$1" '$2 == m { t = $3 } END { print t }' /proc/mounts; }

# --- the boot: root on 9P, our init as PID 1, the kernel file systems mounted
expect_eq "$(fstype /)" 9p "the root is the 9P tree"
expect_eq "$(tr '\0' ' ' </proc/1/cmdline)" "/bin/sh /sbin/init " "PID 1 is the image's /sbin/init"
for m in /proc:proc /sys:sysfs /dev:devtmpfs /dev/pts:devpts /tmp:tmpfs /run:tmpfs; do
  expect_eq "$(fstype "${m%%:*}")" "${m#*:}" "${m%%:*} is mounted (${m#*:})"
done
expect_eq "$(hostname)" debian "hostname from /etc/hostname"
check "/dev/null is a character device" test -c /dev/null
check "/dev/ptmx opens a pseudo-terminal" python3 -c 'import os, pty; m, s = pty.openpty(); print(os.ttyname(s))'

# --- maintainer-script effects: users and groups, alternatives, ld.so cache
expect_eq "$(id -un):$(id -gn)" root:root "running as root"
expect_eq "$(getent passwd root | cut -d: -f6,7)" /root:/bin/bash "root's home and shell"
check "base-passwd's system groups exist" getent group adm
check "root has a shadow entry" grep -q '^root:' /etc/shadow
expect_eq "$(readlink -f /usr/bin/cc)" /usr/bin/i686-linux-gnu-gcc-12 "cc → gcc-12 through the alternatives"
case "$(readlink -f /usr/bin/editor)" in
  /usr/bin/nano|/usr/bin/vim.tiny|/bin/nano) ok "editor → $(readlink -f /usr/bin/editor)" ;;
  *) fail "editor alternative: $(readlink -f /usr/bin/editor)" ;;
esac
check "the ld.so cache knows libc" sh -c 'ldconfig -p | grep -q "libc.so.6 (libc6"'
check "ca-certificates made its bundle" test -s /etc/ssl/certs/ca-certificates.crt

# --- the tools
expect_eq "$(bash -c 'echo ${BASH_VERSINFO[0]}')" 5 "bash 5"
expect_eq "$(python3 -c 'print(1)')" 1 "python3 -c 'print(1)'"
cd /root
printf '#include <stdio.h>\nint main(void) { printf("hello, %%s\\n", "9P"); return 0; }\n' > hello.c
check "cc hello.c" cc hello.c
expect_eq "$(./a.out)" "hello, 9P" "the compiled hello runs"
printf 'hello2: hello.c\n\tcc -O2 -o $@ $<\n' > Makefile
check "make builds with cc" make hello2
expect_eq "$(./hello2)" "hello, 9P" "make's hello runs"
mkdir repo && cd repo
check "git init" git init -q
echo one > file.txt
check "git add" git add file.txt
check "git commit" git -c user.name=t -c user.email=t@example.org commit -qm first
expect_eq "$(git log --format=%s)" first "git log shows the commit"
expect_eq "$(git cat-file -p HEAD:file.txt)" one "git reads the blob back"
cd /root
case "$(file -b /bin/bash)" in
  "ELF 32-bit LSB pie executable, Intel 80386"*) ok "file knows an i386 ELF" ;;
  *) fail "file -b /bin/bash: $(file -b /bin/bash)" ;;
esac
expect_eq "$(file -b --mime-type hello.c)" text/x-c "file's magic database"
expect_eq "$(printf 'b\na\n' | sort | sed 's/a/A/' | grep -c A)" 1 "coreutils, sed, grep"
check "findutils" sh -c 'find /etc -maxdepth 1 -name passwd | grep -q passwd'
check "procps sees PID 1" sh -c 'ps -p 1 -o pid= | grep -q 1'
check "less runs" sh -c 'echo x | less -F >/dev/null'
check "util-linux" sh -c 'lsblk --version >/dev/null && setsid --version >/dev/null'
check "nano runs" nano --version
check "vim.tiny runs" vim.tiny --version

# --- changes to base files (the next boot on this tree checks they are kept, debian-reload.sh)
echo "changed by the first boot" > /etc/motd
expect_eq "$(cat /etc/motd)" "changed by the first boot" "an edit of a base file reads back"
check "rm of a base file" rm /usr/bin/yes
check_fails "the removed base file is gone" test -e /usr/bin/yes

check_dmesg_clean
finish
