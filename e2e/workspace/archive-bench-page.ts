/**
 * In the panels dev page: run benchArchive on the page's tree (the shell's
 * bench:workspace can call the same function in its own page).
 */
import { benchArchive, formatArchiveBench, type ArchiveBenchOptions } from "../../src/workspace/archive/bench.js";

export async function runArchiveBench(options: ArchiveBenchOptions = {}): Promise<string> {
  await window.panelsDev.ready;
  return formatArchiveBench(await benchArchive(window.panelsDev.other!, options));
}
