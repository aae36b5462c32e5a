# Names and metadata through the 9P mount: deep paths, rename over files and directories,
# hard links, symlinks, chmod/chown/utimes, fifos, a 2000-entry directory, long and
# non-ASCII names, names that are not UTF-8, rm -rf of trees.
. /guest/lib.sh

mkdir -p /mnt/names && cd /mnt/names || exit 100

# ---- deep paths
p=deep
i=0
while [ $i -lt 60 ]; do
  p=$p/level$i
  i=$((i + 1))
done
check "mkdir -p of 60 levels" mkdir -p $p
echo bottom > $p/file
drop_caches
expect_eq "$(cat $p/file)" "bottom" "file at depth 60"
expect_eq "$(find deep -type d | wc -l)" "61" "find sees 61 directories"
( cd $p && cd ../../.. && pwd | grep -q 'level56$' ) && ok "cd .. from depth 60" || fail "cd .. from depth 60: $(cd $p/../../.. && pwd)"

# ---- rename
echo one > r1
echo two > r2
check "rename a file over another" mv -f r1 r2
expect_eq "$(cat r2)" "one" "the target has the source's content"
check "the source name is gone" test ! -e r1
mkdir -p d1/sub d2
echo in-d1 > d1/sub/f
check "rename a directory over an empty one" mv -T d1 d2
expect_eq "$(cat d2/sub/f)" "in-d1" "content moved with the directory"
check "the old directory name is gone" test ! -e d1
mkdir d3 && echo x > d3/x
check_fails "rename a directory over a non-empty one fails" mv -T d3 d2
check_fails "rename a directory into itself fails" mv d3 d3/inside
check_fails "rename a directory over a file fails" mv -T d3 r2
mkdir -p far/away
check "rename across directories" mv r2 far/away/r2moved
expect_eq "$(cat far/away/r2moved)" "one" "moved file content"
echo keep > open-then-rename
exec 3< open-then-rename
mv open-then-rename renamed-while-open
expect_eq "$(cat <&3)" "keep" "an open file survives a rename"
exec 3<&-
mv renamed-while-open renamed-twice && mv renamed-twice renamed-while-open
expect_eq "$(ls renamed-*)" "renamed-while-open" "rename back and forth"
check "rename a directory with open files inside" sh -c 'exec 4< d2/sub/f; mv d2 d2b; cat <&4 >/dev/null; test -f d2b/sub/f'
drop_caches
expect_eq "$(cat d2b/sub/f)" "in-d1" "renamed tree readable after drop_caches"

# ---- hard links
echo linked > l1
check "ln" ln l1 l2
expect_eq "$(stat -c %h l1)" "2" "nlink 2"
expect_eq "$(stat -c %i l1)" "$(stat -c %i l2)" "same inode number"
echo more >> l2
expect_eq "$(cat l1)" "$(printf 'linked\nmore')" "a write through one link shows through the other"
rm l1
expect_eq "$(stat -c %h l2)" "1" "nlink 1 after rm"
expect_eq "$(cat l2)" "$(printf 'linked\nmore')" "data survives through the remaining link"
mkdir ldir
check_fails "hard link to a directory fails" ln ldir ldir2
ln l2 far/l3
expect_eq "$(stat -c %h l2)" "2" "hard link in another directory"
mv far/l3 l4
expect_eq "$(cat l4)" "$(printf 'linked\nmore')" "renamed hard link"

# ---- symlinks
echo target-data > target
check "ln -s" ln -s target sl
expect_eq "$(readlink sl)" "target" "readlink"
expect_eq "$(cat sl)" "target-data" "read through a symlink"
expect_eq "$(stat -c %F sl)" "symbolic link" "lstat type"
expect_eq "$(ls -l sl | cut -c1)" "l" "ls -l type"
ln -s does/not/exist dangling
expect_eq "$(readlink dangling)" "does/not/exist" "dangling symlink"
check_fails "reading a dangling symlink fails" cat dangling
ln -s far dirlink
expect_eq "$(cat dirlink/away/r2moved)" "one" "path through a directory symlink"
long=$(printf '%0200d' 0 | tr 0 x)/$(printf '%0200d' 0 | tr 0 y)
ln -s "$long" longlink
expect_eq "$(readlink longlink)" "$long" "401-byte symlink target"
ln -s "ünï/çødé" utf8link
expect_eq "$(readlink utf8link)" "ünï/çødé" "non-ASCII symlink target"
mv sl sl2
expect_eq "$(cat sl2)" "target-data" "renamed symlink"

