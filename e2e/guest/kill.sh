# Tflush through virtio: run with --latency-ms (e.g. 2000) and --mount-opts cache=none.
# Reads and writes of files named slow* take that long on the server, abortably; those of files
# named stuck* wait until their request is aborted (src/fs/latency.ts). A SIGKILLed reader/writer
# makes Linux send Tflush, and the server must cancel at once. The requests this script kills go
# to stuck* names, so a kill never races the latency on a slow machine; slow* is for the requests
# that must complete.
# W9P_DIR: where on the 9P tree (default /mnt, the busybox guest's mount; the Debian root: /root).
# W9P_SLOW_BASE: a base image file whose fetches the server holds until they are aborted, until
# W9P_SLOW_BASE_KILLS (default 5) of them were (section 5; worker/slow-base.ts).
. "${W9P_GUEST_DIR:-/guest}/lib.sh"

LAT=${W9P_LATENCY_MS:-2000}
N=${W9P_KILLS:-100}
D=${W9P_DIR:-/mnt}
cd "$D" || exit 100

printf 'slow data\n' > slowfile # one slow write
expect_eq "$(cat slowfile)" "slow data" "slowfile written"
ln slowfile stuckfile # the same file: reads through this name wait until killed

# 1. N readers killed while their Tread waits on the server (N > the 32 virtqueue slots).
# Each reader is killed only once it sleeps in a 9P request, so every kill must send a Tflush
# and the server must cancel the read (the harness checks its counters: flushed before commit).
# A reader is a subshell reading with the shell's builtin: no program to load (on a 9P root that
# is many requests, and 30 of them would take longer than a slow read lasts).
# The timings are printed for the record, not judged: on a loaded machine they say nothing.
t0=$(now_ms)
max=0
i=0
while [ $i -lt "$N" ]; do
  (read -r _x < $D/stuckfile) &
  pid=$!
  wait_in_9p_io $pid stuckfile || fail "reader $i never blocked in a 9P read of stuckfile"
  ta=$(now_ms)
  kill -9 $pid
  wait $pid 2> /dev/null
  tb=$(now_ms)
  [ $((tb - ta)) -gt $max ] && max=$((tb - ta))
  i=$((i + 1))
done
t1=$(now_ms)
echo "KILL-LOOP n=$N elapsed_ms=$((t1 - t0)) max_ms=$max latency_ms=$LAT"

# 2. The mount still works.
echo after > $D/after.txt
expect_eq "$(cat $D/after.txt)" "after" "create/read after the kills"
mkdir -p $D/d1/d2 && echo x > $D/d1/d2/f
expect_eq "$(cat $D/d1/d2/f)" "x" "mkdir/create after the kills"
expect_eq "$(cat $D/slowfile)" "slow data" "a slow read that is not killed still completes"

# 3. A killed writer leaves no partial data: its Twrite is flushed before it takes effect.
# Writes of at most 1024 bytes go through p9_client_rpc, which sends Tflush when killed.
dd if=/dev/zero bs=1024 count=8 2> /dev/null | tr '\000' 'a' > fastview
ln fastview slowout # the same file under a name without latency, for the checks
ln fastview stuckout
before_sum=$(sum fastview)
before_size=$(stat -c %s fastview)
dd if=/dev/urandom of=$D/stuckout bs=1024 count=4 conv=notrunc 2> /dev/null &
pid=$!
wait_in_9p_io $pid stuckout || fail "the writer never blocked in a 9P write of stuckout"
kill -9 $pid
wait $pid 2> /dev/null
drop_caches
expect_eq "$(stat -c %s fastview)" "$before_size" "killed writer: size unchanged"
expect_eq "$(sum fastview)" "$before_sum" "killed writer: content unchanged"

# a killed appender
dd if=/dev/urandom bs=1024 count=2 2> /dev/null >> $D/stuckout &
pid=$!
wait_in_9p_io $pid stuckout || fail "the appender never blocked in a 9P write of stuckout"
kill -9 $pid
wait $pid 2> /dev/null
drop_caches
expect_eq "$(stat -c %s fastview)" "$before_size" "killed appender: size unchanged"
expect_eq "$(sum fastview)" "$before_sum" "killed appender: content unchanged"

