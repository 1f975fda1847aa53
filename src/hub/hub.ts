/**
 * The composition root: builds the core pieces, wires the extensions in order, starts them, and
 * stops them in reverse. The only place that knows both the managers and the bridges.
 */
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { listPorts, TRANSPORTS } from '../bridges/devices/index.js';
import { HttpServer } from '../bridges/http/server.js';
import { MqttBridge } from '../bridges/mqtt/bridge.js';
import { redactUrl } from '../bridges/mqtt/connection.js';
import { AgentManager } from './agents/manager.js';
import { registerAgentCommands } from './agents/commands.js';
import { AgentCreate } from './agents/schema.js';
import type { EntityContext } from '../entities/types.js';
import { resolveAdminToken } from './auth/admin-token.js';
import { EventBus } from './events.js';
import { CommandRegistry } from './commands.js';
import type { LoadedConfig } from './config/load.js';
import { sectionList } from './config/sections.js';
import type { LogLevel } from './config/types.js';
import { describeDatabase, openDatabase } from './db/data-source.js';
import { DeviceManager } from './devices/manager.js';
import { registerDeviceCommands } from './devices/commands.js';
import { DeviceCreate } from './devices/schema.js';
import { DiscoveryVisibility } from './discovery-visibility.js';
import { HubError } from './errors.js';
import type { Extension } from './extension.js';
import { HubStatus } from './hub-status.js';
import { JobManager } from './jobs/manager.js';
import type { HubInfo } from './info.js';
import type { Logger } from './logger.js';
import { MetricHistory } from './metrics/history.js';
import { MetricsSampler } from './metrics/sampler.js';
import type { Health, OperationContext } from './operations/context.js';
import { OPERATIONS } from './operations/index.js';
import { OperationTable } from './operations/table.js';
import { detectCgroupV2 } from './supervisor/limits.js';
import { TaskManager } from './tasks/manager.js';
import { registerTaskCommands } from './tasks/commands.js';
import { TaskCreate } from './tasks/schema.js';
import { ThingRegistry } from './things.js';
import { HOMEPAGE, VERSION } from './version.js';

export class Hub {
  readonly bus: EventBus;
  readonly things: ThingRegistry;
  /** Every operation, for every edge; handlers reach the managers of the current start. */
  readonly operations = new OperationTable(OPERATIONS, () => {
    if (!this.context) throw new HubError('unavailable', 'the hub is starting or stopping');
    return this.context;
  });
  readonly commands = new CommandRegistry();
  readonly token: string;
  private db: DataSource | null = null;
  private extensions: Extension[] = [];
  private http: HttpServer | null = null;
  private mqtt: MqttBridge | null = null;
  private metrics: MetricsSampler | null = null;
  private hubStatus: HubStatus | null = null;
  private agents: AgentManager | null = null;
  private jobs: JobManager | null = null;
  private tasks: TaskManager | null = null;
  private devices: DeviceManager | null = null;
  private readonly startedAt = new Date();
  private restarting: Promise<void> | null = null;
  private readonly declaredAgents: AgentCreate[];
  private readonly declaredTasks: TaskCreate[];
  private readonly declaredDevices: DeviceCreate[];

  constructor(
    private readonly config: LoadedConfig,
    readonly logger: Logger,
  ) {
    this.bus = new EventBus(logger);
    this.things = new ThingRegistry(this.bus);
    // hearth.yaml's lists are checked before anything starts: a bad entry is a bad setting.
    this.declaredAgents = sectionList('agents', AgentCreate, config.sections.agents, config.configFile);
    this.declaredTasks = sectionList('tasks', TaskCreate, config.sections.tasks, config.configFile);
    this.declaredDevices = sectionList('devices', DeviceCreate, config.sections.devices, config.configFile) as DeviceCreate[];
    const t = resolveAdminToken(config.settings.dataDir, config.settings.adminToken);
    this.token = t.token;
    if (t.file) logger.info({ file: t.file, generated: t.generated }, 'admin token (Authorization: Bearer <token>) is in this file');
  }

