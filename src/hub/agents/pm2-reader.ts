/** One PM2 app's fields as the import reads them: each with the problems it has, and what the import says of it. */
import { durationMs } from './pm2-fields.js';
import { splitArgs } from './shell-words.js';

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `${typeof v} ${JSON.stringify(v)}`);

/** A string, number or boolean as text; undefined for anything else. */
const scalarText = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' ? String(v) : undefined;

/** What the import says besides the agents, per app. */
export interface AppReport {
  unknown_fields: Array<{ app: string; field: string }>;
  ignored_fields: Array<{ app: string; field: string; why: string }>;
  notes: Array<{ app: string; field: string; note: string }>;
}

export interface AppContext {
  /** `--env NAME`: env_NAME (and deploy.NAME.env) merged as `pm2 start --env NAME` does. */
  env?: string;
  /** deploy.NAME.env of the file, for the chosen environment. */
  deployEnv?: Obj;
  /** The hub's CPU count, for instances "max", 0 and -N. */
  cpus: number;
}

/** One app's fields, read with the problems they have: what every mapping of a field uses. */
export class AppFields {
  readonly problems: string[] = [];

  constructor(
    readonly app: Obj,
    private readonly label: string,
    private readonly report: AppReport,
  ) {}

  ignore(field: string, why: string): void {
    this.report.ignored_fields.push({ app: this.label, field, why });
  }

  note(field: string, note: string): void {
    this.report.notes.push({ app: this.label, field, note });
  }

  str(field: string): string | undefined {
    const v = this.app[field];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v !== '') return v;
    this.problems.push(`${field}: must be a non-empty string, not ${describe(v)}`);
    return undefined;
  }

  bool(field: string): boolean | undefined {
    const v = this.app[field];
    if (v === undefined || typeof v === 'boolean') return v;
    this.problems.push(`${field}: must be true or false, not ${describe(v)}`);
    return undefined;
  }

  words(field: string): string[] | undefined {
    const v = this.app[field];
    if (v === undefined) return undefined;
    if (typeof v === 'string') {
      try {
        return splitArgs(v);
      } catch (e) {
        this.problems.push(`${field}: ${(e as Error).message} in ${JSON.stringify(v)}`);
        return undefined;
      }
    }
    if (Array.isArray(v)) {
      const texts = v.map(scalarText);
      const bad = texts.findIndex((t) => t === undefined);
      if (bad < 0) return texts as string[];
      this.problems.push(`${field}[${bad}]: must be a string, not ${describe(v[bad])}`);
      return undefined;
    }
    this.problems.push(`${field}: must be a string or an array of strings, not ${describe(v)}`);
    return undefined;
  }

  ms(field: string): number | undefined {
    const v = this.app[field];
    if (v === undefined) return undefined;
    const n = durationMs(v);
    if (n === undefined) this.problems.push(`${field}: must be milliseconds or a duration like "10s", "5m", "1h", not ${describe(v)}`);
    return n;
  }

  /** A path PM2 takes as it is: it expands neither ~ nor $VARIABLES in it (only in its log file paths), so such a path fails there too. */
  path(field: string, p: string): string | undefined {
    if (!p.startsWith('~') && !/\$\{?[A-Za-z_]/.test(p)) return p;
    this.problems.push(
      `${field}: "${p}": PM2 expands neither ~ nor $VARIABLES here (it would look for a path named so, and fail); write the full path, or build it in a .js ecosystem file with process.env.HOME`,
    );
    return undefined;
  }
}
