/** The Home Assistant discovery checker must accept a valid message and catch every rule, one break at a time. */
import assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import { describe, it } from 'node:test';
import { DiscoveryRegistry, discoveryViolations, renderTemplate } from './helpers/ha-rules.js';

type Obj = Record<string, unknown>;
const TOPIC = 'homeassistant/device/garage_1/config';

const root = (): Obj => ({
  dev: { ids: ['garage_1'], name: 'Garage', mf: 'Hearth', mdl: 'Device' },
  o: { name: 'Hearth', sw: '1.0.0', url: 'https://example.org/hearth' },
  state_topic: 'hearth/n1/device/garage/state',
  availability: [{ topic: 'hearth/n1/bridge/state' }],
  qos: 1,
  cmps: {},
});

/** One valid component of each platform Hearth uses. */
const components = (): Record<string, Obj> => ({
  temperature: { p: 'sensor', unique_id: 'g_temperature', name: 'Temperature', default_entity_id: 'sensor.g_temperature', device_class: 'temperature', unit_of_measurement: '°C', state_class: 'measurement', value_template: '{{ value_json.t }}' },
  status: { p: 'sensor', unique_id: 'g_status', name: 'Status', device_class: 'enum', options: ['running', 'stopped'] },
  started: { p: 'sensor', unique_id: 'g_started', name: 'Started at', device_class: 'timestamp' },
  restarts: { p: 'sensor', unique_id: 'g_restarts', name: 'Restarts', state_class: 'total_increasing', entity_category: 'diagnostic' },
  connected: { p: 'binary_sensor', unique_id: 'g_connected', name: null, device_class: 'connectivity' },
  running: { p: 'switch', unique_id: 'g_running', name: 'Running', command_topic: 'hearth/n1/device/garage/set', entity_category: 'config' },
  restart: { p: 'button', unique_id: 'g_restart', name: 'Restart', device_class: 'restart', command_topic: 'hearth/n1/device/garage/restart' },
  mode: { p: 'select', unique_id: 'g_mode', name: 'Mode', options: ['a', 'b'], command_topic: 'hearth/n1/device/garage/mode', command_template: '{"mode": "{{ value }}"}' },
  setpoint: { p: 'number', unique_id: 'g_setpoint', name: 'Setpoint', device_class: 'temperature', unit_of_measurement: '°C', min: 5, max: 30, command_topic: 'hearth/n1/device/garage/setpoint' },
  command: { p: 'text', unique_id: 'g_command', name: 'Command', command_topic: 'hearth/n1/device/garage/command' },
  run: { p: 'event', unique_id: 'g_run', name: 'Run', event_types: ['started', 'finished'], state_topic: 'hearth/n1/task/garage/event' },
  firmware: { p: 'update', unique_id: 'g_firmware', name: 'Firmware', device_class: 'firmware', latest_version_topic: 'hearth/n1/device/garage/latest' },
});
const full = (): Obj => ({ ...root(), cmps: components() });
/** A message holding just this component (plus the usual root). */
const one = (c: Obj, extraRoot: Obj = {}, key = 'field'): Obj => ({ ...root(), ...extraRoot, cmps: { [key]: c } });
const sensor = (extra: Obj = {}): Obj => ({ p: 'sensor', unique_id: 'g_field', name: 'Field', ...extra });

/** Exactly one violation, naming the component key (when given) and matching the rule. */
function assertOnly(v: string[], pattern: RegExp, key?: string): void {
  assert.equal(v.length, 1, `expected one violation matching ${pattern}, got:\n${v.join('\n')}`);
  assert.match(v[0] ?? '', pattern);
  if (key !== undefined) assert.ok(v[0]?.includes(`"${key}"`), `violation should name "${key}": ${v[0]}`);
}
const check = (msg: unknown, topic = TOPIC): string[] => discoveryViolations(topic, msg);
const without = (o: Obj, k: string): Obj => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));

