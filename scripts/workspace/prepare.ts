// `npm start` runs this first: prepare the guest images the workspace boots (built once from
// Debian packages, then cached in .cache/guest/ and .cache/image/), printing progress, so the
// page never waits on a build it cannot show. The Debian root's first build takes minutes (apt
// downloads, mmdebstrap, one boot under Node to record its boot profile, the base image).
import { DEFAULT_IMAGES } from "./guest-files.js";

const log = (line: string) => console.log(`workspace: ${line}`);
for (const [name, source] of Object.entries(DEFAULT_IMAGES)) {
  log(`preparing guest image "${name}" (the first time this downloads Debian packages with apt${name === "debian" ? " and builds the Debian root: minutes" : ""})…`);
  const { descriptor } = await source(log);
  log(`guest image "${name}" ready: ${descriptor.title}`);
}
