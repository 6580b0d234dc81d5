#!/bin/sh
# Image post-install hook (run by the installer in the image chroot): leaves a stamp.
echo "installed host=$RACKCAST_HOSTNAME mac=$RACKCAST_MAC image=$RACKCAST_IMAGE" > /etc/rackcast-installed