describe('valid messages', () => {
  it('accepts a message with one component of every platform, as an object and as JSON text', () => {
    assert.deepEqual(check(full()), []);
    assert.deepEqual(check(JSON.stringify(full())), []);
    assert.deepEqual(check(Buffer.from(JSON.stringify(full()))), []);
  });
  it('accepts full key names instead of abbreviations', () => {
    const { dev: _dev, o: _o, cmps, ...rest } = full();
    const long = { ...rest, device: { identifiers: ['x'], name: 'Garage' }, origin: { name: 'Hearth', sw_version: '1', support_url: 'https://x.org' }, components: cmps };
    assert.deepEqual(check(long), []);
    assert.deepEqual(check(one({ platform: 'sensor', uniq_id: 'u', stat_t: 's/t', dev_cla: 'humidity', unit_of_meas: '%' })), []);
  });
  it('accepts an empty payload (the device is removed)', () => {
    assert.deepEqual(check(''), []);
    assert.deepEqual(check(Buffer.alloc(0)), []);
    assert.deepEqual(check(null), []);
  });
  it('accepts a component that is only { p } (that entity is removed)', () => {
    assert.deepEqual(check(one({ p: 'sensor' })), []);
  });
  it('accepts a custom discovery prefix', () => {
    assert.deepEqual(discoveryViolations('ha/device/garage_1/config', full(), { discoveryPrefix: 'ha' }), []);
  });
});

describe('topic', () => {
  it('must be <prefix>/device/<object_id>/config', () => {
    assertOnly(check(full(), 'homeassistant/sensor/garage_1/config'), /Topic/);
    assertOnly(check(full(), 'homeassistant/device/garage_1/state'), /Topic/);
    assertOnly(check(full(), 'other/device/garage_1/config'), /Topic/);
    assertOnly(check(full(), 'homeassistant/device/garage/1/config'), /Topic/);
  });
  it('object_id must be [a-zA-Z0-9_-]+', () => {
    assertOnly(check(full(), 'homeassistant/device/garage.1/config'), /object_id/);
    assertOnly(check(full(), 'homeassistant/device//config'), /object_id/);
  });
  it('is checked on removals too', () => {
    assertOnly(check('', 'homeassistant/device/a b/config'), /Topic/);
  });
});

describe('device and origin', () => {
  it('needs dev', () => assertOnly(check(without(full(), 'dev')), /no device/));
  it('needs identifiers (or connections)', () => {
    assertOnly(check({ ...full(), dev: { ids: [], name: 'Garage' } }), /identifiers/);
    assertOnly(check({ ...full(), dev: { name: 'Garage' } }), /identifiers/);
    assert.deepEqual(check({ ...full(), dev: { cns: [['mac', '00:11:22:33:44:55']], name: 'Garage' } }), []);
  });
  it('needs a device name', () => assertOnly(check({ ...full(), dev: { ids: ['x'] } }), /Device needs a name/));
  it('needs o with a name and sw', () => {
    assertOnly(check(without(full(), 'o')), /no origin/);
    assertOnly(check({ ...full(), o: { sw: '1' } }), /Origin needs a name/);
    assertOnly(check({ ...full(), o: { name: 'Hearth' } }), /sw_version/);
    assertOnly(check({ ...full(), o: { name: 'Hearth', sw: '1', url: 'not a url' } }), /support_url/);
  });
  it('reports a key given both abbreviated and in full', () => {
    assertOnly(check({ ...full(), device: { ids: ['x'], name: 'Garage' } }), /both "dev" and "device"/);
  });
  it('payload must be a JSON object', () => {
    assertOnly(check('{not json'), /JSON/);
    assertOnly(check('[1]'), /object/);
  });
});

