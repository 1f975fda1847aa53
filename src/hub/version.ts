/** The package's version and home page, read once from package.json. */
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; homepage?: string };

export const VERSION = pkg.version;
export const HOMEPAGE = pkg.homepage;
