/**
 * The embedded MQTT broker (aedes over TCP), so a fresh install needs nothing else. Closed by
 * default: the hub's user, Home Assistant's, and Hearth users (password or API token) sign in;
 * anonymous clients only when allowed; failed sign-ins are limited (LoginLimiter). What each may
 * publish and receive is BrokerAcl's; a refused publish is dropped, not the client. The hub takes
 * bridge requests and commands from the broker itself, with the identity of who published them,
 * and answers a request to its asker only. A client signed in as a user whose credentials changed
 * (disconnectUser) or expired is closed: its role was the one it had at CONNECT.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../../hub/logger.js';
import type { MqttCredential } from '../../hub/auth/mqtt-credentials.js';
import { SYSTEM, type Authenticator, type Principal } from '../../hub/users/types.js';
import { BrokerAcl, REFUSED_TOPIC, type Identity } from './broker-acl.js';
import { topicMatches } from './connection.js';
import { LoginLimiter, type LoginLimits } from './login-limiter.js';

export interface BrokerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  base: string;
  discoveryPrefix: string;
  /** The hub's own connection: no other client may take its id. */
  hub: MqttCredential & { clientId: string };
  homeassistant: MqttCredential;
  /** Clients without credentials are let in, as operators. */
  anonymous: boolean;
  auth: Authenticator;
  logger: Logger;
  /** Failed sign-ins allowed (default BROKER_LOGIN_LIMITS). */
  loginLimits?: LoginLimits;
}

/** A message a signed-in client published, and the way back to that one client. */
export interface Published {
  topic: string;
  payload: Buffer;
  retain: boolean;
  principal: Principal;
  /** Sends to the publisher alone, if it subscribed to the topic; rejects when it has gone. */
  answer(topic: string, payload: string): Promise<void>;
}

const ANONYMOUS: Principal = { username: 'anonymous', role: 'operator', via: 'anonymous' };
const HOME_ASSISTANT_ROLE = 'operator';

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

const connackError = (returnCode: 2 | 4 | 5, message: string): AuthenticateError => Object.assign(new Error(message), { returnCode });
const badSignIn = (): AuthenticateError => connackError(4, 'bad user name or password');

/** aedes keeps a client's subscriptions by filter; its types do not show them. */
const subscriptionsOf = (client: Client): Record<string, { qos: number }> => (client as unknown as { subscriptions: Record<string, { qos: number }> }).subscriptions;

/** aedes keeps its connected clients by id; its types do not show them. */
const clientsOf = (aedes: Aedes): Client[] => Object.values((aedes as unknown as { clients: Record<string, Client> }).clients);

const addressOf = (client: Client): string | undefined => (client.conn as { remoteAddress?: string }).remoteAddress;

/** Never the hub's client id in a log: whoever has it could take the hub's session elsewhere. */
const logId = (client: Client, who: Identity | undefined): string => (who?.kind === 'hub' ? 'hub' : client.id);