describe('components', () => {
  it('needs cmps', () => assertOnly(check(without(full(), 'cmps')), /no components/));
  it('keys must be [a-zA-Z0-9_-]+', () => assertOnly(check(one(sensor(), {}, 'bad key')), /"bad key" must match/));
  it('needs a platform from Home Assistant MQTT platforms', () => {
    assertOnly(check(one({ unique_id: 'u', name: 'X' })), /platform/, 'field');
    assertOnly(check(one({ p: 'thermostat', unique_id: 'u' })), /platform "thermostat"/, 'field');
  });
  it('an entity needs unique_id unless it is a removal', () => {
    assertOnly(check(one(without(sensor(), 'unique_id'))), /no unique_id/, 'field');
    assertOnly(check(one(sensor({ unique_id: '  ' }))), /no unique_id/, 'field');
  });
  it('sensor, binary_sensor and event need a state_topic (component or root)', () => {
    for (const c of [sensor(), { p: 'binary_sensor', unique_id: 'u' }, { p: 'event', unique_id: 'u', event_types: ['x'] }]) {
      assertOnly(check(one(c, { state_topic: undefined })), /needs a state_topic/, 'field');
      assert.deepEqual(check({ ...one(c, { state_topic: undefined }), cmps: { field: { ...c, stat_t: 'own/topic' } } }), []);
    }
  });
  it('switch, button, select, number and text need a command_topic (component or root)', () => {
    const cs = components();
    for (const k of ['running', 'restart', 'mode', 'setpoint', 'command']) {
      const c = without(cs[k] ?? {}, 'command_topic');
      assertOnly(check(one(c, {}, k)), /needs a command_topic/, k);
      assert.deepEqual(check(one(c, { command_topic: 'root/cmd' }, k)), [], `${k} with the root's command_topic`);
    }
    assertOnly(check(one({ ...cs.running, command_topic: 'a/+/set' }, {}, 'running')), /wildcards/, 'running');
  });
  it('select needs non-empty options; event needs event_types; update needs a state or latest version topic', () => {
    const cs = components();
    assertOnly(check(one({ ...cs.mode, options: [] }, {}, 'mode')), /options/, 'mode');
    assertOnly(check(one(without(cs.mode ?? {}, 'options'), {}, 'mode')), /options/, 'mode');
    assertOnly(check(one(without(cs.run ?? {}, 'event_types'), {}, 'run')), /event_types/, 'run');
    assertOnly(check(one(without(cs.firmware ?? {}, 'latest_version_topic'), { state_topic: undefined }, 'firmware')), /latest_version_topic/, 'firmware');
  });
  it('number max must be greater than min', () => {
    assertOnly(check(one({ ...components().setpoint, min: 30, max: 5 }, {}, 'setpoint')), /max must be greater/, 'setpoint');
  });
});

describe('availability', () => {
  it('every component has availability, on itself or at the root', () => {
    assertOnly(check(one(sensor(), { availability: undefined })), /no availability/, 'field');
    assert.deepEqual(check(one(sensor({ availability_topic: 'own/avail' }), { availability: undefined })), []);
    assert.deepEqual(check(one(sensor({ avty: [{ t: 'own/avail' }] }), { availability: undefined })), []);
  });
  it('availability entries need a topic, and availability_topic excludes availability', () => {
    assertOnly(check(one(sensor(), { availability: [{ payload_available: 'online' }] })), /Message availability\[0\] must be an object with a topic/);
    assertOnly(check(one(sensor({ availability: [{ topic: '' }] }), { availability: undefined })), /availability\[0\] must be an object with a topic/, 'field');
    assertOnly(check(one(sensor({ availability_topic: 'own/avail' }))), /both availability and availability_topic/, 'field');
  });
  it('availability_mode is all, any or latest', () => {
    const v = check(one(sensor(), { availability_mode: 'most' }));
    assert.ok(v.length >= 1 && v.every((s) => /availability_mode "most"/.test(s)), v.join('\n'));
  });
});

