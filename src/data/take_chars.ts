/** The leading documents of a stream, up to about `chars` characters (whole documents). */
export function* takeChars(docs: Iterable<string>, chars: number): Generator<string> {
  let n = 0;
  for (const d of docs) {
    if (n >= chars) return;
    n += d.length;
    yield d;
  }
}
