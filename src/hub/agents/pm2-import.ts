/**
 * PM2 ecosystem files -> agents. Pure: the CLI loads the file, the hub creates the agents.
 *
 * Every field of every app is accounted for: mapped (pm2-app.ts), reported as ignored (known to
 * PM2, no meaning here, with why) or reported as unknown, with a note where the meaning differs.
 * Nothing is dropped silently; env_NAME blocks other than the chosen one are other environments.
 */
import { parse } from '../validate.js';
import { mapApp } from './pm2-app.js';
import { FILE_IGNORED, durationMs, sizeBytes } from './pm2-fields.js';
import { describe, isObj, type AppReport, type Obj } from './pm2-reader.js';
import { AgentCreate } from './schema.js';
import { splitArgs } from './shell-words.js';

export { durationMs, sizeBytes, splitArgs };

export interface Pm2ImportOptions {
  /** `pm2 start --env NAME`: each app's env_NAME over its env. */
  env?: string;
  /** The hub's CPU count: what instances "max", 0 and -N count from. */
  cpus: number;
}

export interface Pm2ImportResult extends AppReport {
  agents: AgentCreate[];
  errors: Array<{ app: string; error: string }>;
  /** The environments the file defines (env_NAME in any app), for --env. */
  environments: string[];
}

/** The name used in reports for the file itself (top-level fields, a document of the wrong shape). */
export const FILE_LABEL = '(ecosystem file)';

export function mapEcosystem(doc: unknown, o: Pm2ImportOptions): Pm2ImportResult {
  const out: Pm2ImportResult = { agents: [], unknown_fields: [], ignored_fields: [], notes: [], errors: [], environments: [] };
  let apps: unknown[];
  let deployEnv: Obj | undefined;
  if (Array.isArray(doc)) {
    apps = doc;
  } else if (isObj(doc) && 'apps' in doc) {
    // PM2 merges deploy.NAME.env under each app's env for --env NAME; the rest of deploy means nothing here.
    const deploy = doc.deploy;
    const forEnv = o.env !== undefined && isObj(deploy) && isObj(deploy[o.env]) ? (deploy[o.env] as Obj).env : undefined;
    if (forEnv !== undefined) deployEnv = forEnv as Obj;
    for (const key of Object.keys(doc)) {
      if (key === 'apps') continue;
      if (!Object.hasOwn(FILE_IGNORED, key)) out.unknown_fields.push({ app: FILE_LABEL, field: key });
      else out.ignored_fields.push({ app: FILE_LABEL, field: key, why: FILE_IGNORED[key]! + (key === 'deploy' && deployEnv ? `; deploy.${o.env}.env is merged under each app's env, as PM2 does` : '') });
    }
    if (Array.isArray(doc.apps)) apps = doc.apps;
    else if (isObj(doc.apps)) apps = [doc.apps];
    else {
      out.errors.push({ app: FILE_LABEL, error: `apps: must be an array of apps, not ${describe(doc.apps)}` });
      return out;
    }
  } else if (isObj(doc)) {
    apps = [doc];
  } else {
    out.errors.push({ app: FILE_LABEL, error: `expected { apps: [...] }, an array of apps or one app, not ${describe(doc)}` });
    return out;
  }

  const environments = new Set<string>();
  const seen = new Set<string>();
  apps.forEach((app, i) => {
    const label = isObj(app) && typeof app.name === 'string' && app.name !== '' ? app.name : `app #${i + 1}`;
    if (!isObj(app)) {
      out.errors.push({ app: label, error: `an app must be an object, not ${describe(app)}` });
      return;
    }
    for (const key of Object.keys(app)) if (/^env_\S+$/.test(key)) environments.add(key.slice(4));
    const r = mapApp(app, label, { env: o.env, deployEnv, cpus: o.cpus }, out);
    if ('error' in r) {
      out.errors.push({ app: label, error: r.error });
      return;
    }
    if (seen.has(r.agent.name)) {
      out.errors.push({ app: label, error: `name: "${r.agent.name}" is used by an earlier app in this file` });
      return;
    }
    // Checked on a copy: Ajv fills in defaults, and the agent should say only what the file said.
    const checked = parse(AgentCreate, structuredClone(r.agent));
    if (!checked.ok) {
      out.errors.push({ app: label, error: checked.error });
      return;
    }
    seen.add(r.agent.name);
    out.agents.push(r.agent);
  });
  out.environments = [...environments].sort();
  return out;
}
