/**
 * A checker of Home Assistant MQTT device-based discovery messages, following Home Assistant's own
 * rules: the MQTT integration's discovery schemas (homeassistant/components/mqtt/schemas.py, const.py,
 * sensor.py) and the device class / unit tables of the entity docs (integrations/sensor, binary_sensor,
 * button, switch, number, event, update). Each rule broken is one sentence; [] means valid.
 */
import { AssertionError } from 'node:assert';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const nonEmptyStr = (v: unknown): v is string => isStr(v) && v.trim() !== '';
const strList = (v: unknown): string[] | null => (Array.isArray(v) && v.every(isStr) ? v : null);

// Home Assistant expands these abbreviations before validating, so the checker does too.
const ABBR: Record<string, string> = {
  dev: 'device', o: 'origin', cmps: 'components', p: 'platform', uniq_id: 'unique_id', obj_id: 'object_id',
  def_ent_id: 'default_entity_id', stat_t: 'state_topic', cmd_t: 'command_topic', val_tpl: 'value_template',
  cmd_tpl: 'command_template', dev_cla: 'device_class', stat_cla: 'state_class', unit_of_meas: 'unit_of_measurement',
  ent_cat: 'entity_category', avty: 'availability', avty_t: 'availability_topic', avty_mode: 'availability_mode',
  avty_tpl: 'availability_template', ops: 'options', evt_typ: 'event_types', l_ver_t: 'latest_version_topic',
  lrst_val_tpl: 'last_reset_value_template', t: 'topic', e: 'encoding', json_attr_t: 'json_attributes_topic',
  json_attr_tpl: 'json_attributes_template',
};
const DEVICE_ABBR: Record<string, string> = {
  ids: 'identifiers', cns: 'connections', mf: 'manufacturer', mdl: 'model', mdl_id: 'model_id', sw: 'sw_version',
  hw: 'hw_version', sn: 'serial_number', sa: 'suggested_area', cu: 'configuration_url',
};
const ORIGIN_ABBR: Record<string, string> = { sw: 'sw_version', url: 'support_url' };

/** The object with abbreviations expanded; a key given both ways is reported (HA keeps one silently). */
function expand(o: Obj, map: Record<string, string>, where: string, out: string[]): Obj {
  const r: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue; // as JSON would drop it
    const full = map[k] ?? k;
    if (full !== k && full in o) out.push(`${where} has both "${k}" and "${full}"; Home Assistant keeps only one.`);
    r[full] = v;
  }
  return r;
}

// mqtt/const.py SUPPORTED_COMPONENTS; ENTITY_PLATFORMS are those that need a unique_id in a device message.
const PLATFORMS = new Set(['alarm_control_panel', 'binary_sensor', 'button', 'camera', 'climate', 'cover', 'date',
  'datetime', 'device_automation', 'device_tracker', 'event', 'fan', 'humidifier', 'image', 'lawn_mower', 'light',
  'lock', 'notify', 'number', 'scene', 'siren', 'select', 'sensor', 'switch', 'tag', 'text', 'time', 'update',
  'vacuum', 'valve', 'water_heater']);
const NOT_ENTITIES = new Set(['device_automation', 'tag']);
// Options a device message may carry at its root for every component (mqtt/schemas.py SHARED_OPTIONS).
const SHARED = ['availability', 'availability_mode', 'availability_template', 'availability_topic', 'command_topic',
  'encoding', 'message_expiry_interval', 'payload_available', 'payload_not_available', 'state_topic', 'qos'];