  /** What the operations reach: the managers of the current start (null while none is complete). */
  private context: OperationContext | null = null;

  /** The hub itself, as its operations see it. */
  private readonly controls: OperationContext['hub'] = {
    info: () => this.info(),
    health: () => this.health(),
    latestMetrics: () => this.metrics?.latest ?? null,
    setLogLevel: (level) => this.setLogLevel(level),
    // After the answer has gone out.
    restart: () =>
      setImmediate(() =>
        void this.restart().catch((e: unknown) => {
          // Half-stopped and unable to start again: better gone, so a supervisor starts it afresh.
          this.logger.fatal({ err: e }, 'the hub could not restart');
          process.exit(1);
        }),
      ),
  };

  get settings(): LoadedConfig['settings'] {
    return this.config.settings;
  }

  get httpAddress(): { host: string; port: number } {
    return this.http?.address ?? { host: this.settings.httpHost, port: 0 };
  }

  async start(): Promise<void> {
    const s = this.settings;
    this.db = await openDatabase({ dataDir: s.dataDir, url: s.databaseUrl });
    const visibility = new DiscoveryVisibility(this.db, this.bus);
    await visibility.load();
    const history = new MetricHistory(this.db, s.metricsRetentionDays);
    const entityContext: EntityContext = {
      nodeId: s.nodeId,
      base: `${s.baseTopic}/${s.nodeId}`,
      discoveryPrefix: s.discoveryPrefix,
      version: VERSION,
      ...(HOMEPAGE ? { supportUrl: HOMEPAGE } : {}),
    };
    this.hubStatus = new HubStatus(s.nodeId, VERSION, this.bus, this.things, () => this.logger.level);
    this.metrics = new MetricsSampler(this.bus, history, s.metricsInterval, this.logger.child({ component: 'metrics' }));
    // Registries are filled anew on each (re)start: the managers register their paths below.
    this.commands.clear();
    this.mqtt = new MqttBridge({
      settings: s,
      entityContext,
      bus: this.bus,
      things: this.things,
      operations: this.operations,
      commands: this.commands,
      visibility,
      logger: this.logger,
      info: () => this.info(),
    });
    this.agents = new AgentManager({
      db: this.db,
      bus: this.bus,
      things: this.things,
      mqtt: this.mqtt,
      logger: this.logger.child({ component: 'agents' }),
      dataDir: s.dataDir,
      logLimits: { maxBytes: Math.round(s.agentLogMaxMb * 1024 * 1024), files: s.agentLogFiles },
      sampleIntervalS: s.metricsInterval,
      cgroup: detectCgroupV2(),
      declared: this.declaredAgents,
    });
    registerAgentCommands(this.commands, this.operations);
    this.jobs = new JobManager({ db: this.db, bus: this.bus, logger: this.logger.child({ component: 'jobs' }), dataDir: s.dataDir });
    this.tasks = new TaskManager({
      db: this.db,
      bus: this.bus,
      things: this.things,
      logger: this.logger.child({ component: 'tasks' }),
      mqtt: this.mqtt,
      jobs: this.jobs,
      agents: this.agents,
      declared: this.declaredTasks,
    });
    registerTaskCommands(this.commands, this.operations);
    const uploadsDir = join(s.dataDir, 'uploads');
    this.devices = new DeviceManager({
      db: this.db,
      bus: this.bus,
      things: this.things,
      jobs: this.jobs,
      logger: this.logger.child({ component: 'devices' }),
      transports: TRANSPORTS,
      listPorts,
      uploadsDir,
      declared: this.declaredDevices,
    });
    registerDeviceCommands(this.commands, this.operations);
    this.context = { hub: this.controls, agents: this.agents, tasks: this.tasks, jobs: this.jobs, devices: this.devices, visibility, history };
    this.http = new HttpServer(
      {
        token: this.token,
        operations: this.operations,
        bus: this.bus,
        logger: this.logger,
        info: () => this.info(),
        jobs: this.jobs,
        devices: this.devices,
        uploadsDir,
      },
      s.httpHost,
      s.httpPort,
      VERSION,
    );
    // Order matters: the hub's state exists before it is published; MQTT goes last so that on
    // stop `offline` is the first thing the world hears.
    // Jobs before tasks: interrupted jobs are marked before a catch-up run starts a new one.
    this.extensions = [this.hubStatus, this.metrics, this.agents, this.jobs, this.tasks, this.devices, this.http, this.mqtt];
    const started: Extension[] = [];
    try {
      for (const ext of this.extensions) {
        await ext.start();
        started.push(ext);
      }
    } catch (e) {
      for (const ext of started.reverse()) await ext.stop().catch(() => undefined);
      await this.db.destroy();
      this.db = null;
      throw e;
    }
    const loopback = ['127.0.0.1', '::1', 'localhost'].includes(s.brokerHost);
    if (!s.mqttUrl && !loopback && !s.brokerUsername) {
      this.logger.warn(
        { host: s.brokerHost },
        'the embedded MQTT broker accepts anyone who can reach it, and MQTT can create agents and tasks: set HEARTH_BROKER_USERNAME and HEARTH_BROKER_PASSWORD (or HEARTH_BROKER_HOST=127.0.0.1)',
      );
    }
    this.logger.info(
      { node_id: s.nodeId, http: `http://${s.httpHost}:${this.httpAddress.port}`, broker: this.mqtt.brokerInfo, database: describeDatabase({ dataDir: s.dataDir, url: s.databaseUrl }) },
      'Hearth is running',
    );
  }

