// The worker-pool rival for json.parse: JSON.parse in a worker, the value sent back (structured clone).
export default function parse(bytes) {
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}
