// jest's globalSetup. Inside a test file `process.env` is a copy that jest
// makes for the test: native.ts setting UCX's defaults there never reaches the
// real environment, so UCX loaded by a test (the SDK, the addon's own tests)
// ran with its memory hooks and signal handlers on — a segfault inside V8's
// compiler, caught and printed by UCX, was seen that way. Set here, in jest's
// own process, they are in the real environment of in-band tests and of the
// workers jest starts afterwards.
import { applyUcxDefaults } from '../ucx-env';

export default async function setUcxEnvironment(): Promise<void> {
  applyUcxDefaults();
}
