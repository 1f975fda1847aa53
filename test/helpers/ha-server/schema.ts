/**
 * The part of voluptuous (the validation library under Home Assistant) whose behaviour reaches the
 * wire: which values pass, what a validator returns, and the text of the error Home Assistant
 * sends back (`humanize_error`: "<message> for dictionary value @ data['key']. Got <repr>").
 * Written from voluptuous' schema_builder.py, validators.py, error.py and humanize.py.
 */

/** A path component voluptuous invents for a group of exclusion: repr'd as `<label>`. */
export class VirtualKey {
  constructor(readonly label: string) {}
}
export type Path = Array<string | number | VirtualKey>;

export class Invalid extends Error {
  /** voluptuous' `error_type`: set to "dictionary value" when the error is about a key's own value. */
  errorType: string | undefined;
  private ownPath: Path;
  constructor(readonly msg: string, path: Path = []) {
    super(msg);
    this.ownPath = path;
  }
  get path(): Path {
    return this.ownPath;
  }
  prepend(path: Path): void {
    this.ownPath = [...path, ...this.ownPath];
  }
  /** Python's str(error). */
  describe(): string {
    const where = this.path.length ? ` @ data[${this.path.map(pyRepr).join('][')}]` : '';
    return `${this.msg}${this.errorType ? ` for ${this.errorType}` : ''}${where}`;
  }
}

export class MultipleInvalid extends Invalid {
  constructor(readonly errors: Invalid[]) {
    super(errors[0]?.msg ?? 'invalid');
  }
  override get path(): Path {
    return this.errors[0]?.path ?? [];
  }
  override prepend(path: Path): void {
    for (const e of this.errors) e.prepend(path);
  }
  override describe(): string {
    return this.errors[0]?.describe() ?? this.msg;
  }
}

/** Python's ValueError inside a callable validator: voluptuous turns it into "not a valid value". */
export class ValueError extends Error {}

/** A compiled validator: returns the validated (possibly converted) value or throws Invalid. */
export type V = (path: Path, value: unknown) => unknown;

export const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeCheck(name: string, ok: (v: unknown) => boolean): V {
  return (path, v) => {
    if (ok(v)) return v;
    throw new Invalid(`expected ${name}`, path);
  };
}
export const str = typeCheck('str', (v) => typeof v === 'string');
/** Python's int: a bool is one too. */
export const int = typeCheck('int', (v) => typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v)));
export const bool = typeCheck('bool', (v) => typeof v === 'boolean');
/** The `dict` type (message "expected dict"), not a dict schema ("expected a dictionary"). */
export const dictType = typeCheck('dict', isDict);
export const listType = typeCheck('list', Array.isArray);

export function literal(expected: unknown): V {
  return (path, v) => {
    if (pyEquals(v, expected)) return v;
    throw new Invalid('not a valid value', path);
  };
}

/** A callable validator (a `cv.*` function): its Invalid gets the path prepended. */
export function fn(f: (v: unknown) => unknown): V {
  return (path, v) => {
    try {
      return f(v);
    } catch (e) {
      if (e instanceof Invalid) {
        e.prepend(path);
        throw e;
      }
      if (e instanceof ValueError) throw new Invalid('not a valid value', path);
      throw e;
    }
  };
}

/** vol.Any: the first that passes; else the first error with the longest path. */
export function any(...vs: V[]): V {
  return (path, v) => {
    let error: Invalid | undefined;
    for (const f of vs) {
      try {
        return f(path, v);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        if (!error || e.path.length > error.path.length) error = e;
      }
    }
    throw error ?? new Invalid('no valid value found', path);
  };
}

/** vol.All: each in turn, on the previous one's output. */
export function all(...vs: V[]): V {
  return (path, v) => vs.reduce((acc, f) => f(path, acc), v);
}

/** A list schema `[a, b]`: every item must pass one of them. */
export function seq(...vs: V[]): V {
  return (path, v) => {
    if (!Array.isArray(v)) throw new Invalid('expected a list', path);
    const errors: Invalid[] = [];
    const out: unknown[] = [];
    v.forEach((item, i) => {
      const at = [...path, i];
      let last: Invalid | undefined;
      for (const f of vs) {
        try {
          out.push(f(at, item));
          return;
        } catch (e) {
          if (!(e instanceof Invalid)) throw e;
          if (e.path.length > at.length) throw e;
          last = e;
        }
      }
      if (last) errors.push(last);
    });
    if (errors.length) throw new MultipleInvalid(errors);
    return out;
  };
}

export interface KeySpec {
  v: V;
  required?: boolean;
  default?: () => unknown;
  /** vol.Exclusive's group of exclusion. */
  exclusive?: string;
}

