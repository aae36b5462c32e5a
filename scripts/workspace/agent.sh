# The workspace agent: the guest's init runs it (stdin /dev/null; see below for which init). It
# makes sure the tree is where the user expects it, starts the user's shell on the
# serial console (ttyS0, the page's terminal) and then serves the page's control channel on the
# second serial port (ttyS1), which never mixes with what the user sees. Control lines, one per
# command, page → guest:
#   RUN <id>            run /root/.w9p/<id>.sh with sh in /root, output to /root/.w9p/<id>.out
#                       (the page creates /root/.w9p for the script; DEL removes it once empty)
#   KILL <id>           SIGKILL that run's whole process group (a page-side timeout)
#   DEL <id>            forget that run's files (the page has read the output)
#   SIZE <rows> <cols>  the terminal's size (stty; the kernel sends SIGWINCH)
#   PING <n>            answered "@@W9P-PONG <n>" (the page's hang watchdog)
# guest → page: "@@W9P-READY", "@@W9P-DONE <id> <status>", "@@W9P-PONG <n>".
# Two guests, one agent. busybox: /init runs it once the tree is mounted at /mnt; the tree is
# the home, bound to /root, and the shell is busybox sh. A root tree (W9P_ROOT, exported by the
# image's config): the Debian root's /sbin/init runs it as /run/w9p/script.sh; the tree is / and
# the home is /root in it already, and the shell is bash as a login shell whose controlling tty
# is the console (setsid -c), so job control (^C, ^Z, fg) works.
if [ -n "$W9P_ROOT" ]; then
  user_shell() { setsid -c -w bash -l </dev/ttyS0 >/dev/ttyS0 2>&1; }
else
  mount -o bind /mnt /root || { echo "@@W9P-ERROR bind /root"; exit 97; }
  user_shell() { setsid sh -c 'cd /root; exec sh -l </dev/ttyS0 >/dev/ttyS0 2>&1'; }
fi
cd /root
export HOME=/root TERM=xterm-256color
# Both serial ports stay open for the agent's life. A byte that reaches a port nobody has open
# is dropped: the page answers READY with SIZE at once, and the loop below used to open ttyS1
# only after READY (the first letters were lost, "ZE 46 96"). And a tty keeps its size only
# while something has it open: on the Debian root nothing holds the console until the user's
# shell opens it, which may be after the page's SIZE came (bash then ran at 0x0: 80 columns).
exec 3<>/dev/ttyS0 4<>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo -onlcr
# The user's shell; a new one when it exits (`exit` in the terminal must not end the machine).
(
  while :; do
    user_shell
    echo "[the shell exited; starting a new one]" >/dev/ttyS0
  done
) &
echo "@@W9P-READY" >&4
while read -r cmd a b <&4; do
  case "$cmd" in
  RUN)
    # The script runs in a session of its own (so KILL reaches all it started) that never opens
    # a tty; this subshell, in the agent's tty-less session, reports the status.
    (
      setsid sh -c 'cd /root && exec sh "/root/.w9p/$1.sh"' run "$a" >"/root/.w9p/$a.out" 2>&1 </dev/null &
      echo $! >"/tmp/w9p-run.$a"
      wait $!
      echo "@@W9P-DONE $a $?" >/dev/ttyS1
    ) &
    ;;
  KILL)
    p=$(cat "/tmp/w9p-run.$a" 2>/dev/null) && kill -9 -- "-$p" 2>/dev/null ;;
  DEL)
    rm -f "/root/.w9p/$a.sh" "/root/.w9p/$a.out" "/tmp/w9p-run.$a"
    rmdir /root/.w9p 2>/dev/null ;;
  SIZE)
    stty -F /dev/ttyS0 rows "$a" cols "$b" ;;
  PING)
    echo "@@W9P-PONG $a" >&4 ;;
  esac
done
