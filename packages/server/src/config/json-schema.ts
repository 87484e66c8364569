import { z } from 'zod';
import { caConfigSchema } from './ca-config.js';
import { gatewayConfigSchema } from './gateway-config.js';

/** JSON Schema of ca.yaml for editors (docs/reference/ca-config.schema.json; a test keeps it in sync). */
export function caConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(caConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'mutual CA configuration (ca.yaml)',
  };
}

/** JSON Schema of gateway.yaml for editors (docs/reference/gateway-config.schema.json; a test keeps it in sync). */
export function gatewayConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(gatewayConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'mutual gateway configuration (gateway.yaml)',
  };
}
