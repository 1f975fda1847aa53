/**
 * Home Assistant ingress (the add-on's panel). Home Assistant serves the add-on under a prefix
 * (`X-Ingress-Path`, stripped before the request arrives) and its Supervisor forwards each request
 * from its ingress proxy, naming the signed-in Home Assistant user in `X-Remote-User-*` headers it
 * sets itself (it drops any the browser sent). Those headers are only as good as the connection
 * they came on: they are trusted when ingress is on and the TCP peer (the socket's address, never
 * X-Forwarded-For) is the proxy's address, and ignored otherwise.
 */
import { BlockList, isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../hub/logger.js';
import type { Principal, Role } from '../../hub/users/types.js';

export interface IngressSettings {
  enabled: boolean;
  /** The ingress proxy's address: the only peer whose headers count. */
  proxy: string;
  /** A Home Assistant user name's Hearth role; "*" for everyone else. */
  roles: Record<string, Role>;
}

/**
 * A Home Assistant user acts as `ha:<name>`: a colon is in no Hearth user name, so one can neither
 * be nor pass for a Hearth user or a reserved name (admin, hearth, homeassistant) in the audit.
 */
const HA_USER_PREFIX = 'ha:';
/** What the audit and the users' tables hold of a user name. */
const USERNAME_MAX = 64;
const USER_HEADERS = ['x-remote-user-name', 'x-remote-user-id', 'x-remote-user-display-name'] as const;
/** Path segments of URL-safe characters (Home Assistant's is /api/hassio_ingress/<token>); no "." or "..". */
const PREFIX = /^(?:\/(?!\.\.?(?:\/|$))[\w.~-]+)+$/;
const PREFIX_MAX = 200;
/** Distinct warnings a process logs at most (one per address): a scan cannot fill the log or the memory. */
const WARNINGS_MAX = 100;

/** Header bytes as sent (Node reads them as latin1): Home Assistant sends names in UTF-8. */
const utf8 = (value: string): string => Buffer.from(value, 'latin1').toString('utf8');

export class Ingress {
  private readonly proxy: BlockList | null = null;
  private readonly warned = new Set<string>();

  constructor(
    private readonly settings: IngressSettings,
    private readonly logger: Logger,
  ) {
    if (!settings.enabled) return;
    // An IP address: the setting's parser saw to it.
    const family = isIP(settings.proxy);
    // A BlockList compares addresses, not text: an IPv4 proxy matches its IPv4-mapped IPv6 form
    // (::ffff:172.30.32.2), which a dual-stack listener reports.
    this.proxy = new BlockList();
    this.proxy.addAddress(settings.proxy, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The Home Assistant user the proxy names, or null: not from the proxy, or no user named. */
  principal(req: FastifyRequest): Principal | null {
    if (!this.fromProxy(req)) {
      if (this.proxy && USER_HEADERS.some((h) => req.headers[h] !== undefined)) {
        this.warnOnce(`peer ${req.socket.remoteAddress}`, { address: req.socket.remoteAddress, proxy: this.settings.proxy }, 'Home Assistant user headers from an address that is not the ingress proxy: ignored');
      }
      return null;
    }
    const header = req.headers['x-remote-user-name'];
    if (typeof header !== 'string') return null;
    const name = utf8(header);
    if (name === '' || name.length > USERNAME_MAX - HA_USER_PREFIX.length || /[\p{Cc}\uFFFD]/u.test(name)) {
      this.warnOnce('name', { length: name.length }, 'the ingress proxy named a Home Assistant user Hearth cannot take (empty, too long or not text): not trusted');
      return null;
    }
    // The map's names are in lower case (settings.ts), as Home Assistant keeps user names.
    const roles = this.settings.roles;
    const key = name.toLowerCase();
    const role = Object.hasOwn(roles, key) ? roles[key] : roles['*'];
    return role ? { username: HA_USER_PREFIX + name, role, via: 'ingress' } : null;
  }

  /** The prefix Home Assistant serves the hub under, for the links the hub renders; '' outside ingress. */
  prefix(req: FastifyRequest): string {
    const header = req.headers['x-ingress-path'];
    if (typeof header !== 'string' || !this.fromProxy(req)) return '';
    const path = header.replace(/\/+$/, '');
    return path.length <= PREFIX_MAX && PREFIX.test(path) ? path : '';
  }

  /** A redirect to a path of the hub's own goes to it under the prefix. An onSend hook. */
  readonly prefixRedirect = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const location = reply.getHeader('location');
    if (typeof location !== 'string' || !location.startsWith('/') || location.startsWith('//')) return;
    const prefix = this.prefix(req);
    if (prefix) void reply.header('location', prefix + location);
  };

  private fromProxy(req: FastifyRequest): boolean {
    const address = req.socket.remoteAddress;
    if (!this.proxy || address === undefined) return false;
    return this.proxy.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  private warnOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.warned.has(key) || this.warned.size >= WARNINGS_MAX) return;
    this.warned.add(key);
    this.logger.warn(fields, msg);
  }
}