# ---- chmod / chown / utimes
echo m > modes
chmod 640 modes
expect_eq "$(stat -c %a modes)" "640" "chmod 640"
chmod 4755 modes
expect_eq "$(stat -c %a modes)" "4755" "chmod 4755 (setuid)"
chmod 1777 ldir
expect_eq "$(stat -c %a ldir)" "1777" "chmod 1777 on a directory"
chown 1234:5678 modes
expect_eq "$(stat -c %u:%g modes)" "1234:5678" "chown 1234:5678"
chown 0 modes
expect_eq "$(stat -c %u:%g modes)" "0:5678" "chown uid only"
chgrp 42 modes
expect_eq "$(stat -c %u:%g modes)" "0:42" "chgrp"
touch -d '2001-02-03 04:05:06' modes
expect_eq "$(stat -c %Y modes)" "$(date -d '2001-02-03 04:05:06' +%s)" "touch -d sets mtime"
expect_eq "$(stat -c %X modes)" "$(date -d '2001-02-03 04:05:06' +%s)" "touch -d sets atime"
touch -d '1999-12-31 23:59:59' ldir
expect_eq "$(stat -c %Y ldir)" "$(date -d '1999-12-31 23:59:59' +%s)" "touch -d on a directory"
before=$(stat -c %Y modes) # 2001, from the touch -d above: any write now moves it
echo more >> modes
after=$(stat -c %Y modes)
if [ "$after" -gt "$before" ]; then ok "a write moves mtime"; else fail "mtime did not move on write ($before -> $after)"; fi
touch -c nonexistent-touch
check "touch -c creates nothing" test ! -e nonexistent-touch
expect_eq "$(stat -c %a modes)" "755" "a write by root clears setuid (Linux sends Tsetattr)"
drop_caches
expect_eq "$(stat -c %a:%u:%g modes)" "755:0:42" "attributes after drop_caches"
ctime1=$(stat -c %Z l2)
sleep 1
chmod 600 l2
ctime2=$(stat -c %Z l2)
if [ "$ctime2" -gt "$ctime1" ]; then ok "chmod moves ctime"; else fail "ctime did not move on chmod ($ctime1 -> $ctime2)"; fi

# ---- fifos (and other special files)
check "mkfifo" mkfifo fifo
expect_eq "$(ls -l fifo | cut -c1)" "p" "ls -l shows a fifo"
expect_eq "$(stat -c %F fifo)" "fifo" "stat type fifo"
(echo through-the-fifo > fifo) &
read -r line < fifo
wait
expect_eq "$line" "through-the-fifo" "data through the fifo"
check "mknod c" mknod cdev c 1 3
expect_eq "$(stat -c %F:%t:%T cdev)" "character special file:1:3" "character device node"

# ---- a directory with 2000 entries
mkdir big
cd big
t0=$(now_ms)
seq 1 2000 | sed 's/^/entry-/' | xargs touch
t1=$(now_ms)
echo "CREATE2000 ms=$((t1 - t0))"
expect_eq "$(ls | wc -l)" "2000" "ls counts 2000 entries"
expect_eq "$(ls -a | wc -l)" "2002" "ls -a counts . and .."
expect_eq "$(ls | sort | uniq -d | wc -l)" "0" "no duplicate names from readdir"
expect_eq "$(ls -la | wc -l)" "2003" "ls -la of 2000 entries (+ total, ., ..)"
expect_eq "$(find . -type f | wc -l)" "2000" "find sees 2000 files"
seq 1 2 2000 | sed 's/^/entry-/' | xargs rm
expect_eq "$(ls | wc -l)" "1000" "1000 left after removing every other one"
check "a removed entry is gone" test ! -e entry-1
check "a kept entry is there" test -e entry-2
cd ..
drop_caches
expect_eq "$(ls big | wc -l)" "1000" "listing after drop_caches"

# ---- long and non-ASCII names
n255=$(printf '%0255d' 0 | tr 0 n)
n256=$(printf '%0256d' 0 | tr 0 n)
check "create a 255-byte name" sh -c "echo long > $n255"
expect_eq "$(cat $n255)" "long" "read a 255-byte name"
expect_eq "$(ls | grep -c '^nnnnnnnnnn')" "1" "ls shows the 255-byte name"
check_fails "a 256-byte name is refused" sh -c "echo x > $n256"
mkdir "$n255.d" 2> /dev/null && fail "mkdir of a 259-byte name succeeded" || ok "mkdir of a 259-byte name is refused"
u255=$(i=0; while [ $i -lt 85 ]; do printf '日'; i=$((i + 1)); done)
check "create a 255-byte (85 x 3-byte UTF-8) name" sh -c "echo kanji > $u255"
expect_eq "$(cat $u255)" "kanji" "read it back"
for n in "héllo wörld" "ñ" "Ωμέγα" "emoji-🎉" "日本語のファイル" "tab	in name" "quote'and\"dq" "-dash" "trailing space "; do
  echo "$n" > "$n" || fail "create [$n]"