// Sensor device classes and their units (docs: integrations/sensor, constants in homeassistant/const.py).
// '' = no unit allowed/needed; ANY = any unit but one is needed (ISO 4217 currency).
const ANY = ['*'];
const PRESSURE = ['mPa', 'Pa', 'hPa', 'kPa', 'bar', 'cbar', 'mbar', 'mmHg', 'inHg', 'inH₂O', 'psi'];
const ENERGY = ['J', 'kJ', 'MJ', 'GJ', 'mWh', 'Wh', 'kWh', 'MWh', 'GWh', 'TWh', 'cal', 'kcal', 'Mcal', 'Gcal'];
const VOLUME = ['L', 'mL', 'gal', 'fl. oz.', 'm³', 'ft³', 'CCF', 'MCF'];
const TEMP = ['°C', '°F', 'K'];
const UGM3 = ['µg/m³'];
const WIND = ['Beaufort', 'ft/s', 'km/h', 'kn', 'm/s', 'mph'];
export const SENSOR_UNITS: Record<string, string[]> = {
  date: [''], enum: [''], timestamp: [''], uptime: [''], aqi: [''], ph: [''], power_factor: ['%', ''], monetary: ANY,
  absolute_humidity: ['g/m³', 'mg/m³'], apparent_power: ['mVA', 'VA', 'kVA'],
  area: ['m²', 'cm²', 'km²', 'mm²', 'in²', 'ft²', 'yd²', 'mi²', 'ac', 'ha'], atmospheric_pressure: PRESSURE,
  battery: ['%'], blood_glucose_concentration: ['mg/dL', 'mmol/L'], carbon_dioxide: ['ppm'],
  carbon_monoxide: ['ppb', 'ppm', 'µg/m³', 'mg/m³'], conductivity: ['S/cm', 'mS/cm', 'µS/cm'], current: ['A', 'mA', 'µA'],
  data_rate: ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'B/s', 'kB/s', 'MB/s', 'GB/s', 'KiB/s', 'MiB/s', 'GiB/s'],
  data_size: ['bit', 'kbit', 'Mbit', 'Gbit', 'B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB', 'KiB', 'MiB', 'GiB',
    'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'],
  distance: ['km', 'm', 'cm', 'mm', 'mi', 'nmi', 'yd', 'ft', 'in'], duration: ['d', 'h', 'min', 's', 'ms', 'µs'],
  energy: ENERGY, energy_storage: ENERGY, energy_distance: ['kWh/100km', 'Wh/km', 'mi/kWh', 'km/kWh'],
  frequency: ['mHz', 'Hz', 'kHz', 'MHz', 'GHz'], gas: ['L', 'm³', 'ft³', 'CCF', 'MCF'], humidity: ['%'],
  illuminance: ['lx'], irradiance: ['W/m²', 'BTU/(h⋅ft²)'], moisture: ['%'], nitrogen_dioxide: ['ppb', 'ppm', 'µg/m³'],
  nitrogen_monoxide: ['ppb', 'µg/m³'], nitrous_oxide: UGM3, ozone: ['ppb', 'ppm', 'µg/m³'], pm1: UGM3, pm25: UGM3,
  pm4: UGM3, pm10: UGM3, power: ['mW', 'W', 'kW', 'MW', 'GW', 'TW'], precipitation: ['cm', 'in', 'mm'],
  precipitation_intensity: ['in/d', 'in/h', 'mm/d', 'mm/h'], pressure: PRESSURE, radon: ['Bq/m³', 'pCi/L'],
  reactive_energy: ['varh', 'kvarh'], reactive_power: ['mvar', 'var', 'kvar'], signal_strength: ['dB', 'dBm'],
  sound_pressure: ['dB', 'dBA'],
  speed: [...WIND, 'in/s', 'm/min', 'mm/s', 'in/d', 'in/h', 'mm/d', 'mm/h'], sulphur_dioxide: ['ppb', 'µg/m³'],
  temperature: TEMP, temperature_delta: TEMP, volatile_organic_compounds: ['µg/m³', 'mg/m³'],
  volatile_organic_compounds_parts: ['ppm', 'ppb'], voltage: ['V', 'mV', 'µV', 'kV', 'MV'], volume: VOLUME,
  volume_storage: VOLUME, volume_flow_rate: ['m³/h', 'm³/min', 'm³/s', 'ft³/min', 'L/h', 'L/min', 'L/s', 'gal/d',
    'gal/h', 'gal/min', 'mL/s'], water: ['L', 'gal', 'm³', 'ft³', 'CCF', 'MCF'],
  weight: ['kg', 'g', 'mg', 'µg', 'oz', 'lb', 'st'], wind_direction: ['°'], wind_speed: WIND,
};
// These hold text or dates, so Home Assistant refuses a unit or a state_class on them.
const NON_NUMERIC = new Set(['date', 'enum', 'timestamp', 'uptime']);
const STATE_CLASSES = ['measurement', 'measurement_angle', 'total', 'total_increasing'];
// State classes Home Assistant calls impossible for a device class (sensor/const.py); other numeric: measurement.
const TOTALS = ['total', 'total_increasing'];
const STATE_CLASS_OF: Record<string, string[]> = {
  area: STATE_CLASSES, data_size: STATE_CLASSES, distance: STATE_CLASSES, duration: STATE_CLASSES,
  precipitation: STATE_CLASSES, energy: TOTALS, gas: TOTALS, volume: TOTALS, water: TOTALS, reactive_energy: TOTALS,
  monetary: ['total'], weight: ['measurement', ...TOTALS], wind_direction: ['measurement_angle'],
};

