/** The agents' CPU and memory, sampled on a timer: one /proc scan for every running process group. */
import type { Logger } from '../logger.js';
import { sampleGroups } from '../supervisor/process-stats.js';
import type { AgentRuntime } from './runtime.js';

export class UsageSampler {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly agents: () => Iterable<AgentRuntime>,
    private readonly intervalS: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setTimeout(() => void this.sample(), this.intervalS * 1000);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async sample(): Promise<void> {
    try {
      const live = [...this.agents()].flatMap((rt) => rt.livePids);
      const usage = await sampleGroups(live.map((p) => p.pid));
      for (const p of live) p.set(usage.get(p.pid) ?? null);
    } catch (e) {
      this.logger.warn({ err: e }, 'sampling agents failed');
    }
    if (this.timer) this.start();
  }
}