export class EmbeddedBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly acl: BrokerAcl;
  private readonly listeners: Array<{ filter: string; on: (m: Published) => void }> = [];
  private readonly limiter: LoginLimiter;
  /** How often each user was disconnected: a sign-in checked before the latest change does not count. */
  private readonly userChanges = new Map<string, number>();

  /** Clients connected now (the hub's own included); 0 when not listening. */
  get clientCount(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  constructor(private readonly o: BrokerOptions) {
    this.acl = new BrokerAcl(o.base, o.discoveryPrefix);
    this.limiter = new LoginLimiter(o.loginLimits);
  }

  /**
   * Closes every client signed in as this Hearth user: its role, password or token changed (or it
   * is gone), and a connection keeps what it proved at CONNECT. It may sign in again if it still can.
   */
  disconnectUser(username: string): void {
    this.userChanges.set(username, (this.userChanges.get(username) ?? 0) + 1);
    if (!this.aedes) return;
    for (const client of clientsOf(this.aedes)) {
      const who = this.identities.get(client);
      if (who?.kind !== 'user' || who.principal.username !== username) continue;
      // Forgotten first: what it sent that is still on its way is not taken as its.
      this.identities.delete(client);
      this.o.logger.info({ client: client.id, username }, 'MQTT client disconnected: its user changed');
      client.close();
    }
  }

  /** Messages clients publish on topics matching the filter (a task action of the hub's too, as the hub). */
  onPublished(filter: string, on: (m: Published) => void): void {
    this.listeners.push({ filter, on });
  }

  /** Resolves to the port it listens on. */
  async start(): Promise<number> {
    const { logger } = this.o;
    this.aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const changes = username === undefined ? 0 : (this.userChanges.get(username) ?? 0);
        this.identify(client, username, password?.toString('utf8')).then(
          (who) => {
            // Its user changed while the password was checked: what was checked is no longer so.
            if (!('refused' in who) && who.kind === 'user' && (this.userChanges.get(who.principal.username) ?? 0) !== changes) {
              who = { refused: connackError(5, 'the user changed while signing in: sign in again') };
            }
            if ('refused' in who) {
              logger.warn({ client: client.id === this.o.hub.clientId ? 'hub' : client.id, username, address: addressOf(client) }, `MQTT client refused: ${who.refused.message}`);
              return done(who.refused, null);
            }
            this.identities.set(client, who);
            logger.debug({ client: logId(client, who), username: who.principal.username, role: who.principal.role }, 'MQTT client connected');
            done(null, true);
          },
          (e: unknown) => {
            logger.error({ err: e, username }, 'checking MQTT credentials failed');
            done(connackError(5, 'credentials could not be checked'), null);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        // The broker's own messages ($SYS) come without a client.
        if (!client) return done(null);
        const who = this.identities.get(client);
        const expired = who?.principal.expiresAt !== undefined && who.principal.expiresAt <= Date.now();
        const reason = !who ? 'not signed in' : expired ? 'its credential has expired' : this.acl.refusePublish(who, packet.topic, packet.payload as Buffer);
        if (reason !== null) {
          logger.warn({ client: logId(client, who), username: who?.principal.username, topic: packet.topic, reason }, 'MQTT publish refused');
          if (expired) {
            // Signed in with a token that has run out: it is signed in no longer (an error closes it).
            this.identities.delete(client);
            return done(new Error(reason));
          }
          // An error here would disconnect the client: the message goes where no one receives it.
          packet.topic = REFUSED_TOPIC;
          packet.payload = Buffer.alloc(0);
          packet.retain = false;
        }
        done(null);
      },
      authorizeSubscribe: (client, sub, done) => {
        const who = this.identities.get(client);
        if (who && this.acl.maySubscribe(who, sub.topic)) return done(null, sub);
        logger.warn({ client: logId(client, who), username: who?.principal.username, filter: sub.topic }, 'MQTT subscription refused');
        done(null, null);
      },
      // aedes marks a message with its publisher's client id; one it sends to a client directly has none.
      authorizeForward: (_client, packet) => (this.acl.mayForward(packet.topic, (packet as { clientId?: string }).clientId !== undefined) ? packet : null),
    });
    this.aedes.on('publish', (packet, client) => {
      if (!client) return;
      const who = this.identities.get(client);
      if (!who) return;
      for (const l of this.listeners) {
        if (!topicMatches(l.filter, packet.topic)) continue;
        l.on({
          topic: packet.topic,
          payload: packet.payload as Buffer,
          retain: packet.retain,
          principal: who.principal,
          answer: (topic, payload) => this.sendTo(client, topic, payload),
        });
      }
    });
    // Small messages go out at once: Nagle's algorithm with delayed ACKs costs ~40 ms per exchange.
    const server = createServer({ noDelay: true }, this.aedes.handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    const aedes = this.aedes;
    this.server = null;
    this.aedes = null;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() waits for open sockets; aedes has closed its clients, so this does not hang.
      });
    }
  }

  private async identify(client: Client, username: string | undefined, password: string | undefined): Promise<Identity | { refused: AuthenticateError }> {
    const { hub, homeassistant } = this.o;
    const isHub = username !== undefined && password !== undefined && same(username, hub.username) && same(password, hub.password);
    // Taking the hub's id would throw the hub off the broker (a client id is one session).
    if (client.id === hub.clientId && !isHub) return { refused: connackError(2, "the hub's client id is the hub's") };
    if (isHub) return { principal: SYSTEM, kind: 'hub' };
    if (!username && !password) {
      if (this.o.anonymous) return { principal: ANONYMOUS, kind: 'user' };
      return { refused: connackError(5, 'anonymous clients are not allowed: sign in (hearth mqtt credentials) or set HEARTH_BROKER_ANONYMOUS=true') };
    }
    if (username === undefined || password === undefined) return { refused: badSignIn() };
    if (username === homeassistant.username) {
      if (!same(password, homeassistant.password)) return { refused: badSignIn() };
      return { principal: { username, role: HOME_ASSISTANT_ROLE, via: 'broker_user' }, kind: 'homeassistant' };
    }
    if (username === hub.username) return { refused: badSignIn() };
    const address = addressOf(client);
    const wait = this.limiter.retryAfter(username, address);
    if (wait !== null) return { refused: connackError(5, `too many failed sign-ins; try again in ${wait} s`) };
    const principal = await this.o.auth.login(username, password);
    if (!principal) {
      this.limiter.failed(username, address);
      return { refused: badSignIn() };
    }
    return { principal, kind: 'user' };
  }

  /** To one client only (aedes' Client#publish writes to that connection), if it listens on the topic. */
  private async sendTo(client: Client, topic: string, payload: string): Promise<void> {
    if (client.closed || !client.connected || !this.aedes) throw new Error('the client that asked has gone');
    const granted = Object.entries(subscriptionsOf(client))
      .filter(([filter]) => topicMatches(filter, topic))
      .map(([, s]) => s.qos);
    if (granted.length === 0) return;
    const qos = Math.min(1, Math.max(...granted)) as 0 | 1;
    await new Promise<void>((resolve, reject) =>
      client.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())),
    );
  }
}
