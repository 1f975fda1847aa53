/**
 * The composition root: builds the core pieces, wires the extensions in order, starts them, and
 * stops them in reverse. The only place that knows both the managers and the bridges.
 */
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { listPorts, TRANSPORTS } from '../bridges/devices/index.js';
import { HomeAssistantBridge } from '../bridges/homeassistant/bridge.js';
import { HttpServer } from '../bridges/http/server.js';
import { MqttBridge } from '../bridges/mqtt/bridge.js';
import { AgentManager } from './agents/manager.js';
import { PortAllocator } from './ports/allocator.js';
import { registerAgentCommands } from './agents/commands.js';
import { AgentCreate } from './agents/schema.js';
import type { EntityContext } from '../entities/types.js';
import { resolveAdminToken } from './auth/admin-token.js';
import { EventBus } from './events.js';
import { CommandRegistry } from './commands.js';
import type { LoadedConfig } from './config/load.js';
import { sectionList } from './config/sections.js';
import type { LogLevel } from './config/types.js';
import { corruptDatabase, describeDatabase, openDatabase } from './db/data-source.js';
import { lockDataDir, secureDataDir, type DataDirLock } from './data-dir.js';
import { checkHealth } from './health.js';
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
import { detectCgroupV2 } from './supervisor/cgroup-tree.js';
import { TaskManager } from './tasks/manager.js';
import { AuditLog } from './users/audit.js';
import { HubAuthenticator } from './users/authenticator.js';
import { Sessions } from './users/sessions.js';
import { UserStore } from './users/store.js';
import { SYSTEM } from './users/types.js';
import { registerTaskCommands } from './tasks/commands.js';
import { TaskCreate } from './tasks/schema.js';
import { ThingRegistry } from './things.js';
import { redactUrl } from './url-secrets.js';
import { HOMEPAGE, VERSION } from './version.js';

