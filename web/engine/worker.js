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
  await init();
  await takeLock();
  terminal = await Terminal.open(db);
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
};

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