const DEVICE_CLASSES: Record<string, Set<string>> = {
  sensor: new Set(Object.keys(SENSOR_UNITS)),
  number: new Set(Object.keys(SENSOR_UNITS).filter((c) => !NON_NUMERIC.has(c))),
  binary_sensor: new Set(['battery', 'battery_charging', 'carbon_monoxide', 'cold', 'connectivity', 'door',
    'garage_door', 'gas', 'heat', 'light', 'lock', 'moisture', 'motion', 'moving', 'occupancy', 'opening', 'plug',
    'power', 'presence', 'problem', 'running', 'safety', 'smoke', 'sound', 'tamper', 'update', 'vibration', 'window']),
  button: new Set(['identify', 'restart', 'update']),
  switch: new Set(['outlet', 'switch']),
  event: new Set(['button', 'doorbell', 'motion']),
  update: new Set(['firmware']),
};

const NEEDS_STATE = new Set(['sensor', 'binary_sensor', 'event']);
const NEEDS_COMMAND = new Set(['switch', 'button', 'select', 'number', 'text']);
const OBJECT_ID = /^[a-zA-Z0-9_-]+$/;
// homeassistant/core.py VALID_ENTITY_ID.
const ENTITY_ID = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;
// HA reads "µ" (micro sign) and "μ" (Greek mu) as the same unit.
const unitKey = (u: string): string => u.replace(/μ/g, 'µ');

function availabilityViolations(o: Obj, where: string, out: string[], exclusive = true): void {
  if (exclusive && 'availability' in o && 'availability_topic' in o) out.push(`${where} has both availability and availability_topic; Home Assistant allows one.`);
  if ('availability_topic' in o && !nonEmptyStr(o.availability_topic)) out.push(`${where} availability_topic must be a non-empty string.`);
  if ('availability' in o) {
    const list = Array.isArray(o.availability) ? o.availability : [o.availability];
    list.forEach((a, i) => {
      const e = isObj(a) ? expand(a, ABBR, `${where} availability[${i}]`, out) : null;
      if (!e || !nonEmptyStr(e.topic)) out.push(`${where} availability[${i}] must be an object with a topic.`);
    });
  }
  const mode = o.availability_mode;
  if (mode !== undefined && !['all', 'any', 'latest'].includes(String(mode))) out.push(`${where} availability_mode "${String(mode)}" is not all, any or latest.`);
}

