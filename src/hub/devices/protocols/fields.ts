/** Telemetry fields read from text lines: each a regular expression with a named group per field. */
import { compilePattern } from '../../safe-regex.js';
import type { FieldValue } from '../protocol.js';
import type { LineField } from '../schema.js';

export interface CompiledField {
  field: LineField;
  re: RegExp;
}

/** Why these fields cannot be used (a pattern that does not compile or lacks its group), or null. */
export function checkFields(fields: LineField[] | undefined): string | null {
  const seen = new Set<string>();
  for (const [i, f] of (fields ?? []).entries()) {
    if (seen.has(f.name)) return `telemetry.fields.${i}.name: "${f.name}" is used twice`;
    seen.add(f.name);
    const re = compilePattern(f.pattern);
    if (!re.ok) return `telemetry.fields.${i}.pattern: ${re.error}`;
    if (!f.pattern.includes(`(?<${f.name}>`)) return `telemetry.fields.${i}.pattern: must have a named group (?<${f.name}>…) for the field "${f.name}"`;
  }
  return null;
}

/** Linear-time matchers (safe-regex.ts). A field stored before its pattern was refused (lookaround) reads nothing. */
export function compileFields(fields: LineField[] | undefined): CompiledField[] {
  return (fields ?? []).flatMap((field) => {
    const p = compilePattern(field.pattern);
    return p.ok ? [{ field, re: p.re }] : [];
  });
}

/** The values this line carries, or null when no field matches it. */
export function readFields(compiled: CompiledField[], line: string): Record<string, FieldValue> | null {
  let out: Record<string, FieldValue> | null = null;
  for (const { field, re } of compiled) {
    const raw = re.exec(line)?.groups?.[field.name];
    if (raw === undefined) continue;
    let value: FieldValue = raw;
    if ((field.type ?? 'number') === 'number') {
      const n = Number(raw.trim());
      // A number field that reads as text is a line it does not describe, not a value of NaN.
      if (raw.trim() === '' || !Number.isFinite(n)) continue;
      value = n;
    }
    (out ??= {})[field.name] = value;
  }
  return out;
}
