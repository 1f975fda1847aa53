/**
 * GET /metrics: the hub in Prometheus' text format (host, agents, jobs, devices, broker), for people
 * who already run Prometheus or Grafana. Behind the API's auth like every route; any role may read it.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AgentState } from '../../../hub/agents/state.js';
import type { DeviceState } from '../../../hub/devices/state.js';
import { HA_STATES } from '../../../hub/ha-types.js';
import type { HubInfo } from '../../../hub/info.js';
import { JOB_KINDS, JOB_STATUSES, type JobKind, type JobStatus } from '../../../hub/jobs/types.js';
import type { HostMetrics } from '../../../hub/metrics/types.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus, type MetricFamily, type Sample } from '../prometheus.js';

/** What the page is made of, read from the hub at each scrape. */
export interface MetricsInput {
  info: Pick<HubInfo, 'version' | 'node_id' | 'started_at' | 'broker' | 'home_assistant'>;
  /** Null until the first sample. */
  host: HostMetrics | null;
  agents: ReadonlyArray<Pick<AgentState, 'id' | 'name' | 'type' | 'status' | 'restarts' | 'cpu_percent' | 'memory_bytes' | 'instances' | 'instances_running' | 'health'>>;
  devices: ReadonlyArray<Pick<DeviceState, 'id' | 'connected'>>;
  jobsRunning: Readonly<Record<JobKind, number>>;
  jobsByStatus: Readonly<Record<JobStatus, number>>;
  /** The embedded broker's clients; null on an external broker. */
  brokerClients: number | null;
}

const seconds = (iso: string): number => Date.parse(iso) / 1000;
const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, help, type: 'gauge', samples });
const one = (value: number): Sample[] => [{ value }];

function hostFamilies(m: HostMetrics): MetricFamily[] {
  const disk = (d: HostMetrics['disks'][number]) => ({ mount: d.mount, type: d.type });
  return [
    gauge('hearth_host_cpu_percent', 'CPU in use on the host, 0-100', one(m.cpu_percent)),
    gauge('hearth_host_load_1', 'Load average over 1 minute', one(m.load_1)),
    gauge('hearth_host_load_5', 'Load average over 5 minutes', one(m.load_5)),
    gauge('hearth_host_load_15', 'Load average over 15 minutes', one(m.load_15)),
    gauge('hearth_host_memory_used_bytes', 'Memory in use on the host', one(m.memory_used_bytes)),
    gauge('hearth_host_memory_total_bytes', 'Memory the host has', one(m.memory_total_bytes)),
    gauge('hearth_host_swap_total_bytes', 'Swap the host has', one(m.swap_total_bytes)),
    gauge('hearth_host_disk_size_bytes', 'Size of a mounted filesystem', m.disks.map((d) => ({ labels: disk(d), value: d.size_bytes }))),
    gauge('hearth_host_disk_used_bytes', 'Space used on a mounted filesystem', m.disks.map((d) => ({ labels: disk(d), value: d.used_bytes }))),
    gauge('hearth_host_temperature_celsius', 'A temperature sensor of the host', m.temperatures.map((t) => ({ labels: { sensor: t.name }, value: t.celsius }))),
    gauge('hearth_host_network_receive_bytes_per_second', 'Bytes received per second over the sampled interfaces', one(m.network_rx_bytes_per_s)),
    gauge('hearth_host_network_transmit_bytes_per_second', 'Bytes sent per second over the sampled interfaces', one(m.network_tx_bytes_per_s)),
    gauge('hearth_host_boot_time_seconds', 'When the host booted (Unix time)', one(seconds(m.booted_at))),
  ];
}