export class Hub {
  readonly bus: EventBus;
  readonly things: ThingRegistry;
  /** Every operation, for every edge; handlers reach the managers of the current start. */
  readonly operations = new OperationTable(OPERATIONS, () => this.ready());
  readonly commands = new CommandRegistry();
  readonly token: string;
  private readonly sessions: Sessions;
  /** Checks credentials against the users of the current start (HTTP and the broker alike). */
  private auth: HubAuthenticator | null = null;
  private db: DataSource | null = null;
  private lock: DataDirLock | null = null;
  private extensions: Extension[] = [];
  private http: HttpServer | null = null;
  private mqtt: MqttBridge | null = null;
  private ha: HomeAssistantBridge | null = null;
  private metrics: MetricsSampler | null = null;
  private hubStatus: HubStatus | null = null;
  private agents: AgentManager | null = null;
  private jobs: JobManager | null = null;
  private tasks: TaskManager | null = null;
  private devices: DeviceManager | null = null;
  private readonly startedAt = new Date();
  private restartUnderWay: Promise<void> | null = null;
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
    this.sessions = new Sessions(config.settings.dataDir);
    if (t.file) logger.info({ file: t.file, generated: t.generated }, 'admin token (Authorization: Bearer <token>) is in this file');
  }

  /** What the operations reach: the managers of the current start (null while none is complete). */
  private context: OperationContext | null = null;

  /** The context of a complete start; while the hub starts or stops, a refusal (503). */
  private ready(): OperationContext {
    if (!this.context) throw new HubError('unavailable', 'the hub is starting or stopping');
    return this.context;
  }

  /** The hub itself, as its operations see it. */
  private readonly controls: OperationContext['hub'] = {
    info: () => this.info(),
    health: () => this.health(),
    latestMetrics: () => this.metrics?.latest ?? null,
    mqttCredentials: () => this.mqtt?.credentials ?? [],
    setLogLevel: (level) => this.setLogLevel(level),
    warn: (fields, message) => this.logger.warn(fields, message),
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

  /**
   * Takes the data directory before anything else (a second hub there must not touch the first
   * one's agents); kept over a restart in place, let go when this start fails.
   */
  async start(): Promise<void> {
    const s = this.settings;
    const took = this.lock === null;
    this.lock ??= lockDataDir(s.dataDir);
    try {
      await this.startExtensions();
    } catch (e) {
      await this.db?.destroy().catch(() => undefined);
      this.db = null;
      if (took) this.releaseLock();
      throw corruptDatabase(e, { dataDir: s.dataDir, url: s.databaseUrl }) ?? e;
    }
  }

  private releaseLock(): void {
    this.lock?.release();
    this.lock = null;
  }

  private async startExtensions(): Promise<void> {
    const s = this.settings;
    const unfixed = secureDataDir(s.dataDir);
    if (unfixed.length) this.logger.warn({ paths: unfixed }, 'could not make these files of the data directory private (0600, folders 0700)');
    this.db = await openDatabase({ dataDir: s.dataDir, url: s.databaseUrl });
    const visibility = new DiscoveryVisibility(this.db, this.bus);
    await visibility.load();
    const history = new MetricHistory(this.db, s.metricsRetentionDays);
    const users = new UserStore(this.db);
    // A user whose credentials changed keeps nothing open: the role a connection was opened with is gone.
    users.onChange((username) => {
      this.http?.endUser(username);
      this.mqtt?.disconnectUser(username);
    });
    const audit = new AuditLog(this.db);
    await audit.prune();
    this.auth = new HubAuthenticator(this.token, users, this.sessions);
    const fromYaml = (operation: string) => (id: string) => audit.record({ edge: 'hearth.yaml', principal: SYSTEM }, operation, id, 'ok');
    const entityContext: EntityContext = {
      nodeId: s.nodeId,
      base: `${s.baseTopic}/${s.nodeId}`,
      discoveryPrefix: s.discoveryPrefix,
      version: VERSION,
      ...(HOMEPAGE ? { supportUrl: HOMEPAGE } : {}),
    };
    this.hubStatus = new HubStatus(s.nodeId, VERSION, this.bus, this.things, () => this.logger.level);
    this.metrics = new MetricsSampler(this.bus, history, s.metricsInterval, this.logger.child({ component: 'metrics' }), s.metricsInterfaces);
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
      auth: this.auth,
    });
    this.ha = new HomeAssistantBridge({ settings: s, env: process.env, bus: this.bus, logger: this.logger.child({ component: 'home-assistant' }) });
    this.agents = new AgentManager({
      db: this.db,
      bus: this.bus,
      things: this.things,
      mqtt: this.mqtt,
      ha: this.ha,
      logger: this.logger.child({ component: 'agents' }),
      dataDir: s.dataDir,
      logLimits: { maxBytes: Math.round(s.agentLogMaxMb * 1024 * 1024), files: s.agentLogFiles },
      sampleIntervalS: s.metricsInterval,
      cgroup: detectCgroupV2(),
      ports: new PortAllocator(this.db, s.portRange),
      declared: { bodies: this.declaredAgents, created: fromYaml('agent/create') },
    });
    registerAgentCommands(this.commands, this.operations);
    this.jobs = new JobManager({ db: this.db, bus: this.bus, logger: this.logger.child({ component: 'jobs' }), dataDir: s.dataDir });
    this.tasks = new TaskManager({
      db: this.db,
      bus: this.bus,
      things: this.things,
      logger: this.logger.child({ component: 'tasks' }),
      mqtt: this.mqtt,
      ha: this.ha,
      jobs: this.jobs,
      agents: this.agents,
      declared: { bodies: this.declaredTasks, created: fromYaml('task/create') },
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
      declared: { bodies: this.declaredDevices, created: fromYaml('device/create') },
    });
    registerDeviceCommands(this.commands, this.operations);
    const context: OperationContext = { hub: this.controls, agents: this.agents, tasks: this.tasks, jobs: this.jobs, devices: this.devices, visibility, history, users, sessions: this.sessions, audit };
    // The streams reach the managers as the operations do: 503 until the managers have started.
    const ready = (): OperationContext => this.ready();
    this.http = new HttpServer(
      {
        auth: this.auth,
        operations: this.operations,
        bus: this.bus,
        logger: this.logger,
        info: () => this.info(),
        get jobs() {
          return ready().jobs;
        },
        get devices() {
          return ready().devices;
        },
        get agents() {
          return ready().agents;
        },
        latestMetrics: () => this.metrics?.latest ?? null,
        brokerClients: () => this.mqtt?.brokerClients ?? null,
        uploadsDir,
        ingress: { enabled: s.ingress, proxy: s.ingressProxy, roles: s.ingressRoles },
      },
      s.httpHost,
      s.httpPort,
      VERSION,
    );
    const mqtt = this.mqtt;
    const broker: Extension = { name: 'mqtt broker', start: async () => void (await mqtt.listen()), stop: () => mqtt.stop() };
    // Order matters. The ports are bound first: one in use stops the hub before it touches an agent
    // (requests meanwhile get 503, until the managers have started). The hub's state
    // exists before it is published. MQTT connects last: at connect it clears the discovery of
    // things it does not know, and on stop `offline` is the first thing the world hears.
    // Jobs before tasks: interrupted jobs are marked before a catch-up run starts a new one.
    // Home Assistant before the managers: what they subscribe to is sent as soon as it connects,
    // and it stops after them, so the jobs they end are still reported.
    this.extensions = [this.http, broker, this.hubStatus, this.metrics, this.ha, this.agents, this.jobs, this.tasks, this.devices, this.mqtt];
    const started: Extension[] = [];
    try {
      for (const ext of this.extensions) {
        // Every manager runs: operations are served from here on, before MQTT says `online`, so
        // that what it announces can be acted on at once.
        if (ext === mqtt) this.context = context;
        await ext.start();
        started.push(ext);
      }
    } catch (e) {
      this.context = null;
      for (const ext of started.reverse()) await ext.stop().catch(() => undefined);
      throw e;
    }
    if (!s.mqttUrl && s.brokerAnonymous) {
      this.logger.warn(
        { host: s.brokerHost },
        'the embedded MQTT broker lets clients in without credentials (HEARTH_BROKER_ANONYMOUS=true), as operators: anyone who can reach it can start and stop agents and tasks and send device commands',
      );
    }
    this.logger.info(
      { node_id: s.nodeId, http: `http://${s.httpHost}:${this.httpAddress.port}`, broker: this.mqtt.brokerInfo, database: describeDatabase({ dataDir: s.dataDir, url: s.databaseUrl }) },
      'Hearth is running',
    );
  }

  /** Stops every extension and lets the data directory go (after a restart under way has ended). */
  async stop(): Promise<void> {
    await this.restartUnderWay?.catch(() => undefined);
    await this.stopExtensions();
    this.releaseLock();
  }

  private async stopExtensions(): Promise<void> {
    // From now on operations and streams answer 503, not half-stopped managers.
    this.context = null;
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

  /** Whether a restart in place is under way. */
  get restarting(): boolean {
    return this.restartUnderWay !== null;
  }

  /** Stops and starts every extension again in this process (the Restart button, SIGHUP); a second call joins the first. */
  async restart(): Promise<void> {
    if (this.restartUnderWay) return this.restartUnderWay;
    this.logger.info('restarting the hub');
    this.restartUnderWay = (async () => {
      await this.stopExtensions();
      await this.start();
    })().finally(() => (this.restartUnderWay = null));
    return this.restartUnderWay;
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
      home_assistant: this.ha?.info ?? { state: 'off', since: this.startedAt.toISOString() },
      base_topic: `${s.baseTopic}/${s.nodeId}`,
      discovery_prefix: s.discoveryPrefix,
      database: describeDatabase({ dataDir: s.dataDir, url: s.databaseUrl }),
      http: this.httpAddress,
      bridge_requests: this.operations.bridgePaths(),
    };
  }

  async health(): Promise<Health> {
    const s = this.settings;
    return checkHealth({ mqttConnected: this.mqtt?.connected === true, db: this.db, dataDir: s.dataDir, databaseUrl: s.databaseUrl });
  }
}
