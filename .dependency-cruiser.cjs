/**
 * The layers of Hearth, enforced by `npm test` (scripts/test.sh runs `npm run lint:layers`).
 * ARCHITECTURE.md ("Layers") says why each rule exists; a wrong import fails with the rule's name.
 */
/** Modules that do I/O: nothing pure may reach them. */
const IO = '^(node:)?(child_process|fs|fs/promises|net|dgram|http|https|tls|worker_threads|cluster)$';
const IO_PACKAGES = '^node_modules/(typeorm|better-sqlite3|pg|mqtt|aedes|fastify|@fastify|serialport|@serialport|modbus-serial|ws|pino|systeminformation|pidusage)/';
/** Modules that only declare: schemas, types, constants. Entities and the CLI may use them. */
const VOCABULARY = '^src/hub/[a-z0-9/-]*(schema|types|spec|statuses|secrets)[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'supervisor-is-the-kernel',
      comment:
        'src/hub/supervisor is the supervision kernel shared by agents and service apps: it depends on nothing above it (only on itself and the leaf modules errors.ts, logger.ts, mqtt-access.ts, ha-access.ts).',
      severity: 'error',
      from: { path: '^src/hub/supervisor/' },
      to: { path: '^src/', pathNot: ['^src/hub/supervisor/', '^src/hub/(errors|logger|mqtt-access|ha-access)\\.ts$'] },
    },
    {
      name: 'entities-are-pure',
      comment:
        'src/entities maps states to Home Assistant: pure functions. Of the core it takes types, and values only from vocabulary modules (schema.ts, types.ts, spec.ts, statuses.ts).',
      severity: 'error',
      from: { path: '^src/entities/' },
      to: { path: ['^src/', IO, IO_PACKAGES], pathNot: ['^src/entities/', VOCABULARY], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'vocabulary-is-pure',
      comment: 'Vocabulary modules (schema.ts, types.ts, spec.ts, statuses.ts) only declare: at run time they load nothing but other vocabulary and TypeBox.',
      severity: 'error',
      from: { path: VOCABULARY, pathNot: '^src/hub/db/' },
      to: { path: ['^src/', IO, IO_PACKAGES], pathNot: VOCABULARY, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'entities-know-no-bridge',
      comment: 'src/entities is below the bridges that use it.',
      severity: 'error',
      from: { path: '^src/entities/' },
      to: { path: '^src/(bridges|cli)/' },
    },
    {
      name: 'managers-never-import-bridges',
      comment: 'The core (src/hub) talks to the outside only through interfaces that hub.ts, the composition root, fills with bridges.',
      severity: 'error',
      from: { path: '^src/hub/', pathNot: '^src/hub/hub\\.ts$' },
      to: { path: '^src/bridges/' },
    },
    {
      name: 'edges-live-in-bridges',
      comment: 'Every edge to the outside world (HTTP, MQTT, device transports, Home Assistant) lives under src/bridges: the libraries that speak to it are imported there only.',
      severity: 'error',
      from: { path: '^src/hub/' },
      to: { path: '^node_modules/(fastify|@fastify|mqtt|aedes|serialport|@serialport|modbus-serial|home-assistant-js-websocket)/' },
    },
    {
      name: 'the-bus-is-a-leaf',
      comment: 'bus.ts is the lowest module of the core: the event types live in events.ts, and the bus imports nothing of the hub.',
      severity: 'error',
      from: { path: '^src/hub/bus\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'no-cycles',
      comment: 'Modules import each other one way (a cycle of types too: it ties the layers into one).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'the-cli-talks-http',
      comment: 'The hearth command talks to a running hub through its API; only `hearth start` loads the hub.',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: '^src/cli/commands/start\\.ts$' },
      to: { path: '^src/(hub|bridges)/', pathNot: ['^src/hub/operations/', VOCABULARY, '^src/hub/auth/admin-token[.]ts$', '^src/hub/version[.]ts$'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
