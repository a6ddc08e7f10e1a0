// UCX's settings that rdmq needs in every process that loads the addon (see
// native.ts for why). UCX reads them from the process environment once, when
// its libraries load.
export const UCX_DEFAULTS: Readonly<Record<string, string>> = {
  UCX_MEM_EVENTS: 'no',
  UCX_MEM_MALLOC_HOOKS: 'no',
  UCX_MEM_MMAP_HOOK_MODE: 'none',
  UCX_MEM_CUDA_HOOK_MODE: 'none',
  UCX_HANDLE_ERRORS: 'none',
  UCX_ERROR_SIGNALS: '',
  UCX_WARN_UNUSED_ENV_VARS: 'n',
};

/** Sets each default the environment does not set already; anything set by the user wins. */
export function applyUcxDefaults(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(UCX_DEFAULTS)) {
    if (env[name] === undefined) env[name] = value;
  }
}
