// The dedicated Web Worker behind createFileServer(): owns one tree (a Web Lock per name keeps
// it to one owner across tabs; src/host/tree-host.ts), serves 9P sessions on MessagePorts
// handed over by the page, and answers control calls via Comlink.
import * as Comlink from "comlink";
import { treeControl, type OpenTree } from "../src/host/tree-host.js";

let current: OpenTree | undefined;
Comlink.expose(treeControl(() => current, (t) => (current = t)));