function componentViolations(key: string, raw: unknown, root: Obj, deviceName: unknown, out: string[]): void {
  if (!OBJECT_ID.test(key)) out.push(`Component key "${key}" must match [a-zA-Z0-9_-]+.`);
  if (!isObj(raw)) return void out.push(`Component "${key}" must be an object.`);
  const c = expand(raw, ABBR, `Component "${key}"`, out);
  const p = c.platform;
  if (!isStr(p) || !PLATFORMS.has(p)) return void out.push(`Component "${key}" has platform ${JSON.stringify(p)}, not one of Home Assistant's MQTT platforms.`);
  const at = `Component "${key}" (${p})`;
  if (Object.keys(c).length === 1) return; // { p } alone: Home Assistant removes that entity.
  if (!NOT_ENTITIES.has(p) && !nonEmptyStr(c.unique_id)) out.push(`${at} has no unique_id (required in a device discovery message).`);
  if ('object_id' in c) out.push(`${at} uses object_id, which Home Assistant no longer reads; use default_entity_id.`);
  // Root options are inherited by a component that does not set them itself.
  const eff: Obj = { ...c };
  for (const k of SHARED) if (k in root && !(k in c)) eff[k] = root[k];
  if (NEEDS_STATE.has(p) && !nonEmptyStr(eff.state_topic)) out.push(`${at} needs a state_topic (on the component or at the message root).`);
  if (NEEDS_COMMAND.has(p) && !nonEmptyStr(eff.command_topic)) out.push(`${at} needs a command_topic (on the component or at the message root).`);
  if (isStr(eff.command_topic) && /[+#]/.test(eff.command_topic)) out.push(`${at} command_topic must not contain wildcards.`);
  if (p === 'update' && !nonEmptyStr(eff.state_topic) && !nonEmptyStr(c.latest_version_topic)) out.push(`${at} needs a state_topic or a latest_version_topic.`);
  if (!('availability' in eff) && !('availability_topic' in eff)) out.push(`${at} has no availability (neither on the component nor at the root).`);
  else if ('availability' in eff && 'availability_topic' in eff && !('availability' in root && 'availability_topic' in root)) {
    out.push(`${at} has both availability and availability_topic (with what it inherits from the root); Home Assistant allows one.`);
  }
  availabilityViolations(c, at, out, false); // the root's own were checked once, at the root

  const dc = c.device_class;
  const unit = isStr(c.unit_of_measurement) && c.unit_of_measurement.trim() !== '' ? unitKey(c.unit_of_measurement) : undefined;
  if (dc !== undefined && dc !== null) {
    const allowed = DEVICE_CLASSES[p];
    if (!allowed) out.push(`${at} cannot have a device_class (${p} has none).`);
    else if (!isStr(dc) || !allowed.has(dc)) out.push(`${at} device_class ${JSON.stringify(dc)} is not a ${p} device class.`);
  }
  const sensorClass = (p === 'sensor' || p === 'number') && isStr(dc) ? SENSOR_UNITS[dc] : undefined;
  if (sensorClass && sensorClass !== ANY) {
    if (unit !== undefined && !sensorClass.includes(unit)) out.push(`${at} unit_of_measurement "${unit}" is not valid for device_class ${String(dc)} (${sensorClass.filter(Boolean).join(', ') || 'no unit'}).`);
    if (p === 'sensor' && unit === undefined && !sensorClass.includes('')) out.push(`${at} has device_class ${String(dc)} but no unit_of_measurement (one of ${sensorClass.join(', ')}).`);
  }
  if (p === 'sensor' && sensorClass === ANY && unit === undefined) out.push(`${at} has device_class ${String(dc)} but no unit_of_measurement (a currency).`);

  const sc = c.state_class;
  if (sc !== undefined && sc !== null) {
    if (p !== 'sensor') out.push(`${at} has a state_class, which only sensors have.`);
    else if (!isStr(sc) || !STATE_CLASSES.includes(sc)) out.push(`${at} state_class ${JSON.stringify(sc)} is not one of ${STATE_CLASSES.join(', ')}.`);
    else if (isStr(dc) && NON_NUMERIC.has(dc)) out.push(`${at} has a state_class but its device_class ${dc} is not numeric.`);
    else {
      if (isStr(dc) && SENSOR_UNITS[dc] && !(STATE_CLASS_OF[dc] ?? ['measurement']).includes(sc)) out.push(`${at} state_class ${sc} is impossible for device_class ${dc}.`);
      if (sc === 'measurement_angle' && unit !== '°') out.push(`${at} state_class measurement_angle needs unit_of_measurement "°".`);
    }
  }
  if (p === 'sensor') {
    const opts = c.options;
    if (dc === 'enum' && !strList(opts)?.length) out.push(`${at} has device_class enum but no non-empty options list.`);
    if (opts !== undefined && dc !== 'enum') out.push(`${at} has options, which need device_class enum.`);
    if (opts !== undefined && (sc !== undefined || unit !== undefined)) out.push(`${at} has options together with state_class or unit_of_measurement.`);
    if ('last_reset_value_template' in c && sc !== 'total') out.push(`${at} has last_reset_value_template without state_class total.`);
  }
  if (p === 'select' && !(strList(c.options)?.length)) out.push(`${at} needs a non-empty options list of strings.`);
  if (p === 'event' && !(strList(c.event_types)?.length)) out.push(`${at} needs a non-empty event_types list of strings.`);
  if (p === 'number' && typeof c.min === 'number' && typeof c.max === 'number' && c.max <= c.min) out.push(`${at} max must be greater than min.`);

  const ec = c.entity_category;
  if (ec !== undefined && ec !== null) {
    if (ec !== 'config' && ec !== 'diagnostic') out.push(`${at} entity_category ${JSON.stringify(ec)} is not config or diagnostic.`);
    else if (ec === 'config' && (p === 'sensor' || p === 'binary_sensor')) out.push(`${at} has entity_category config, which Home Assistant refuses on ${p} (only on controls).`);
  }
  if ('default_entity_id' in c) {
    const id = c.default_entity_id;
    if (!isStr(id) || !ENTITY_ID.test(id)) out.push(`${at} default_entity_id ${JSON.stringify(id)} is not a valid entity id (<platform>.<object id>).`);
    else if (id.split('.')[0] !== p) out.push(`${at} default_entity_id "${id}" must start with "${p}.".`);
  }
  // has_entity_name naming: the entity's name is its own; the device's name is prefixed by HA.
  if ('name' in c) {
    const n = c.name;
    if (n !== null && !isStr(n)) out.push(`${at} name must be a string or null.`);
    else if (isStr(n) && nonEmptyStr(deviceName)) {
      const low = n.toLowerCase(), dn = deviceName.toLowerCase();
      if (low === dn || (low.startsWith(dn) && /[^\p{L}\p{N}]/u.test(low.charAt(dn.length)))) out.push(`${at} name "${n}" repeats the device name "${deviceName}" (use the field's own name, or null for the main entity).`);
    }
  }
  for (const [k, v] of Object.entries(c)) if (k.endsWith('_template') && !isStr(v)) out.push(`${at} ${k} must be a string.`);
}

/** Every Home Assistant rule the message breaks; an empty payload (removal) is valid. */
export function discoveryViolations(topic: string, payload: unknown, opts: { discoveryPrefix?: string } = {}): string[] {
  const out: string[] = [];
  const prefix = opts.discoveryPrefix ?? 'homeassistant';
  const m = topic.startsWith(`${prefix}/device/`) ? /^([^/]+)\/config$/.exec(topic.slice(prefix.length + 8)) : null;
  if (!m || !OBJECT_ID.test(m[1] ?? '')) out.push(`Topic "${topic}" is not ${prefix}/device/<object_id>/config with object_id [a-zA-Z0-9_-]+.`);
  let body: unknown = payload;
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (body === undefined || body === null || body === '') return out; // removal of the whole device
  if (isStr(body)) {
    try {
      body = JSON.parse(body);
    } catch {
      return [...out, 'Payload is not valid JSON.'];
    }
  }
  if (!isObj(body)) return [...out, 'Payload must be a JSON object.'];
  const root = expand(body, ABBR, 'Message', out);

  const dev = isObj(root.device) ? expand(root.device, DEVICE_ABBR, 'Device', out) : null;
  if (!dev) out.push('Message has no device (dev) object.');
  else {
    const ids = isStr(dev.identifiers) ? [dev.identifiers] : strList(dev.identifiers);
    const cns = Array.isArray(dev.connections) && dev.connections.every((x) => strList(x)?.length === 2) ? dev.connections : null;
    if (!ids?.some(nonEmptyStr) && !cns?.length) out.push('Device needs non-empty identifiers (or connections).');
    if (!nonEmptyStr(dev.name)) out.push('Device needs a name.');
    for (const k of ['manufacturer', 'model', 'sw_version', 'hw_version', 'via_device', 'suggested_area']) {
      if (k in dev && !isStr(dev[k])) out.push(`Device ${k} must be a string.`);
    }
  }
  const origin = isObj(root.origin) ? expand(root.origin, ORIGIN_ABBR, 'Origin', out) : null;
  if (!origin) out.push('Message has no origin (o) object.');
  else {
    if (!nonEmptyStr(origin.name)) out.push('Origin needs a name.');
    if (!nonEmptyStr(origin.sw_version)) out.push('Origin should carry sw (sw_version).');
    if ('support_url' in origin && !(isStr(origin.support_url) && /^https?:\/\/\S+$/.test(origin.support_url))) out.push('Origin support_url must be an http(s) URL.');
  }
  availabilityViolations(root, 'Message', out);
  if ('qos' in root && ![0, 1, 2].includes(Number(root.qos))) out.push('Message qos must be 0, 1 or 2.');
  if (!isObj(root.components)) out.push('Message has no components (cmps) object.');
  else for (const [key, c] of Object.entries(root.components)) componentViolations(key, c, root, dev?.name, out);
  return out;
}

/** Checks messages as Home Assistant would receive them, one after another: unique_id is unique across devices. */
export class DiscoveryRegistry {
  /** unique_id -> the discovery topic (device) that owns it. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly opts: { discoveryPrefix?: string } = {}) {}

  add(topic: string, payload: unknown): string[] {
    const out = discoveryViolations(topic, payload, this.opts);
    // Re-publishing a device replaces its components: release what it owned first.
    for (const [id, t] of this.owners) if (t === topic) this.owners.delete(id);
    let body: unknown = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
    if (isStr(body) && body !== '') {
      try {
        body = JSON.parse(body);
      } catch {
        return out;
      }
    }
    if (!isObj(body)) return out;
    const cmps = body.cmps ?? body.components;
    if (!isObj(cmps)) return out;
    for (const [key, c] of Object.entries(cmps)) {
      if (!isObj(c)) continue;
      const id = c.unique_id ?? c.uniq_id;
      if (!isStr(id)) continue;
      const owner = this.owners.get(id);
      if (owner === undefined) this.owners.set(id, topic);
      else if (owner === topic) out.push(`Component "${key}" repeats unique_id "${id}" within the same message.`);
      else out.push(`Component "${key}" has unique_id "${id}", already used by the device at ${owner}.`);
    }
    return out;
  }

  assertValid(topic: string, payload: unknown): void {
    const v = this.add(topic, payload);
    if (v.length > 0) {
      throw new AssertionError({ message: `Discovery message on ${topic} breaks Home Assistant's rules:\n- ${v.join('\n- ')}`, actual: v, expected: [], operator: 'discoveryViolations' });
    }
  }
}

/**
 * Renders a Home Assistant template as Home Assistant would for the expressions discovery uses here:
 * `{{ … }}` with `value_json` (attributes, ['keys']), string/number/None/true/false/list/dict
 * literals, `a if c else b`, `or`, `and`, `not`, `in`, `==`, `!=`, `is (not) none`, `is (not) defined`,
 * arithmetic, and the filters `round(n)` and `tojson`. Anything else throws, so a template the
 * hub starts using beyond this is noticed, never rendered wrong. Text outside `{{ }}` is kept.
 */
export function renderTemplate(template: string, valueJson: unknown, value?: string): string {
  return template.replace(/\{\{(.*?)\}\}/gs, (_, expr: string) => show(new Expr(expr, { value_json: valueJson, value }).parse()));
}

const UNDEFINED = Symbol('undefined');

/** Jinja's text for a value: None as "None", booleans as Python writes them. */
function show(v: unknown): string {
  if (v === null || v === UNDEFINED) return v === null ? 'None' : '';
  if (v === true || v === false) return v ? 'True' : 'False';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

class Expr {
  private readonly toks: string[];
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly vars: Record<string, unknown>,
  ) {
    this.toks = src.match(/\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\d+(?:\.\d+)?|[A-Za-z_]\w*|==|!=|<=|>=|\S)/g)?.map((t) => t.trim()) ?? [];
  }
  parse(): unknown {
    const v = this.cond();
    if (this.i < this.toks.length) this.fail(`unexpected "${this.toks[this.i]}"`);
    return v;
  }
  private fail(why: string): never {
    throw new Error(`template {{${this.src}}}: ${why} (this evaluator knows a subset of Jinja)`);
  }
  private peek(): string | undefined {
    return this.toks[this.i];
  }
  private eat(t?: string): string {
    const got = this.toks[this.i++];
    if (got === undefined || (t !== undefined && got !== t)) this.fail(`expected ${t ?? 'more'}, got ${got ?? 'the end'}`);
    return got;
  }
  private cond(): unknown {
    const then = this.or();
    if (this.peek() !== 'if') return then;
    this.eat('if');
    const test = this.or();
    this.eat('else');
    const otherwise = this.cond();
    return truthy(test) ? then : otherwise;
  }
  private or(): unknown {
    let v = this.and();
    while (this.peek() === 'or') {
      this.eat();
      const r = this.and();
      v = truthy(v) ? v : r;
    }
    return v;
  }
  private and(): unknown {
    let v = this.not();
    while (this.peek() === 'and') {
      this.eat();
      const r = this.not();
      v = truthy(v) ? r : v;
    }
    return v;
  }
  private not(): unknown {
    if (this.peek() !== 'not') return this.compare();
    this.eat();
    return !truthy(this.not());
  }
  private compare(): unknown {
    const l = this.sum();
    const op = this.peek();
    if (op === 'is') {
      this.eat();
      const neg = this.peek() === 'not' ? (this.eat(), true) : false;
      const test = this.eat();
      const r = test === 'none' ? l === null : test === 'defined' ? l !== UNDEFINED : this.fail(`unknown test "${test}"`);
      return neg ? !r : r;
    }
    if (op === 'in' || (op === 'not' && this.toks[this.i + 1] === 'in')) {
      if (op === 'not') this.eat();
      this.eat('in');
      const r = this.sum();
      const found = Array.isArray(r) ? r.includes(l) : typeof r === 'string' ? r.includes(String(l)) : this.fail('"in" needs a list or text');
      return op === 'not' ? !found : found;
    }
    if (op === '==' || op === '!=') {
      this.eat();
      const eq = JSON.stringify(l) === JSON.stringify(this.sum());
      return op === '==' ? eq : !eq;
    }
    return l;
  }
  private sum(): unknown {
    let v = this.product();
    while (this.peek() === '+' || this.peek() === '-') {
      const op = this.eat();
      const r = this.product();
      v = op === '+' ? (typeof v === 'string' ? v + String(r) : num(v) + num(r)) : num(v) - num(r);
    }
    return v;
  }
  private product(): unknown {
    let v = this.filtered();
    while (this.peek() === '*' || this.peek() === '/') {
      const op = this.eat();
      const r = this.filtered();
      v = op === '*' ? num(v) * num(r) : num(v) / num(r);
    }
    return v;
  }
  private filtered(): unknown {
    let v = this.primary();
    while (this.peek() === '|') {
      this.eat();
      const name = this.eat();
      const args: unknown[] = [];
      if (this.peek() === '(') {
        this.eat('(');
        while (this.peek() !== ')') {
          args.push(this.cond());
          if (this.peek() === ',') this.eat();
        }
        this.eat(')');
      }
      if (name === 'round') {
        const f = 10 ** Number(args[0] ?? 0);
        v = Math.round(num(v) * f) / f;
      } else if (name === 'tojson') v = JSON.stringify(v === UNDEFINED ? null : v);
      else this.fail(`unknown filter "${name}"`);
    }
    return v;
  }
  private primary(): unknown {
    const t = this.eat();
    let v: unknown;
    if (t === '(') {
      v = this.cond();
      this.eat(')');
    } else if (t === '[') {
      const list: unknown[] = [];
      while (this.peek() !== ']') {
        list.push(this.cond());
        if (this.peek() === ',') this.eat();
      }
      this.eat(']');
      v = list;
    } else if (t === '{') {
      const o: Record<string, unknown> = {};
      while (this.peek() !== '}') {
        const k = this.primary();
        this.eat(':');
        o[String(k)] = noUndefined(this.cond());
        if (this.peek() === ',') this.eat();
      }
      this.eat('}');
      v = o;
    } else if (/^['"]/.test(t)) v = JSON.parse(t[0] === '"' ? t : `"${t.slice(1, -1).replace(/"/g, '\\"').replace(/\\'/g, "'")}"`);
    else if (/^\d/.test(t)) v = Number(t);
    else if (t === 'None' || t === 'none') v = null;
    else if (t === 'True' || t === 'true') v = true;
    else if (t === 'False' || t === 'false') v = false;
    else if (/^[A-Za-z_]/.test(t)) v = t in this.vars ? this.vars[t] : UNDEFINED;
    else this.fail(`unexpected "${t}"`);
    for (;;) {
      if (this.peek() === '.') {
        this.eat();
        v = member(v, this.eat());
      } else if (this.peek() === '[' && typeof v === 'object') {
        this.eat('[');
        const k = this.cond();
        this.eat(']');
        v = member(v, String(k));
      } else return v;
    }
  }
}

function member(v: unknown, key: string): unknown {
  if (typeof v !== 'object' || v === null || !(key in v)) return UNDEFINED;
  return (v as Record<string, unknown>)[key];
}
const noUndefined = (v: unknown): unknown => (v === UNDEFINED ? null : v);
function truthy(v: unknown): boolean {
  if (v === UNDEFINED || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}
function num(v: unknown): number {
  if (typeof v !== 'number') throw new Error(`template: ${show(v)} is not a number`);
  return v;
}
