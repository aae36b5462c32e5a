# Helpers for the guest test scripts (busybox sh). The harness puts this file at /guest/lib.sh:
#   npm run guest -- --script e2e/guest/files.sh --file e2e/guest/lib.sh
# Every failed check prints one "FAIL: ..." line; `finish` exits with the number of failures.

# A script may source another that sources this file again: keep the failures counted so far.
W9P_FAILS=${W9P_FAILS:-0}

ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  W9P_FAILS=$((W9P_FAILS + 1))
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
  if [ "$1" = "$2" ]; then ok "$3"; else fail "$3: expected [$2], got [$1]"; fi
}

# check WHAT CMD [ARGS...]: CMD must succeed
check() {
  _what=$1
  shift
  if _out=$("$@" 2>&1); then ok "$_what"; else fail "$_what: '$*' failed: $_out"; fi
}

# check_fails WHAT CMD [ARGS...]: CMD must fail
check_fails() {
  _what=$1
  shift
  if _out=$("$@" 2>&1); then fail "$_what: '$*' succeeded: $_out"; else ok "$_what"; fi
}

# Milliseconds since boot (ns resolution source; /proc/uptime only has 10 ms).
now_ms() { awk '/^now at/ { printf "%d\n", $3 / 1000000; exit }' /proc/timer_list; }

# wait_in_9p PID: returns once PID sleeps in a 9P request (its wchan is a p9_* function);
# fails if it exits first. Synchronizes a test on the request being on the wire, not on a sleep.
wait_in_9p() {
  while [ -e "/proc/$1" ]; do
    case "$(cat "/proc/$1/wchan" 2> /dev/null)" in p9_*) return 0 ;; esac
    sleep 0.01
  done
  return 1
}

# wait_in_syscall PID NR: returns once PID sleeps inside system call NR (an i386 number: its
# /proc/PID/syscall names the call only while it is not running); fails if PID exits first
# (a zombie not yet reaped included).
wait_in_syscall() {
  while [ -e "/proc/$1" ]; do
    _state=
    read -r _pid _comm _state _rest 2> /dev/null < "/proc/$1/stat"
    [ "$_state" = Z ] && return 1
    _nr=
    read -r _nr _rest 2> /dev/null < "/proc/$1/syscall"
    [ "$_nr" = "$2" ] && return 0
    sleep 0.01
  done
  return 1
}

# wait_in_9p_io PID FILE: returns once PID sleeps in a 9P request inside a read or write system
# call on FILE (read, write, pread64, pwrite64, readv, writev, sendfile, splice, copy_file_range:
# i386 numbers), so a kill there flushes that file's request, not one of the requests that exec'ing
# the program or opening the file makes; fails if PID exits first. Shell builtins only but for the
# sleep between looks: on a 9P root every program run is many requests.
wait_in_9p_io() {
  while [ -e "/proc/$1" ]; do
    _w=
    read -r _w 2> /dev/null < "/proc/$1/wchan"
    case "$_w" in
      p9_*)
        _nr= _a1= _a2=
        read -r _nr _a1 _a2 _rest 2> /dev/null < "/proc/$1/syscall"
        case "$_nr" in
          3|4|180|181|145|146|187|239|313|377)
            for _fd in "$_a1" "$_a2"; do
              case "$_fd" in 0x*) [ "/proc/$1/fd/$((_fd))" -ef "$2" ] && return 0 ;; esac
            done
            ;;
        esac
        ;;
    esac
    sleep 0.01
  done
  return 1
}

drop_caches() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
}

sum() { md5sum "$1" | cut -d' ' -f1; }

# Kernel complaints: anything 9p/virtio-related besides the module banners, and any oops/warning.
dmesg_complaints() {
  dmesg | grep -E '9p|v9fs|virtio|p9_|netfs|FS-Cache|WARNING|BUG|Oops|Call Trace|blocked for more than|refcount' |
    grep -vE 'Installing 9P2000 support|Installing v9fs 9p2000 file system support|FS-Cache: Loaded|virtio-pci .*found PCI INT|ACPI BIOS Error|BIOS bug'
}

check_dmesg_clean() {
  _c=$(dmesg_complaints)
  if [ -z "$_c" ]; then ok "dmesg clean"; else fail "dmesg has complaints:
$_c"; fi
}

finish() {
  if [ "$W9P_FAILS" -eq 0 ]; then echo "ALL CHECKS PASSED"; else echo "$W9P_FAILS CHECK(S) FAILED"; fi
  exit "$W9P_FAILS"
}
