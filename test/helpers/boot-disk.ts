import { writeFileSync } from 'node:fs';

// A 1 MiB raw disk whose MBR prints DISK_MARKER through the BIOS (int 10h, which SeaBIOS
// copies to the serial console under -nographic) and halts: proof that a node handed back
// to its local disk really booted from it.

export const DISK_MARKER = 'RACKCAST-LOCAL-DISK';

// xor ax,ax; mov ds,ax; xor bx,bx; mov si,0x7c17; mov ah,0x0e;
// next: lodsb; test al,al; jz done; int 0x10; jmp next; done: hlt; jmp done; then the text.
const CODE = [0x31, 0xc0, 0x8e, 0xd8, 0x31, 0xdb, 0xbe, 0x17, 0x7c, 0xb4, 0x0e, 0xac, 0x84, 0xc0, 0x74, 0x04, 0xcd, 0x10, 0xeb, 0xf7, 0xf4, 0xeb, 0xfd];

export function writeMarkerDisk(path: string): string {
  const disk = Buffer.alloc(1024 * 1024);
  Buffer.from(CODE).copy(disk, 0);
  Buffer.from(`${DISK_MARKER}\r\n\0`, 'latin1').copy(disk, CODE.length);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  writeFileSync(path, disk);
  return path;
}