describe('device classes and units', () => {
  it('device_class must belong to the platform', () => {
    const cases: [Obj, string][] = [
      [sensor({ device_class: 'bogus' }), 'sensor'],
      [{ p: 'binary_sensor', unique_id: 'u', device_class: 'temperature' }, 'binary_sensor'],
      [{ p: 'button', unique_id: 'u', command_topic: 'c', device_class: 'power' }, 'button'],
      [{ p: 'switch', unique_id: 'u', command_topic: 'c', device_class: 'door' }, 'switch'],
      [{ p: 'number', unique_id: 'u', command_topic: 'c', device_class: 'timestamp' }, 'number'],
      [{ p: 'event', unique_id: 'u', event_types: ['x'], device_class: 'ring' }, 'event'],
      [{ p: 'update', unique_id: 'u', device_class: 'software' }, 'update'],
      [{ p: 'select', unique_id: 'u', command_topic: 'c', options: ['a'], device_class: 'enum' }, 'select'],
    ];
    for (const [c, p] of cases) assertOnly(check(one(c)), new RegExp(`device_class|${p} has none`), 'field');
    for (const [p, dc] of [['binary_sensor', 'problem'], ['button', 'identify'], ['switch', 'outlet'], ['event', 'doorbell'], ['update', 'firmware']]) {
      const c: Obj = { p, unique_id: 'u', device_class: dc, command_topic: 'c', event_types: ['x'] };
      assert.deepEqual(check(one(c)), [], `${p} ${dc}`);
    }
  });
  it('accepts every documented unit of the common sensor classes', () => {
    const ok: [string, string][] = [
      ['temperature', '°C'], ['temperature', '°F'], ['temperature', 'K'], ['data_size', 'MiB'], ['data_size', 'GB'],
      ['data_rate', 'kB/s'], ['data_rate', 'Mbit/s'], ['duration', 's'], ['duration', 'min'], ['duration', 'μs'],
      ['power', 'W'], ['power', 'kW'], ['energy', 'kWh'], ['voltage', 'V'], ['current', 'A'], ['frequency', 'Hz'],
      ['humidity', '%'], ['battery', '%'], ['pressure', 'hPa'], ['signal_strength', 'dBm'], ['monetary', 'EUR'],
    ];
    for (const [dc, u] of ok) assert.deepEqual(check(one(sensor({ device_class: dc, unit_of_measurement: u }))), [], `${dc} in ${u}`);
    assert.deepEqual(check(one(sensor({ device_class: 'power_factor' }))), [], 'power_factor may be unitless');
  });
  it('reports a unit the device class does not allow', () => {
    for (const [dc, u] of [['temperature', 'C'], ['humidity', 'ppm'], ['data_size', 'MiB/s'], ['data_rate', 'MiB'], ['battery', 'V'], ['duration', 'sec']]) {
      assertOnly(check(one(sensor({ device_class: dc, unit_of_measurement: u }))), /is not valid for device_class/, 'field');
    }
    assertOnly(check(one(sensor({ device_class: 'timestamp', unit_of_measurement: 's' }))), /not valid for device_class timestamp/, 'field');
    assertOnly(check(one({ ...components().setpoint, unit_of_measurement: '%' }, {}, 'setpoint')), /not valid for device_class temperature/, 'setpoint');
  });
  it('reports a sensor device class without its unit', () => {
    for (const dc of ['temperature', 'data_size', 'data_rate', 'duration', 'power', 'energy', 'voltage', 'current', 'frequency', 'humidity', 'battery', 'monetary']) {
      assertOnly(check(one(sensor({ device_class: dc }))), /no unit_of_measurement/, 'field');
    }
    assertOnly(check(one(sensor({ device_class: 'temperature', unit_of_measurement: ' ' }))), /no unit_of_measurement/, 'field');
  });
  it('enum needs options, and options need enum without unit or state_class', () => {
    assertOnly(check(one(sensor({ device_class: 'enum' }))), /enum but no non-empty options/, 'field');
    assertOnly(check(one(sensor({ options: ['a'] }))), /options, which need device_class enum/, 'field');
    const v = check(one(sensor({ options: ['a'], device_class: 'enum', state_class: 'total' })));
    assert.ok(v.some((s) => /options together with state_class/.test(s) && s.includes('"field"')), v.join('\n'));
  });
});

