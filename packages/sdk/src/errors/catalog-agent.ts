import type { ErrorSpec } from './types.js';

/** Error codes of the renewal agent (`mutual agent`). */
export const agentErrors = {
  ERR_AGENT_TOKEN_UNAVAILABLE: {
    kind: 'config',
    status: 400,
    message: 'The enrollment token cannot be read.',
    doc: 'The certificate has no usable certificate yet (or it expired) and its `token` file is missing or empty, or the environment variable is not set. Create a token with `mutual token create` and put it where the config says.',
  },
  ERR_AGENT_RELOAD_FAILED: {
    kind: 'unavailable',
    status: 502,
    message: 'The reload action failed.',
    doc: 'The new certificate is in place, but the signal, command or URL that tells the program to reload it failed (details.action). The agent logs it and continues; fix the action or reload by hand.',
  },
  ERR_AGENT_STATE_INVALID: {
    kind: 'internal',
    status: 500,
    message: "The agent's state file is not valid.",
    doc: 'The state file (details.file) is not the JSON the agent writes. The agent rebuilds it from the certificates on disk if you remove it; `mutual agent status` needs a running agent to write it first.',
  },
  ERR_AGENT_NO_STATE: {
    kind: 'not-found',
    status: 404,
    message: 'The agent has not written its state yet.',
    doc: '`mutual agent status` reads the state file the agent writes (details.file); start `mutual agent --config` first, or point `--config` at the same file the agent uses.',
  },
} as const satisfies Record<string, ErrorSpec>;
