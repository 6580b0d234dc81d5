// Files the initrd build puts where the agent looks for them (scripts/build-initrd.ts
// writes them; initrd/init.sh reads /etc/rackcast/modules-always by the same name).

/** Present only in the rackcast initrd: without it the agent refuses to touch disks unless --allow-host. */
export const INITRD_MARKER = '/etc/rackcast/initrd';
/** busybox udhcpc hook that applies the lease (initrd/udhcpc.script). */
export const UDHCPC_SCRIPT = '/etc/rackcast/udhcpc.script';
/** Modules /init loads whatever the hardware (initrd/modules-always.txt). */
export const MODULES_ALWAYS = '/etc/rackcast/modules-always';