/** A dict schema `{key: validator}` (vol.Schema's mapping), extra keys refused unless allowed. */
export function dict(keys: Record<string, KeySpec>, extra: 'prevent' | 'allow' = 'prevent'): V {
  return (path, data) => {
    if (!isDict(data)) throw new Invalid('expected a dictionary', path);
    const errors: Invalid[] = [];
    const groups = new Map<string, string[]>();
    for (const [k, spec] of Object.entries(keys)) if (spec.exclusive) groups.set(spec.exclusive, [...(groups.get(spec.exclusive) ?? []), k]);
    for (const [label, members] of groups) {
      if (members.filter((k) => k in data).length > 1) errors.push(new Invalid(`two or more values in the same group of exclusion '${label}'`, [...path, new VirtualKey(label)]));
    }
    if (errors.length) throw new MultipleInvalid(errors);
    const input: Record<string, unknown> = { ...data };
    for (const [k, spec] of Object.entries(keys)) if (spec.default && !(k in input)) input[k] = spec.default();
    const out: Record<string, unknown> = {};
    for (const [k, value] of Object.entries(input)) {
      const spec = keys[k];
      if (!spec) {
        if (extra === 'allow') out[k] = value;
        else errors.push(new Invalid('extra keys not allowed', [...path, k]));
        continue;
      }
      try {
        out[k] = spec.v([...path, k], value);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        for (const err of e instanceof MultipleInvalid ? e.errors : [e]) {
          if (err.path.length <= path.length + 1) err.errorType = 'dictionary value';
          errors.push(err);
        }
      }
    }
    for (const [k, spec] of Object.entries(keys)) if (spec.required && !(k in input)) errors.push(new Invalid('required key not provided', [...path, k]));
    if (errors.length) throw new MultipleInvalid(errors);
    return out;
  };
}

/** A mapping schema with a type as its key, e.g. `{str: int}`. */
export function mapOf(value: V): V {
  return (path, data) => {
    if (!isDict(data)) throw new Invalid('expected a dictionary', path);
    const errors: Invalid[] = [];
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) {
      try {
        out[k] = value([...path, k], v);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        for (const err of e instanceof MultipleInvalid ? e.errors : [e]) {
          if (err.path.length <= path.length + 1) err.errorType = 'dictionary value';
          errors.push(err);
        }
      }
    }
    if (errors.length) throw new MultipleInvalid(errors);
    return out;
  };
}

/** Runs a validator as `Schema(...)(value)` does: any Invalid comes out as a MultipleInvalid. */
export function validate(v: V, value: unknown): unknown {
  try {
    return v([], value);
  } catch (e) {
    if (e instanceof Invalid && !(e instanceof MultipleInvalid)) throw new MultipleInvalid([e]);
    throw e;
  }
}

/** voluptuous.humanize.humanize_error: each error with the offending value, sorted, one a line. */
export function humanize(data: unknown, err: Invalid): string {
  if (err instanceof MultipleInvalid) return err.errors.map((e) => humanize(data, e)).sort().join('\n');
  let got = pyRepr(nestedGet(data, err.path));
  if (got.length > 500) got = `${got.slice(0, 497)}...`;
  return `${err.describe()}. Got ${got}`;
}

function nestedGet(data: unknown, path: Path): unknown {
  let cur = data;
  for (const raw of path) {
    const key = raw instanceof VirtualKey ? raw.label : raw;
    if (Array.isArray(cur) && typeof key === 'number' && key < cur.length) cur = cur[key];
    else if (isDict(cur) && typeof key === 'string' && key in cur) cur = cur[key];
    else return null;
  }
  return cur;
}

/** Python's repr() of a JSON value. */
export function pyRepr(v: unknown): string {
  if (v instanceof VirtualKey) return `<${v.label}>`;
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    const body = [...v]
      .map((c) => {
        if (c === '\\' || c === q) return `\\${c}`;
        if (c === '\n') return '\\n';
        if (c === '\r') return '\\r';
        if (c === '\t') return '\\t';
        const code = c.codePointAt(0) ?? 0;
        return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
      })
      .join('');
    return `${q}${body}${q}`;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isDict(v)) return `{${Object.entries(v).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}

/** Python's str(): a string as it is, anything else as repr. */
export const pyStr = (v: unknown): string => (typeof v === 'string' ? v : pyRepr(v));

/** Python's ==: True == 1, dicts and lists compared deeply. */
export function pyEquals(a: unknown, b: unknown): boolean {
  const num = (x: unknown) => typeof x === 'number' || typeof x === 'boolean';
  if (num(a) && num(b)) return Number(a) === Number(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  if (isDict(a) && isDict(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && pyEquals(a[k], b[k]));
  }
  return (a ?? null) === (b ?? null);
}
