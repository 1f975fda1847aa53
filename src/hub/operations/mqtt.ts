/**
 * The embedded broker's own sign-ins: what to enter in Home Assistant's MQTT integration (and what
 * the hub itself uses). A secret: admin only, over HTTP only.
 */
import { Type } from '@sinclair/typebox';
import { NoInput } from './common.js';
import { operation } from './operation.js';

const Credential = Type.Object({ username: Type.String(), password: Type.String() });

export const MQTT_OPERATIONS = [
  operation({
    name: 'mqtt/credentials',
    summary: "The embedded broker's users and passwords: the hub's own, then Home Assistant's (on an external broker: the hub's, if it signs in)",
    role: 'admin',
    secret: true,
    http: { method: 'GET', path: '/api/mqtt/credentials' },
    input: NoInput,
    output: Type.Array(Credential),
    cli: {
      say: (list) =>
        list.length === 0 ? 'the hub signs in to its external broker without credentials' : list.map((c) => `username: ${c.username}\npassword: ${c.password}`).join('\n\n'),
    },
    handler: (_i, hub) => hub.hub.mqttCredentials(),
  }),
];
