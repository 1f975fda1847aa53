/** Who is calling: roles, the principal a credential stands for, and what checks credentials. */

/** viewer reads; operator starts, stops, runs, connects, sends commands; admin creates, changes, deletes. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** True when `role` may do what `needed` allows. */
export const roleAllows = (role: Role, needed: Role): boolean => ROLES.indexOf(role) >= ROLES.indexOf(needed);

/** Why a call is refused: what needs which role, and what the caller is. */
export const refusal = (what: string, needed: Role, p: { username: string; role: Role }): string =>
  `${what} needs the ${needed} role; ${p.username} is ${/^[aeiou]/.test(p.role) ? 'an' : 'a'} ${p.role}`;

/**
 * How the principal proved who it is. `ingress`: Home Assistant's Supervisor named its user on a
 * connection from its ingress proxy (the add-on's panel).
 */
export type Proof = 'admin_token' | 'session' | 'api_token' | 'password' | 'broker_user' | 'anonymous' | 'hub' | 'ingress';

export interface Principal {
  username: string;
  role: Role;
  via: Proof;
  /** Epoch ms when the credential stops working (an API token's expiry); a long-lived connection checks it. */
  expiresAt?: number;
  /** A session's: epoch ms of the login it carries on (refreshing stops LOGIN_LIFETIME_MS after it). */
  loginAt?: number;
}

/** The edge a call came through (the audit's `edge`). */
export type Edge = 'http' | 'mqtt' | 'cli' | 'hearth.yaml';

/** Where a call came from and who made it: what a job's trigger says, what the role check and the audit read. */
export interface Caller {
  edge: Edge;
  principal: Principal;
}

/** The root credential: the admin token stands for this user (it cannot be created as a Hearth user). */
export const ROOT_USER = 'admin';

/** The hub itself acting on what the owner declared (hearth.yaml) or scheduled. */
export const SYSTEM: Principal = { username: 'hearth', role: 'admin', via: 'hub' };

/** Checks credentials; each answer is null when they are not valid (unknown, wrong, expired, disabled). */
export interface Authenticator {
  /** A bearer credential: the admin token, a session JWT or a personal API token. */
  bearer(secret: string): Promise<Principal | null>;
  /** A username with its password or one of its API tokens (the broker's logins). */
  login(username: string, secret: string): Promise<Principal | null>;
}

/** The User-Agent the CLI sends (`hearth-cli/<version>`), so the audit can tell its calls from other HTTP clients'. */
export const CLI_AGENT = 'hearth-cli';

/** Broker user names the hub keeps for itself and Home Assistant; no Hearth user may take them. */
export const RESERVED_USERS = [ROOT_USER, 'hearth', 'homeassistant', 'anonymous'] as const;
