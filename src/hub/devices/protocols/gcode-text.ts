/**
 * The text of Marlin's host protocol, without any state: numbered lines with checksums, comments,
 * and what the lines a printer sends mean. gcode.ts holds the conversation.
 */

/** Marlin's checksum: the XOR of every byte of the line before the `*`. */
export function checksum(text: string): number {
  let sum = 0;
  for (const byte of Buffer.from(text, 'utf8')) sum ^= byte;
  return sum;
}

/** A command as it goes out: `N12 G1 X10*98`, so the printer can tell a garbled or lost line. */
export function numbered(n: number, command: string): string {
  const line = `N${n} ${command}`;
  return `${line}*${checksum(line)}`;
}

/**
 * A line of a G-code file as a command: without `;` and `(…)` comments, trimmed, inner runs of
 * spaces made one ('' for a blank or comment-only line). A line number and checksum the file
 * already carries go too: the session numbers every line itself.
 */
export function stripGcode(line: string): string {
  const semicolon = line.indexOf(';');
  const code = semicolon === -1 ? line : line.slice(0, semicolon);
  return code
    .replace(/\([^)]*\)?/g, ' ')
    .replace(/\*.*$/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^N\d+\s*/i, '');
}

export interface Temperatures {
  hotend?: number;
  hotend_target?: number;
  bed?: number;
  bed_target?: number;
}

// `T:` and not `T0:`: the first extruder's report is the one every firmware sends.
const HOTEND = /(?:^|\s)T:\s*(-?\d+(?:\.\d*)?|-?\.\d+)(?:\s*\/\s*(-?\d+(?:\.\d*)?|-?\.\d+))?/;
const BED = /(?:^|\s)B:\s*(-?\d+(?:\.\d*)?|-?\.\d+)(?:\s*\/\s*(-?\d+(?:\.\d*)?|-?\.\d+))?/;

/** `ok T:20.0 /0.0 B:20.0 /0.0 @:0 B@:0` (M105) or ` T:210.3 /210.0 B:60.1 /60.0 …` (auto-report). */
export function parseTemperatures(line: string): Temperatures | null {
  const out: Temperatures = {};
  const hotend = HOTEND.exec(line);
  if (hotend) {
    out.hotend = Number(hotend[1]);
    if (hotend[2] !== undefined) out.hotend_target = Number(hotend[2]);
  }
  const bed = BED.exec(line);
  if (bed) {
    out.bed = Number(bed[1]);
    if (bed[2] !== undefined) out.bed_target = Number(bed[2]);
  }
  return hotend || bed ? out : null;
}

/** A temperature line the printer sent by itself (M155), not as part of an answer. */
export function isAutoReport(line: string): boolean {
  return !/^ok\b/.test(line.trim()) && parseTemperatures(line) !== null;
}

export interface FirmwareInfo {
  firmware: string;
  machineType?: string;
}

/**
 * M115: `FIRMWARE_NAME:Marlin 2.1.2 (sim) SOURCE_CODE_URL:https://… PROTOCOL_VERSION:1.0 MACHINE_TYPE:…`.
 * Keys are upper case after a space, so the `https:` of a URL is not mistaken for one.
 */
export function parseFirmware(line: string): FirmwareInfo | null {
  const values = new Map<string, string>();
  const keys = [...line.matchAll(/(?:^|\s)([A-Z][A-Z0-9_]*):/g)];
  keys.forEach((key, i) => {
    const end = keys[i + 1]?.index ?? line.length;
    values.set(key[1], line.slice(key.index + key[0].length, end).trim());
  });
  const firmware = values.get('FIRMWARE_NAME');
  if (!firmware) return null;
  const machineType = values.get('MACHINE_TYPE');
  return machineType ? { firmware, machineType } : { firmware };
}

/** `Cap:AUTOREPORT_TEMP:1` -> ['AUTOREPORT_TEMP', true], from M115's capability lines. */
export function parseCapability(line: string): [string, boolean] | null {
  const m = /^Cap:([A-Z0-9_]+):([01])\s*$/.exec(line.trim());
  return m ? [m[1], m[2] === '1'] : null;
}

export type Reply =
  /** `ok`, `ok N12`, `ok T:…`; `rest` is what follows the acknowledgement itself (M105's temperatures). */
  | { kind: 'ok'; rest: string }
  | { kind: 'resend'; line: number }
  /** `resendRelated`: the complaint about a garbled line that a `Resend:` follows, not a failure. */
  | { kind: 'error'; message: string; resendRelated: boolean }
  | { kind: 'busy' }
  /** The firmware (re)booted: whatever was in flight is lost. */
  | { kind: 'start' }
  | { kind: 'other' };

const RESEND_CAUSES = /checksum|line ?number|last line|expected line|format error|no line/i;

export function classify(raw: string): Reply {
  const line = raw.trim();
  const resend = /^(?:resend|rs)\s*:?\s*N?(\d+)/i.exec(line);
  if (resend) return { kind: 'resend', line: Number(resend[1]) };
  // `ok N12 P15 B3`: the line it acknowledges and ADVANCED_OK's buffer counts are not an answer.
  const ok = /^ok\b(?:\s+N\d+)?(?:\s+P\d+\s+B\d+)?\s*(.*)$/.exec(line);
  if (ok) return { kind: 'ok', rest: ok[1] };
  if (/^(?:echo:)?busy:/i.test(line)) return { kind: 'busy' };
  const error = /^(?:!!|Error:)\s*(.*)$/.exec(line);
  if (error) {
    const message = error[1];
    return { kind: 'error', message, resendRelated: RESEND_CAUSES.test(message) };
  }
  if (line === 'start') return { kind: 'start' };
  return { kind: 'other' };
}