/** The page's families, from what the hub answers; pure, so the format can be tested without a hub. */
export function hubMetricFamilies(i: MetricsInput): MetricFamily[] {
  const per = <T extends { id: string }>(things: readonly T[], label: string, value: (t: T) => number | null): Sample[] =>
    things.flatMap((t) => {
      const v = value(t);
      return v === null ? [] : [{ labels: { [label]: t.id }, value: v }];
    });
  const { agents, devices } = i;
  return [
    gauge('hearth_info', 'The hub: its version and node id', [{ labels: { version: i.info.version, node_id: i.info.node_id }, value: 1 }]),
    gauge('hearth_start_time_seconds', 'When the hub started (Unix time)', one(seconds(i.info.started_at))),
    ...(i.host ? hostFamilies(i.host) : []),
    gauge('hearth_agent_info', 'An agent: its name and type (join on agent)', agents.map((a) => ({ labels: { agent: a.id, name: a.name, type: a.type }, value: 1 }))),
    gauge('hearth_agent_up', '1 while the agent is running, else 0', per(agents, 'agent', (a) => (a.status === 'running' ? 1 : 0))),
    { name: 'hearth_agent_restarts_total', help: 'Restarts of the agent', type: 'counter', samples: per(agents, 'agent', (a) => a.restarts) },
    gauge('hearth_agent_cpu_percent', 'CPU the agent uses, summed over its instances (100 is one core)', per(agents, 'agent', (a) => a.cpu_percent)),
    gauge('hearth_agent_memory_bytes', 'Memory the agent uses, summed over its instances', per(agents, 'agent', (a) => a.memory_bytes)),
    gauge('hearth_agent_instances', 'Copies of the agent it should run', per(agents, 'agent', (a) => a.instances)),
    gauge('hearth_agent_instances_running', 'Copies of the agent running', per(agents, 'agent', (a) => a.instances_running)),
    gauge('hearth_agent_health', 'The agent health score, 0-100', per(agents, 'agent', (a) => a.health)),
    gauge('hearth_jobs_running', 'Jobs running now, by kind', JOB_KINDS.map((kind) => ({ labels: { kind }, value: i.jobsRunning[kind] }))),
    gauge('hearth_jobs', 'Jobs on record (as retention keeps them), by status', JOB_STATUSES.map((status) => ({ labels: { status }, value: i.jobsByStatus[status] }))),
    gauge('hearth_device_connected', '1 while the device is connected, else 0', per(devices, 'device', (d) => (d.connected ? 1 : 0))),
    gauge('hearth_mqtt_connected', "1 while the hub is connected to its MQTT broker (embedded or external)", [{ labels: { mode: i.info.broker.mode }, value: i.info.broker.connected ? 1 : 0 }]),
    gauge('hearth_mqtt_broker_clients', 'Clients connected to the embedded broker, the hub included (none on an external broker)', i.brokerClients === null ? [] : one(i.brokerClients)),
    // One series per state, as for jobs: a label whose value changes would start a new series each time.
    gauge('hearth_home_assistant_state', "The Home Assistant WebSocket bridge's state: 1 for the state it is in, 0 for the others", HA_STATES.map((state) => ({ labels: { state }, value: i.info.home_assistant.state === state ? 1 : 0 }))),
  ];
}

const Text = { description: "Prometheus' text exposition format 0.0.4", content: { 'text/plain': { schema: Type.String() } } };

export async function metricsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/metrics', { schema: { tags: ['hub'], summary: 'The hub for Prometheus (text format 0.0.4)', response: { 200: Text, 401: ErrorBody, 503: ErrorBody } } }, async (_req, reply) => {
    const agents = ctx.agents.list();
    const host = ctx.latestMetrics();
    const running = await ctx.jobs.list({ status: 'running', limit: 1000 });
    const jobsRunning = Object.fromEntries(JOB_KINDS.map((k) => [k, running.filter((j) => j.kind === k).length])) as Record<JobKind, number>;
    const jobsByStatus = await ctx.jobs.countByStatus();
    const page = renderPrometheus(hubMetricFamilies({ info: ctx.info(), host, agents, devices: ctx.devices.list(), jobsRunning, jobsByStatus, brokerClients: ctx.brokerClients() }));
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(page);
  });
}
