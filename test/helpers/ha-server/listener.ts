/**
 * The stand-in's socket side: an HTTP server on 127.0.0.1 that upgrades /api/websocket (and the
 * Supervisor's proxy path when there is one) and answers other requests as aiohttp does, and the
 * outages a test stages: clients cut, the server gone, back on the same port.
 */
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { HaConnection, WsPath } from './connection.js';

export interface ListenerOptions {
  /** Listen on this port at first (default: one the system picks); kept across restarts. */
  port?: number;
  /** Whether /core/websocket (the Supervisor's proxy) is served. */
  supervisor: boolean;
  /** Makes the connection for an upgraded socket. */
  open(ws: WebSocket, path: WsPath): HaConnection;
  /** Called when a connection comes or goes, or the server starts listening. */
  changed(): void;
}

export class WsListener {
  /** Open connections, each with a promise that settles once it has closed. */
  private readonly conns = new Map<HaConnection, Promise<void>>();
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private portValue: number;
  private listening = false;
  private closedForGood = false;

  constructor(private readonly opts: ListenerOptions) {
    this.portValue = opts.port ?? 0;
    this.http = createServer((req, res) => {
      // aiohttp answers a plain GET on the WebSocket route with 400, anything unknown with 404.
      const ws = this.pathOf(req.url) !== null;
      res.writeHead(ws ? 400 : 404, { 'content-type': 'text/plain' }).end(ws ? 'Bad Request' : '404: Not Found');
    });
    this.http.on('upgrade', (req, socket: Duplex, head) => {
      const path = this.pathOf(req.url);
      if (path === null) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        if (!this.listening) {
          ws.terminate(); // upgraded while stopping
          return;
        }
        const conn = opts.open(ws, path);
        const gone = new Promise<void>((resolve) =>
          ws.on('close', () => {
            this.conns.delete(conn);
            opts.changed();
            resolve();
          }),
        );
        this.conns.set(conn, gone);
        opts.changed();
      });
    });
  }

  get port(): number {
    return this.portValue;
  }
  get open(): HaConnection[] {
    return [...this.conns.keys()];
  }

  /** Every connection cut without a close frame, as a network failure; the server stays up. */
  drop(): void {
    for (const c of this.conns.keys()) c.terminate();
  }

  /** No new connections, open ones closed (normal close frame, or cut when `abrupt`). */
  async stop(opts: { abrupt?: boolean } = {}): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((r) => this.http.close(() => r()));
    const gone = [...this.conns.values()];
    for (const c of this.conns.keys()) {
      if (opts.abrupt) c.terminate();
      else c.close();
    }
    // A client that never answers the close frame is cut after a second.
    const cut = setTimeout(() => this.drop(), 1000);
    await Promise.all(gone);
    clearTimeout(cut);
    this.http.closeAllConnections();
    await closed;
  }

  /** Listens again (on the same port once it has one). */
  async start(): Promise<void> {
    if (this.closedForGood) throw new Error('this stand-in Home Assistant was closed');
    if (this.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.portValue, '127.0.0.1', () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    this.portValue = (this.http.address() as { port: number }).port;
    this.listening = true;
    this.opts.changed();
  }

  /** Stops for good: nothing left listening, connected or timed. */
  async close(): Promise<void> {
    if (this.closedForGood) return;
    await this.stop({ abrupt: true });
    this.closedForGood = true;
    this.wss.close();
  }

  private pathOf(url: string | undefined): WsPath | null {
    const path = new URL(url ?? '/', 'http://x').pathname;
    if (path === '/api/websocket') return 'core';
    if (path === '/core/websocket' && this.opts.supervisor) return 'supervisor';
    return null;
  }
}