describe('state_class', () => {
  it('only on sensors', () => {
    assertOnly(check(one({ p: 'binary_sensor', unique_id: 'u', state_class: 'measurement' })), /only sensors/, 'field');
    assertOnly(check(one({ ...components().setpoint, state_class: 'measurement' }, {}, 'setpoint')), /only sensors/, 'setpoint');
  });
  it('only measurement, measurement_angle, total or total_increasing', () => {
    assertOnly(check(one(sensor({ state_class: 'average' }))), /state_class "average"/, 'field');
    for (const sc of ['measurement', 'total', 'total_increasing']) assert.deepEqual(check(one(sensor({ state_class: sc }))), []);
    assert.deepEqual(check(one(sensor({ state_class: 'measurement_angle', unit_of_measurement: '°' }))), []);
  });
  it('never on timestamp, date or enum sensors', () => {
    for (const dc of ['timestamp', 'date']) assertOnly(check(one(sensor({ device_class: dc, state_class: 'measurement' }))), /not numeric/, 'field');
    const v = check(one(sensor({ device_class: 'enum', options: ['a'], state_class: 'measurement' })));
    assert.ok(v.some((s) => /not numeric/.test(s) && s.includes('"field"')), v.join('\n'));
  });
  it('measurement_angle needs degrees, and impossible class pairs are reported', () => {
    assertOnly(check(one(sensor({ state_class: 'measurement_angle', unit_of_measurement: 'rad' }))), /measurement_angle needs/, 'field');
    assertOnly(check(one(sensor({ device_class: 'energy', unit_of_measurement: 'kWh', state_class: 'measurement' }))), /impossible/, 'field');
    assertOnly(check(one(sensor({ device_class: 'temperature', unit_of_measurement: '°C', state_class: 'total_increasing' }))), /impossible/, 'field');
  });
  it('last_reset_value_template needs state_class total', () => {
    assertOnly(check(one(sensor({ state_class: 'measurement', last_reset_value_template: '{{ x }}' }))), /last_reset/, 'field');
  });
});

describe('entity_category', () => {
  it('only config or diagnostic', () => assertOnly(check(one(sensor({ entity_category: 'system' }))), /not config or diagnostic/, 'field'));
  it('config never on sensor or binary_sensor', () => {
    assertOnly(check(one(sensor({ entity_category: 'config' }))), /config/, 'field');
    assertOnly(check(one({ p: 'binary_sensor', unique_id: 'u', entity_category: 'config' })), /config/, 'field');
  });
});

describe('entity ids', () => {
  it('object_id is deprecated', () => {
    assertOnly(check(one(sensor({ object_id: 'garage_field' }))), /object_id/, 'field');
    assertOnly(check(one(sensor({ obj_id: 'garage_field' }))), /object_id/, 'field');
  });
  it('default_entity_id is <platform>.<object id> with the component platform', () => {
    assertOnly(check(one(sensor({ default_entity_id: 'binary_sensor.garage_field' }))), /must start with "sensor\."/, 'field');
    for (const id of ['garage_field', 'sensor.Garage', 'sensor.garage__field', 'sensor.garage-field', 'sensor.garage_']) {
      assertOnly(check(one(sensor({ default_entity_id: id }))), /not a valid entity id/, 'field');
    }
  });
});

describe('naming (has_entity_name)', () => {
  it('name is a string or null', () => {
    assertOnly(check(one(sensor({ name: 5 }))), /string or null/, 'field');
    assert.deepEqual(check(one(sensor({ name: null }))), []);
  });
  it('no entity name repeats the device name', () => {
    assertOnly(check(one(sensor({ name: 'Garage' }))), /repeats the device name/, 'field');
    assertOnly(check(one(sensor({ name: 'garage temperature' }))), /repeats the device name/, 'field');
    assert.deepEqual(check(one(sensor({ name: 'Garages open' }))), [], 'a longer word is not the device name');
  });
});

describe('templates', () => {
  it('value_template and command_template are strings', () => {
    assertOnly(check(one(sensor({ value_template: 42 }))), /value_template must be a string/, 'field');
    assertOnly(check(one({ ...components().mode, command_template: { a: 1 } }, {}, 'mode')), /command_template must be a string/, 'mode');
  });
});

