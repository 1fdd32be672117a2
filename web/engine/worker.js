// The terminal's engine worker: owns the OPFS database of one terminal.
//
// One worker per tab; across tabs, one owner per database, chosen with the
// Web Locks API: the tab that holds the lock runs the engine, another tab
// reports `locked` and takes over by itself when the owner closes. The
// lock is taken before the OPFS VFS is installed, because the VFS holds
// exclusive access handles on the database files.
//
// Messages in:  {id, op, args}
// Messages out: {id, ok} | {id, error: {code, message, field}} and
//               {event: "status", status} | {event: "locked"} | {event: "ready"}

import init, { Terminal } from "../pkg/store_wasm.js";

const db = new URL(self.location.href).searchParams.get("db") || "terminal";
let terminal = null;
let startError = null;
let wasm = null;
// Milliseconds (worker clock) each start-up step took, for `benchmark`.
const startup = {};
const forever = new Promise(() => {});

const post = (m) => self.postMessage(m);

function errorOf(e) {
  if (e && typeof e === "object" && "code" in e) {
    return { code: e.code, message: e.message, field: e.field };
  }
  return { code: "internal", message: String((e && e.message) || e) };
}

async function takeLock() {
  const name = `store-terminal:${db}`;
  const held = await new Promise((resolve) =>
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      return lock ? forever : undefined;
    }),
  );
  if (held) return;
  post({ event: "locked" });
  await new Promise((resolve) =>
    navigator.locks.request(name, () => {
      resolve();
      return forever;
    }),
  );
}

const ready = (async () => {
  let t = performance.now();
  wasm = await init();
  startup.init_ms = performance.now() - t;
  t = performance.now();
  await takeLock();
  startup.lock_ms = performance.now() - t;
  t = performance.now();
  terminal = await Terminal.open(db);
  startup.open_ms = performance.now() - t;
  terminal.on_status((status) => post({ event: "status", status }));
  terminal.start_sync();
  self.addEventListener("online", () => terminal.sync_now());
  post({ event: "ready", status: terminal.status() });
})().catch((e) => {
  startError = errorOf(e);
  post({ event: "failed", error: startError });
});

const ops = {
  status: () => terminal.status(),
  identity: () => terminal.identity(),
  pair: (server, token) => terminal.pair(server, token),
  execute: (user, command) => terminal.execute(user, command),
  executeBatch: (user, commands) => terminal.execute_batch(user, commands),
  query: (request) => terminal.query(request),
  syncNow: () => terminal.sync_now(),
  stopSync: () => terminal.stop_sync(),
  startSync: () => terminal.start_sync(),
  exportDatabase: () => terminal.export_database(),
  importDatabase: (data) => terminal.import_database(data),
  benchmark: (plan) => benchmark(plan || {}),
};

// Times calls inside the worker (no page <-> worker messaging in the
// figures): each query `rounds` times after `warmup` untimed runs, then
// each command once, in order. Milliseconds per call.
async function benchmark({ queries = [], rounds = 100, warmup = 10, commands = [], user = "bench" }) {
  if (!Array.isArray(queries) || !Array.isArray(commands)) {
    throw { code: "invalid_input", message: "benchmark: queries and commands must be arrays" };
  }
  const timed = (fn) => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };
  const first = queries.length ? timed(() => terminal.query(queries[0])) : null;
  const querySamples = queries.map((q) => {
    for (let i = 0; i < warmup; i++) terminal.query(q);
    const s = [];
    for (let i = 0; i < rounds; i++) s.push(timed(() => terminal.query(q)));
    return s;
  });
  const commandSamples = commands.map((c) => timed(() => terminal.execute(user, c)));
  // What every write also pays: the status sent to the page after it.
  const statusMs = timed(() => terminal.status());
  return {
    status_ms: statusMs,
    startup,
    first_query_ms: first,
    queries: querySamples,
    commands: commandSamples,
    wasm_memory_bytes: wasm ? wasm.memory.buffer.byteLength : null,
    js_heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : null,
  };
}

self.onmessage = async (e) => {
  const { id, op, args = [] } = e.data || {};
  try {
    const fn = ops[op];
    if (!fn) throw { code: "invalid_input", message: `unknown operation ${op}` };
    await ready;
    if (startError) throw startError;
    post({ id, ok: await fn(...args) });
  } catch (err) {
    post({ id, error: errorOf(err) });
  }
};
