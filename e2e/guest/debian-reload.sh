# The Debian root's second boot on the tree debian-root.sh ran on (the same user's layer over the
# base image, a fresh kernel with nothing cached): that boot's changes to base files are kept.
# Then the kill/Tflush checks (kill.sh) on the root file system, in /root.
. "$W9P_GUEST_DIR/lib.sh"

expect_eq "$(cat /etc/motd)" "changed by the first boot" "an edit of a base file survives the reload"
check_fails "a removed base file stays removed after the reload" test -e /usr/bin/yes

W9P_DIR=/root
. "$W9P_GUEST_DIR/kill.sh"
