# File data through the 9P mount: integrity after dropping the page cache, a 64 MiB file,
# append, truncate, sparse files, concurrent writers, an unlinked file kept open, flock, df.
. /guest/lib.sh

mkdir -p /mnt/data && cd /mnt/data || exit 100

# ---- integrity of assorted sizes (page, msize and chunk boundaries), read back cold
head -c 1048576 /dev/urandom > /tmp/r1m
for n in 0 1 4095 4096 4097 65535 65536 65537 131071 131072 131073 1048576; do
  head -c $n /tmp/r1m > /tmp/src
  cp /tmp/src f$n
done
drop_caches
for n in 0 1 4095 4096 4097 65535 65536 65537 131071 131072 131073 1048576; do
  head -c $n /tmp/r1m > /tmp/src
  expect_eq "$(sum f$n)" "$(sum /tmp/src)" "content of a $n-byte file after drop_caches"
  expect_eq "$(stat -c %s f$n)" "$n" "size of a $n-byte file"
done
# odd block sizes on read and write
dd if=/tmp/r1m of=odd bs=7777 2> /dev/null
drop_caches
expect_eq "$(dd if=odd bs=12345 2> /dev/null | md5sum | cut -d' ' -f1)" "$(sum /tmp/r1m)" "written with bs=7777, read with bs=12345"
expect_eq "$(dd if=odd bs=1 skip=500000 count=16 2> /dev/null | md5sum)" "$(dd if=/tmp/r1m bs=1 skip=500000 count=16 2> /dev/null | md5sum)" "16 bytes read at offset 500000"
# overwrite in the middle
printf 'MIDDLE' | dd of=odd bs=1 seek=300000 conv=notrunc 2> /dev/null
printf 'MIDDLE' | dd of=/tmp/r1m.copy bs=1 seek=300000 conv=notrunc 2> /dev/null
cp /tmp/r1m /tmp/r1m.copy && printf 'MIDDLE' | dd of=/tmp/r1m.copy bs=1 seek=300000 conv=notrunc 2> /dev/null
drop_caches
expect_eq "$(sum odd)" "$(sum /tmp/r1m.copy)" "6 bytes overwritten in the middle"
rm -f /tmp/r1m.copy

# ---- a 64 MiB file of random bytes, written with 1 MiB writes, read back cold
t0=$(now_ms)
dd if=/dev/urandom of=/tmp/big bs=1048576 count=64 2> /dev/null
want=$(sum /tmp/big)
t1=$(now_ms)
dd if=/tmp/big of=big bs=1048576 2> /dev/null
t2=$(now_ms)
expect_eq "$(stat -c %s big)" "67108864" "64 MiB file size"
drop_caches
t3=$(now_ms)
got=$(dd if=big bs=1048576 2> /dev/null | md5sum | cut -d' ' -f1)
t4=$(now_ms)
if [ "$got" = "$want" ]; then ok "64 MiB file content after drop_caches"; else fail "64 MiB file content differs: $(cmp /tmp/big big 2>&1 | head -n 3)"; fi
echo "BIG urandom_ms=$((t1 - t0)) write_ms=$((t2 - t1)) read_ms=$((t4 - t3))"
expect_eq "$(dd if=big bs=4096 skip=10000 count=1 2> /dev/null | md5sum)" "$(dd if=/tmp/big bs=4096 skip=10000 count=1 2> /dev/null | md5sum)" "a 4 KiB block read at ~39 MiB"
rm big /tmp/big
check "big removed" test ! -e big

# ---- append
printf 'one\n' > app
printf 'two\n' >> app
printf 'three\n' >> app
drop_caches
expect_eq "$(cat app)" "$(printf 'one\ntwo\nthree')" "append with >>"
head -c 100000 /tmp/r1m >> app
expect_eq "$(stat -c %s app)" "100014" "size after a 100000-byte append"
expect_eq "$(tail -c 100000 app | md5sum | cut -d' ' -f1)" "$(head -c 100000 /tmp/r1m | md5sum | cut -d' ' -f1)" "appended data"

# ---- truncate
head -c 200000 /tmp/r1m > tr
truncate -s 100 tr
expect_eq "$(stat -c %s tr)" "100" "truncate to 100"
expect_eq "$(sum tr)" "$(head -c 100 /tmp/r1m | md5sum | cut -d' ' -f1)" "the first 100 bytes survive truncate"
truncate -s 70000 tr
drop_caches
expect_eq "$(stat -c %s tr)" "70000" "truncate up to 70000"
expect_eq "$(tail -c 69900 tr | tr -d '\000' | wc -c)" "0" "the extension reads as zeros"
: > tr
expect_eq "$(stat -c %s tr)" "0" "truncate with > (O_TRUNC)"
head -c 5000 /tmp/r1m > tr
head -c 10 /tmp/r1m > tr
expect_eq "$(stat -c %s tr)" "10" "rewriting a file with > truncates it"