  async stop(): Promise<void> {
    for (const ext of [...this.extensions].reverse()) {
      try {
        await ext.stop();
      } catch (e) {
        this.logger.error({ err: e, extension: ext.name }, 'stopping failed');
      }
    }
    this.extensions = [];
    await this.db?.destroy();
    this.db = null;
  }

  /** Stops and starts every extension again in this process (the Restart button). */
  async restart(): Promise<void> {
    if (this.restarting) return this.restarting;
    this.logger.info('restarting the hub');
    this.restarting = (async () => {
      await this.stop();
      await this.start();
    })().finally(() => (this.restarting = null));
    return this.restarting;
  }

  setLogLevel(level: LogLevel): void {
    this.logger.level = level;
    this.bus.emit('settings.changed', { log_level: level });
  }

  info(): HubInfo {
    const s = this.settings;
    const broker = this.mqtt?.brokerInfo ?? { mode: s.mqttUrl ? ('external' as const) : ('embedded' as const), url: s.mqttUrl };
    return {
      version: VERSION,
      node_id: s.nodeId,
      started_at: this.startedAt.toISOString(),
      uptime_s: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      log_level: this.logger.level,
      counts: this.hubStatus?.counts() ?? { agent: 0, task: 0, device: 0 },
      problems: this.things.problems(),
      broker: { ...broker, url: redactUrl(broker.url), connected: this.mqtt?.connected === true },
      base_topic: `${s.baseTopic}/${s.nodeId}`,
      discovery_prefix: s.discoveryPrefix,
      database: describeDatabase({ dataDir: s.dataDir, url: s.databaseUrl }),
      http: this.httpAddress,
      bridge_requests: this.operations.names(),
    };
  }

  async health(): Promise<Health> {
    const checks: Health['checks'] = {};
    checks.mqtt = this.mqtt?.connected ? { ok: true } : { ok: false, detail: 'not connected to the broker' };
    try {
      await this.db?.query('SELECT 1');
      checks.database = this.db ? { ok: true } : { ok: false, detail: 'closed' };
    } catch (e) {
      checks.database = { ok: false, detail: (e as Error).message };
    }
    return { healthy: Object.values(checks).every((c) => c.ok), checks };
  }
}