done
drop_caches
for n in "héllo wörld" "ñ" "Ωμέγα" "emoji-🎉" "日本語のファイル" "tab	in name" "quote'and\"dq" "-dash" "trailing space "; do
  expect_eq "$(cat -- "$n")" "$n" "name [$n]"
  found=0
  for f in *; do [ "$f" = "$n" ] && found=1; done
  [ $found = 1 ] || fail "readdir (glob) does not list [$n]"
done
mv "héllo wörld" "ünïcödé renamed"
expect_eq "$(cat "ünïcödé renamed")" "héllo wörld" "rename between non-ASCII names"
mkdir "répertoire ✓"
echo inside > "répertoire ✓/fichier"
expect_eq "$(cat "répertoire ✓/fichier")" "inside" "non-ASCII directory"

# ---- names that are not UTF-8 (Latin-1 from old tarballs): bytes, kept as they are
lat=$(printf 'caf\351')
utf=$(printf 'caf\303\251')
check "create a Latin-1 name (caf\\351)" sh -c "echo latin1 > '$lat'"
check "create its UTF-8 spelling beside it" sh -c "echo utf8 > '$utf'"
drop_caches
expect_eq "$(cat "$lat")" "latin1" "read the Latin-1 name back after drop_caches"
expect_eq "$(cat "$utf")" "utf8" "the UTF-8 spelling is another file"
expect_eq "$(stat -c %s "$lat")" "7" "stat the Latin-1 name"
expect_eq "$(ls | grep -c '^caf')" "2" "ls lists both spellings"
# (busybox ls prints '?' for bytes it cannot show; the shell's glob reads the directory raw)
expect_eq "$(for f in caf*; do printf '%s\n' "$f"; done | od -An -tx1 | tr -d ' \n')" "636166c3a90a636166e90a" "readdir gives the very bytes"
found=0
for f in caf*; do [ "$f" = "$lat" ] && found=1; done
[ $found = 1 ] && ok "glob finds the Latin-1 name" || fail "glob does not find the Latin-1 name"
res=$(printf 'r\351sum\351')
check "rename a Latin-1 name to another" mv "$lat" "$res"
check "the old Latin-1 name is gone" test ! -e "$lat"
drop_caches
expect_eq "$(cat "$res")" "latin1" "read the renamed Latin-1 name"
dir=$(printf 'd\374r')
check "mkdir a Latin-1 name" mkdir "$dir"
echo inside > "$dir/$res"
expect_eq "$(cat "$dir/$res")" "inside" "a Latin-1 path of two levels"
ln -s "../$res" "$dir/lnk"
expect_eq "$(readlink "$dir/lnk" | od -An -tx1 | tr -d ' \n')" "2e2e2f72e973756de90a" "a Latin-1 symlink target, byte for byte"
expect_eq "$(cat "$dir/lnk")" "latin1" "read through the Latin-1 symlink"
raw255=$(i=0; while [ $i -lt 255 ]; do printf '\351'; i=$((i + 1)); done)
check "a 255-byte Latin-1 name" sh -c "echo x > '$raw255'"
check_fails "a 256-byte Latin-1 name is refused" sh -c "echo x > '${raw255}x'"
check "rm Latin-1 names" rm -rf "$res" "$utf" "$dir" "$raw255"
expect_eq "$(for f in *; do printf '%s\n' "$f"; done | grep -c "$(printf '\351')")" "0" "no Latin-1 name left"

# ---- rm -rf of trees
mkdir -p tree
i=0
while [ $i -lt 10 ]; do
  mkdir -p tree/a$i/b/c
  echo $i > tree/a$i/b/c/f
  echo $i > tree/a$i/g
  ln -s ../a$i tree/a$i/b/link
  ln tree/a$i/g tree/a$i/b/hard
  mkfifo tree/a$i/b/p
  i=$((i + 1))
done
expect_eq "$(find tree | wc -l)" "81" "tree built"
check "rm -rf of a tree" rm -rf tree
check "tree is gone" test ! -e tree
check "rm -rf of everything" rm -rf deep big far ldir d2b d3 dirlink
drop_caches
cd /mnt && check "rm -rf names" rm -rf /mnt/names
expect_eq "$(ls -A /mnt | grep -c names)" "0" "names dir gone"

check_dmesg_clean
finish