# ---- sparse files
truncate -s 100M sparse
printf 'X' | dd of=sparse bs=1 seek=52428800 conv=notrunc 2> /dev/null
printf 'Y' | dd of=sparse bs=1 seek=104857599 conv=notrunc 2> /dev/null
drop_caches
expect_eq "$(stat -c %s sparse)" "104857600" "sparse file size"
blocks=$(stat -c %b sparse)
if [ "$blocks" -lt 2048 ]; then ok "sparse file allocates little ($blocks blocks)"; else fail "sparse file has $blocks blocks"; fi
expect_eq "$(dd if=sparse bs=1 skip=52428800 count=1 2> /dev/null)" "X" "byte written at 50 MiB"
expect_eq "$(dd if=sparse bs=1 skip=104857599 count=1 2> /dev/null)" "Y" "last byte"
expect_eq "$(dd if=sparse bs=65536 skip=300 count=16 2> /dev/null | tr -d '\000' | wc -c)" "0" "a hole reads as zeros"
rm sparse

# ---- concurrent writers: different files, then one file at different offsets
for j in 1 2 3 4; do
  (i=0; while [ $i -lt 4 ]; do echo "writer $j part $i"; cat /tmp/r1m; i=$((i + 1)); done) > conc$j &
done
wait
for j in 1 2 3 4; do
  expect_eq "$(sum conc$j)" "$( (i=0; while [ $i -lt 4 ]; do echo "writer $j part $i"; cat /tmp/r1m; i=$((i + 1)); done) | md5sum | cut -d' ' -f1)" "concurrent writer $j (own file)"
done
rm conc1 conc2 conc3 conc4
for j in 0 1 2 3 4 5 6 7; do
  (printf "seg%02d" $j; head -c 262139 /tmp/r1m) > /tmp/seg$j
done
for j in 0 1 2 3 4 5 6 7; do
  dd if=/tmp/seg$j of=shared bs=262144 seek=$j conv=notrunc 2> /dev/null &
done
wait
drop_caches
expect_eq "$(stat -c %s shared)" "2097152" "one file written by 8 concurrent writers: size"
expect_eq "$(sum shared)" "$(cat /tmp/seg0 /tmp/seg1 /tmp/seg2 /tmp/seg3 /tmp/seg4 /tmp/seg5 /tmp/seg6 /tmp/seg7 | md5sum | cut -d' ' -f1)" "one file written by 8 concurrent writers: content"
rm -f /tmp/seg* shared

# ---- an unlinked file kept open
printf 'hello\n' > unl
exec 3<> unl 4< unl
rm unl
check "unlinked name is gone" test ! -e unl
read -r first <&3
expect_eq "$first" "hello" "read through an fd after unlink"
printf 'world\n' >&3
head -c 70000 /tmp/r1m >&3
drop_caches
got=$(cat <&4 | md5sum | cut -d' ' -f1)
expect_eq "$got" "$( (printf 'hello\nworld\n'; head -c 70000 /tmp/r1m) | md5sum | cut -d' ' -f1)" "write through an fd after unlink, read back through another"
exec 3>&- 4<&-
check "directory lists no unlinked file" sh -c '! ls -a | grep -q unl'

# ---- flock (util-linux flock: Tlock through v9fs)
# A holder keeps the lock until the script lets it go, and says when it has it, through fifos:
# every step waits for an event, none for a guessed time. A holder whose flock fails says so too:
# a read of the fifo would otherwise wait for ever (until the harness's timeout, naming nothing).
: > lockf
mkfifo /tmp/lock-held /tmp/lock-release
# hold_lock MODE: starts a holder ($holder); succeeds once it holds lockf in MODE.
hold_lock() {
  { flock "$1" lockf -c 'echo held > /tmp/lock-held; read -r _x < /tmp/lock-release' || echo failed > /tmp/lock-held; } &
  holder=$!
  read -r _held < /tmp/lock-held
  [ "$_held" = held ]
}
if hold_lock -x; then
  check_fails "flock -n fails while another process holds the lock" flock -n -x lockf true
  flock -x lockf true &
  waiter=$!
  # flock(2) is i386 system call 143: the waiter sleeps in it (in the kernel's own lock table, which
  # v9fs consults before it sends a Tlock) until the holder lets go.
  if wait_in_syscall $waiter 143; then ok "flock blocks while the lock is held"; else fail "flock did not block"; fi
  echo > /tmp/lock-release
  wait $waiter
  expect_eq "$?" "0" "flock waits for the holder, then gets the lock"
  wait $holder
  check "flock -n succeeds once released" flock -n -x lockf true
else
  fail "flock -x lockf: the holder could not take the lock"
  wait $holder
fi
if hold_lock -s; then
  check "two shared locks coexist" flock -n -s lockf true
  check_fails "shared lock blocks an exclusive one" flock -n -x lockf true
  echo > /tmp/lock-release
else
  fail "flock -s lockf: the holder could not take the lock"
fi
wait $holder
rm -f /tmp/lock-held /tmp/lock-release

# ---- df / statfs
line=$(df -k /mnt | tail -n 1)
echo "DF $line"
total=$(echo "$line" | awk '{print $2}')
avail=$(echo "$line" | awk '{print $4}')
if [ "$total" -gt 0 ] 2> /dev/null && [ "$avail" -ge 0 ] 2> /dev/null; then ok "df reports sizes"; else fail "df output: $line"; fi
check "stat -f" stat -f /mnt

cd /mnt && rm -rf /mnt/data
check "data dir removed" test ! -e /mnt/data
check_dmesg_clean
finish
