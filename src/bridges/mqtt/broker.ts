/** The embedded MQTT broker (aedes over TCP), so a fresh install needs nothing else. */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { Aedes } from 'aedes';

export interface BrokerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When both are set, every client must present them. */
  username: string;
  password: string;
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class EmbeddedBroker {
  private aedes: Aedes | null = null;
  private server: Server | null = null;

  constructor(private readonly o: BrokerOptions) {}

  /** Resolves to the port it listens on. */
  async start(): Promise<number> {
    const { username, password } = this.o;
    const secured = username !== '' || password !== '';
    this.aedes = await Aedes.createBroker({
      authenticate: (_client, user, pass, done) => {
        if (!secured) return done(null, true);
        const ok = user !== undefined && pass !== undefined && same(user, username) && same(pass.toString(), password);
        if (ok) return done(null, true);
        const err = Object.assign(new Error('bad user name or password'), { returnCode: 4 as const });
        return done(err, null);
      },
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
}
