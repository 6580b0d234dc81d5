import { afterAll, beforeAll } from 'vitest';
import { BootLab, type BootLabOptions } from '../../scripts/lab/boot-lab.ts';
import { KERNEL, testInitrd } from '../../scripts/lab/test-initrd.ts';

// Boot labs for tests: by default they serve the small test initrd (scripts/lab/test-initrd.ts).

export { BootLab, NODE_MAC, SRV_IP, type ConfigDoc } from '../../scripts/lab/boot-lab.ts';

export interface TestLabOptions extends Omit<BootLabOptions, 'installer'> {
  /** Big initrd padding for the HTTP test (MiB). */
  initrdPadMiB?: number;
}

/** A lab serving the test initrd. */
export function testBootLab(opts: TestLabOptions = {}): Promise<BootLab> {
  const { initrdPadMiB, ...rest } = opts;
  return BootLab.create({ ...rest, installer: { kernel: KERNEL, initrd: testInitrd({ padMiB: initrdPadMiB ?? 0 }) } });
}

/**
 * One lab for a test file: created and serving before its tests (after `configure`),
 * destroyed after them. Returns a getter for the lab.
 */
export function useBootLab(opts: TestLabOptions = {}, configure?: (bl: BootLab) => void | Promise<void>): () => BootLab {
  let bl: BootLab | undefined;
  beforeAll(async () => {
    bl = await testBootLab(opts);
    await configure?.(bl);
    await bl.startServer();
  });
  afterAll(async () => {
    await bl?.destroy();
  });
  return () => bl!;
}

