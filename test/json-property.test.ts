import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { json, OffloopError } from '../lib/index.js';
import { reference } from './helpers/corpus.js';

/** Strings with the characters JSON finds hard: escapes, controls, non-ASCII, astral, lone surrogates. */
const trickyString = fc.stringMatching(/^[\s\S]{0,12}$/).map((s) => s + ['', '\u0000', '"', '\\', 'é', '😀', '\ud800', '\udfff', '\u2028'][s.length % 9]);

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((b) => Number(b)),
    trickyString,
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(fc.oneof(trickyString, fc.constantFrom('__proto__', 'constructor', '0', '1', 'a')), tie('value'), { maxKeys: 6 }),
  ),
})).value;

describe('property: json.parse agrees with JSON.parse', () => {
  it('on random values, serialized compactly and with indentation', async () => {
    await fc.assert(
      fc.asyncProperty(jsonValue, fc.boolean(), async (v, pretty) => {
        const text = JSON.stringify(v, null, pretty ? 2 : undefined);
        const want = JSON.parse(text);
        expect(isDeepStrictEqual(await json.parse(Buffer.from(text)), want)).toBe(true);
        expect(isDeepStrictEqual(json.parseSync(text), want)).toBe(true);
      }),
      { numRuns: 400, seed: 20261122 },
    );
  });

  it('on random corruptions: same verdict, same value when accepted, typed error otherwise', async () => {
    await fc.assert(
      fc.asyncProperty(
        jsonValue,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete', 'truncate')), {
          minLength: 1,
          maxLength: 3,
        }),
        async (v, edits) => {
          let bytes = Buffer.from(JSON.stringify(v));
          for (const [pos, byte, kind] of edits) {
            const at = bytes.length === 0 ? 0 : pos % bytes.length;
            if (kind === 'flip' && bytes.length > 0) bytes[at] = byte;
            else if (kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]);
            else if (kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
            else bytes = bytes.subarray(0, at);
          }
          const want = reference(bytes);
          let got: unknown;
          let error: unknown;
          try {
            got = await json.parse(bytes);
          } catch (e) {
            error = e;
          }
          if (want.ok) {
            expect(error).toBeUndefined();
            expect(isDeepStrictEqual(got, want.value)).toBe(true);
          } else {
            expect(error).toBeInstanceOf(OffloopError);
            expect(['ERR_JSON_SYNTAX', 'ERR_INVALID_UTF8', 'ERR_JSON_DEPTH']).toContain((error as OffloopError).code);
            expect((error as OffloopError).offset).toBeLessThanOrEqual(bytes.length);
          }
          expect((await json.validate(bytes)).valid).toBe(want.ok);
        },
      ),
      { numRuns: 600, seed: 7 },
    );
  });
});