# Writes over 1024 bytes use p9_client_zc_rpc: Linux 6.1 rewrites the size field of such a
# Twrite to include the zero-copy payload, p9_client_flush's p9_parse_header() then fails with
# EINVAL and NO Tflush is sent; the write completes on the server after the writer is gone.
# It must still be all-or-nothing: the first 4096-byte block is either untouched or replaced.
head -c 4096 /dev/zero | tr '\000' 'b' > /tmp/bbbb
cat /tmp/bbbb /tmp/bbbb > /tmp/bbbb2
dd if=/tmp/bbbb2 of=$D/slowout bs=4096 count=2 conv=notrunc 2> /dev/null &
pid=$!
wait_in_9p_io $pid slowout || fail "the zero-copy writer never blocked in a 9P write of slowout"
kill -9 $pid
wait $pid 2> /dev/null
# With no Tflush to stop it, the write lands once its latency has passed: wait for the file to
# change rather than for a guessed time. The cap (far beyond LAT) ends the wait should a kernel
# flush it after all, leaving the file unchanged, which is a right outcome too.
i=0
while [ "$(sum fastview)" = "$before_sum" ] && [ $i -lt 600 ]; do
  sleep 0.1
  i=$((i + 1))
done
drop_caches
head -c 4096 /tmp/bbbb > /tmp/expect1
tail -c 4096 fastview >> /tmp/expect1 2> /dev/null
got=$(sum fastview)
if [ "$got" = "$before_sum" ] || [ "$got" = "$(sum /tmp/expect1)" ]; then ok "killed zero-copy writer: all or nothing"; else fail "killed zero-copy writer left partial data: $(od -c fastview | head -5)"; fi
expect_eq "$(stat -c %s fastview)" "$before_size" "killed zero-copy writer: size unchanged"

# 4. Many readers in flight at once, killed together. 30, so they all fit in the 32-slot ring:
# a request killed while WAITING for ring space hits a Linux 6.1 bug (p9_virtio_zc_request drops
# the request's transport reference because it was never kicked, then p9_client_zc_rpc flushes it
# anyway and p9_virtio_cancelled drops it again: "refcount_t: underflow" WARNING in p9_req_put).
i=0
pids=""
while [ $i -lt 30 ]; do
  (read -r _x < $D/stuckfile) &
  pids="$pids $!"
  i=$((i + 1))
done
for p in $pids; do wait_in_9p_io $p stuckfile || fail "a parallel reader never blocked in a 9P read of stuckfile"; done
t0=$(now_ms)
kill -9 $pids
for p in $pids; do wait $p 2> /dev/null; done
t1=$(now_ms)
echo "PARALLEL-KILL n=30 elapsed_ms=$((t1 - t0))"
echo again > $D/after.txt
expect_eq "$(cat $D/after.txt)" "again" "mount works after the parallel kills"

# 5. Reads waiting on the base image's fetch, killed: each Tflush must abort its fetch() (the
# harness checks the base image's abortedFetches); then a read nobody kills gets the right bytes.
# A held fetch ends only when aborted, and the hold lifts once W9P_SLOW_BASE_KILLS fetches were, so
# the last read ends only if every kill reached fetch(): if one did not, it would hang, which the
# timeout (a cap, far beyond a read of 64 KiB) turns into a failure.
if [ -n "${W9P_SLOW_BASE:-}" ]; then
  i=0
  while [ $i -lt "${W9P_SLOW_BASE_KILLS:-5}" ]; do
    (read -r _x < "$W9P_SLOW_BASE") &
    pid=$!
    wait_in_9p_io $pid "$W9P_SLOW_BASE" || fail "base reader $i never blocked in a 9P read"
    kill -9 $pid
    wait $pid 2> /dev/null
    i=$((i + 1))
  done
  timeout 300 head -c 65536 "$W9P_SLOW_BASE" > /tmp/slow-base-head \
    || fail "the read after the kills failed or never ended (status $?): a kill did not abort its fetch, so the hold did not lift"
  echo "SLOW-BASE-HEAD $(md5sum < /tmp/slow-base-head | cut -d' ' -f1)"
fi

check_dmesg_clean
finish
