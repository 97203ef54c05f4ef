// The canonical ABI of the component model, by hand: how strings, lists and
// results cross between an AssemblyScript agent's linear memory and the host.
// (AssemblyScript has no wit-bindgen; `caxton build` turns the core module
// into a component against the `caxton:agent` world.)
//
// Memory the host writes into the agent (`cabi_realloc`) comes from the raw
// heap (`heap.alloc`), outside the garbage collector; it is copied into
// AssemblyScript strings and freed as soon as it is read. Memory the agent
// lends the host (arguments of an import, results of an export) is raw heap
// too, freed after the call or in the export's post-return.

/** Where `abort` goes (`--use abort=caxton/abi/abort`): a trap, which the host
 *  reports to the sender as a `failure` (AssemblyScript has no exceptions). */
export function abort(message: string | null, file: string | null, line: u32, column: u32): void {
  unreachable();
}

/** The allocator the host calls to place arguments and results in this memory. */
export function cabi_realloc(old: usize, oldSize: usize, align: usize, size: usize): usize {
  if (size == 0) return align; // nothing to place: any aligned address will do
  // heap blocks are 16-byte aligned, more than any canonical ABI type needs
  return old == 0 ? heap.alloc(size) : heap.realloc(old, size);
}

/** Raw heap blocks to free together, after a call. */
export class Lent {
  blocks: usize[] = [];

  alloc(size: usize): usize {
    if (size == 0) return 0;
    const block = heap.alloc(size);
    this.blocks.push(block);
    return block;
  }

  /** Write `text` as UTF-8 into a block; store its (pointer, length) at `at`. A lone
   *  surrogate (half an emoji cut by `substring`) becomes U+FFFD, as the host takes only
   *  valid UTF-8 (both take 3 bytes, so the length holds). */
  string(at: usize, text: string): void {
    const length = <usize>String.UTF8.byteLength(text);
    const block = this.alloc(length);
    if (length > 0) {
      String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, block, false, String.UTF8.ErrorMode.REPLACE);
    }
    store<u32>(at, <u32>block);
    store<u32>(at, <u32>length, 4);
  }

  /** An `option<string>` at `at`: a byte saying whether, then the string 4 bytes on. */
  option(at: usize, text: string | null): void {
    if (text === null) {
      store<u8>(at, 0);
    } else {
      store<u8>(at, 1);
      this.string(at + 4, text);
    }
  }

  /** A `list<string>` at `at`. */
  strings(at: usize, texts: string[]): void {
    const block = this.alloc(<usize>texts.length * 8);
    for (let i = 0; i < texts.length; i++) this.string(block + <usize>i * 8, texts[i]);
    store<u32>(at, <u32>block);
    store<u32>(at, <u32>texts.length, 4);
  }

  /** A `list<u8>` at `at`. */
  bytes(at: usize, data: Uint8Array): void {
    const block = this.alloc(<usize>data.length);
    memory.copy(block, data.dataStart, <usize>data.length);
    store<u32>(at, <u32>block);
    store<u32>(at, <u32>data.length, 4);
  }

  free(): void {
    for (let i = 0; i < this.blocks.length; i++) heap.free(this.blocks[i]);
    this.blocks.length = 0;
  }
}

/** The string whose (pointer, length) is stored at `at`; its block is freed. */
export function takeString(at: usize): string {
  const block = <usize>load<u32>(at);
  const length = <usize>load<u32>(at, 4);
  const text = String.UTF8.decodeUnsafe(block, length);
  if (length > 0) heap.free(block);
  return text;
}

/** The `option<string>` stored at `at`. */
export function takeOption(at: usize): string | null {
  return load<u8>(at) == 0 ? null : takeString(at + 4);
}

/** The `list<string>` stored at `at`. */
export function takeStrings(at: usize): string[] {
  const block = <usize>load<u32>(at);
  const count = <i32>load<u32>(at, 4);
  const texts = new Array<string>(count);
  for (let i = 0; i < count; i++) texts[i] = takeString(block + <usize>i * 8);
  if (count > 0) heap.free(block);
  return texts;
}

/** The `list<u8>` stored at `at`. */
export function takeBytes(at: usize): Uint8Array {
  const block = <usize>load<u32>(at);
  const length = <i32>load<u32>(at, 4);
  const data = new Uint8Array(length);
  if (length > 0) {
    memory.copy(data.dataStart, block, <usize>length);
    heap.free(block);
  }
  return data;
}

/** The `list<u8>` stored at `at`, each byte a value of an enum; its block is freed. */
export function takeByteList(at: usize): u8[] {
  const block = <usize>load<u32>(at);
  const count = <i32>load<u32>(at, 4);
  const values = new Array<u8>(count);
  for (let i = 0; i < count; i++) values[i] = load<u8>(block + <usize>i);
  if (count > 0) heap.free(block);
  return values;
}
