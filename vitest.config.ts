import { defineConfig } from 'vitest/config';

// Three layers, run separately or together (make test-unit / test-netns / test-e2e):
// unit (no privileges, seconds), netns (real sockets between network namespaces, root),
// e2e (QEMU VMs booting from our server, root, minutes). The netns and e2e layers run
// one file at a time: they share two CPU cores and time-sensitive traffic.
export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
