// `npm start` runs this first: prepare the guest image(s) the workspace boots (built once from
// Debian packages, then cached in .cache/guest/), printing progress, so the page never waits on
// a build it cannot show.
import { DEFAULT_IMAGES } from "./guest-files.js";

const log = (line: string) => console.log(`workspace: ${line}`);
for (const [name, source] of Object.entries(DEFAULT_IMAGES)) {
  log(`preparing guest image "${name}" (the first time this downloads Debian packages with apt)…`);
  const { descriptor } = await source(log);
  log(`guest image "${name}" ready: ${descriptor.title}`);
}