describe('DiscoveryRegistry', () => {
  const other = 'homeassistant/device/garage_2/config';
  it('reports the same unique_id in two devices', () => {
    const reg = new DiscoveryRegistry();
    assert.deepEqual(reg.add(TOPIC, full()), []);
    const v = reg.add(other, { ...full(), dev: { ids: ['garage_2'], name: 'Shed' }, cmps: { temp: components().temperature } });
    assertOnly(v, /already used by the device at homeassistant\/device\/garage_1\/config/, 'temp');
  });
  it('accepts re-publishing the same device, and frees ids of removed devices', () => {
    const reg = new DiscoveryRegistry();
    assert.deepEqual(reg.add(TOPIC, full()), []);
    assert.deepEqual(reg.add(TOPIC, JSON.stringify(full())), []);
    assert.deepEqual(reg.add(TOPIC, ''), []);
    assert.deepEqual(reg.add(other, { ...full(), dev: { ids: ['garage_2'], name: 'Shed' } }), []);
  });
  it('reports a unique_id repeated inside one message', () => {
    const cs = components();
    assertOnly(new DiscoveryRegistry().add(TOPIC, { ...root(), cmps: { a: cs.temperature, b: { ...cs.temperature } } }), /same message/, 'b');
  });
  it('assertValid throws an AssertionError listing the violations', () => {
    const reg = new DiscoveryRegistry();
    assert.doesNotThrow(() => reg.assertValid(TOPIC, full()));
    assert.throws(
      () => reg.assertValid(TOPIC, one(sensor({ device_class: 'temperature', entity_category: 'config' }))),
      (e: unknown) => e instanceof AssertionError && /no unit_of_measurement/.test(e.message) && /entity_category config/.test(e.message),
    );
  });
});

describe('template rendering (the Jinja subset the entity templates use)', () => {
  const s = { status: 'running', pid: 42, exit: 0, none: null, mem: 3 * 1048576 + 104858, t: { 'a b': 1.5 }, on: true };
  it('renders values, None for null, 0 as 0, and Python booleans', () => {
    assert.equal(renderTemplate('{{ value_json.status }}', s), 'running');
    assert.equal(renderTemplate('{{ value_json.none if value_json.none is not none else None }}', s), 'None');
    assert.equal(renderTemplate('{{ value_json.exit if value_json.exit is not none else None }}', s), '0');
    assert.equal(renderTemplate('{{ value_json.on }}', s), 'True');
    assert.equal(renderTemplate("{{ value_json.t['a b'] if value_json.t['a b'] is defined else None }}", s), '1.5');
    assert.equal(renderTemplate("{{ value_json.t['c'] if value_json.t['c'] is defined else None }}", s), 'None');
  });
  it('conditions, membership, arithmetic, round and tojson', () => {
    assert.equal(renderTemplate("{{ 'ON' if value_json.status in ['starting', 'running'] else 'OFF' }}", s), 'ON');
    assert.equal(renderTemplate("{{ 'ON' if value_json.none else 'OFF' }}", s), 'OFF');
    assert.equal(renderTemplate('{{ ((value_json.mem or 0) / 1048576) | round(1) }}', s), '3.1');
    assert.equal(renderTemplate('{{ ((value_json.none or 0) / 1048576) | round(1) }}', s), '0');
    assert.deepEqual(JSON.parse(renderTemplate('{{ {"pid": value_json.pid, "gone": value_json.nope} | tojson }}', s)), { pid: 42, gone: null });
    assert.equal(renderTemplate('{"log_level": "{{ value }}"}', {}, 'debug'), '{"log_level": "debug"}');
  });
  it('refuses what it does not know rather than rendering it wrong', () => {
    assert.throws(() => renderTemplate('{{ value_json.status | upper }}', s), /unknown filter "upper"/);
    assert.throws(() => renderTemplate('{{ value_json.status is string }}', s), /unknown test "string"/);
  });
});
