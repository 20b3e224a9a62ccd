import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'lib/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // Gives the CJS build an import.meta.url, which lib/native.ts uses to find the binary.
  shims: true,
  splitting: false,
});
