import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestGate } from '../../../../task/src/archive/digest';

function* chunks(n: number, size: number) {
  for (let i = 0; i < n; i++) yield Buffer.alloc(size, i % 251);
}

async function drain(gate: DigestGate): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of gate) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('DigestGate', () => {
  test('passes bytes through and hashes exactly them', async () => {
    const gate = new DigestGate(() => Promise.resolve());
    const [, data] = await Promise.all([pipeline(Readable.from(chunks(20, 70000)), gate), drain(gate)]);
    expect(gate.bytes).toBe(20 * 70000);
    expect(gate.sha256).toBe(createHash('sha256').update(data).digest('hex'));
  });

  test('hands each chunk on as it came: a reader taking everything buffered gets no joined copy', async () => {
    // GIVEN three chunks already buffered in the gate (lib-storage reads its body with an
    // async iterator, whose read() of a byte stream would join them into a new buffer)
    const gate = new DigestGate(() => Promise.resolve());
    const sent = [...chunks(3, 64 * 1024)];
    for (const c of sent) gate.write(c);
    gate.end();
    // WHEN it is read that way
    const got: Buffer[] = [];
    for await (const c of gate) got.push(c as Buffer);
    // THEN the same buffers come out, one by one: no byte was copied on the way
    expect(got).toHaveLength(3);
    got.forEach((c, i) => expect(c).toBe(sent[i]));
    expect(gate.bytes).toBe(3 * 64 * 1024);
  });

  test('does not end the stream until the gate resolves', async () => {
    let open!: () => void;
    const gate = new DigestGate(() => new Promise<void>((r) => (open = r)));
    let ended = false;
    const reading = drain(gate).then(() => (ended = true));
    Readable.from(chunks(3, 10)).pipe(gate);
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(false);
    open();
    await reading;
    expect(ended).toBe(true);
  });

  test('a rejected gate (pg_dump failed) errors the stream instead of ending it', async () => {
    const gate = new DigestGate(() => Promise.reject(new Error('pg_dump exited with code 1')));
    Readable.from(chunks(3, 10)).pipe(gate);
    await expect(drain(gate)).rejects.toThrow('pg_dump exited with code 1');
    expect(() => gate.sha256).toThrow(/only after the stream ended cleanly/);
  });
});
