/** Samples the host every metrics_interval seconds, stores the history, and tells the bus. */
import type { EventBus } from '../events.js';
import type { Extension } from '../extension.js';
import type { Logger } from '../logger.js';
import { MetricsCollector } from './collector.js';
import type { MetricHistory } from './history.js';
import { flattenMetrics, type HostMetrics } from './types.js';

const MAINTAIN_EVERY_MS = 3600_000;

export class MetricsSampler implements Extension {
  readonly name = 'metrics';
  private readonly collector: MetricsCollector;
  private timer: NodeJS.Timeout | null = null;
  private lastMaintain = 0;
  private latestSample: HostMetrics | null = null;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: EventBus,
    private readonly history: MetricHistory,
    private readonly intervalS: number,
    private readonly logger: Logger,
    interfaces: readonly string[] = [],
  ) {
    this.collector = new MetricsCollector(interfaces);
  }

  get latest(): HostMetrics | null {
    return this.latestSample;
  }

  async start(): Promise<void> {
    this.stopped = false;
    // The first sample is taken before start() returns, so the hub device has metrics when it appears.
    await this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A sample under way finishes its write before the database closes.
    await this.inFlight;
  }

  private run(): Promise<void> {
    this.inFlight = this.tick();
    return this.inFlight;
  }

  private async tick(): Promise<void> {
    try {
      const m = await this.collector.sample();
      this.latestSample = m;
      this.bus.emit('metrics.sampled', m);
      await this.history.record(Date.parse(m.timestamp), Math.round(this.intervalS), flattenMetrics(m));
      const now = Date.now();
      if (now - this.lastMaintain >= MAINTAIN_EVERY_MS) {
        this.lastMaintain = now;
        const r = await this.history.maintain(now);
        if (r.compacted || r.deleted) this.logger.debug(r, 'metric history compacted');
      }
    } catch (e) {
      this.logger.warn({ err: e }, 'metrics sample failed');
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.run(), this.intervalS * 1000);
  }
}
