// The page's handle on the terminal engine running in its worker.
//
//   const engine = Engine.start();            // spawns the worker
//   engine.onStatus((s) => render(s));        // sync/ownership status
//   await engine.ready;                        // resolves once the engine owns the database
//   await engine.pair("ws://host:8080/sync", token);
//   const sale = await engine.execute("alice", { type: "sell", ... });
//   const page = await engine.query({ query: "search_products", text: "rebar", branch_id });
//
// Every call returns a promise; failures reject with an EngineError whose
// `code` is stable (see types.d.ts) and whose `message` is for people.
// A promise of `execute` resolves only after the command is committed to
// the OPFS database.

/** An error from the engine, with a stable `code` and maybe a `field`. */
export class EngineError extends Error {
  constructor({ code, message, field }) {
    super(message);
    this.name = "EngineError";
    this.code = code;
    this.field = field;
  }
}

export class Engine {
  /** Spawns the engine worker for database `db`. */
  static start({ db = "terminal", workerUrl } = {}) {
    const url = workerUrl || new URL("./worker.js", import.meta.url);
    const u = new URL(url, self.location.href);
    u.searchParams.set("db", db);
    return new Engine(new Worker(u, { type: "module" }));
  }

  constructor(worker) {
    this.worker = worker;
    this.next = 1;
    this.calls = new Map();
    this.listeners = new Set();
    /** `starting`, `locked` (another tab owns the terminal), `ready` or `failed`. */
    this.state = "starting";
    this.lastStatus = null;
    this.ready = new Promise((resolve, reject) => {
      this._ready = resolve;
      this._failed = reject;
    });
    worker.onmessage = (e) => this._receive(e.data);
    worker.onerror = (e) => this._fail({ code: "internal", message: e.message || "worker failed" });
  }

  _receive(m) {
    if (m.event) {
      if (m.event === "locked") this.state = "locked";
      if (m.event === "ready") {
        this.state = "ready";
        this._ready();
      }
      if (m.event === "failed") return this._fail(m.error);
      if (m.status) this.lastStatus = m.status;
      for (const l of this.listeners) l({ state: this.state, ...(this.lastStatus || {}) });
      return;
    }
    const call = this.calls.get(m.id);
    if (!call) return;
    this.calls.delete(m.id);
    if (m.error) call.reject(new EngineError(m.error));
    else call.resolve(m.ok);
  }

  _fail(error) {
    this.state = "failed";
    this.error = new EngineError(error);
    this._failed(this.error);
    for (const l of this.listeners) l({ state: this.state, error });
  }

  _call(op, ...args) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args });
    });
  }

  /** Calls `listener({state, ...SyncStatus})` on every change. */
  onStatus(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status() { return this._call("status"); }
  identity() { return this._call("identity"); }
  pair(serverUrl, token) { return this._call("pair", serverUrl, token); }
  execute(user, command) { return this._call("execute", user, command); }
  executeBatch(user, commands) { return this._call("executeBatch", user, commands); }
  query(request) { return this._call("query", request); }
  syncNow() { return this._call("syncNow"); }
  startSync() { return this._call("startSync"); }
  stopSync() { return this._call("stopSync"); }
  exportDatabase() { return this._call("exportDatabase"); }
  importDatabase(data) { return this._call("importDatabase", data); }
  benchmark(plan) { return this._call("benchmark", plan); }

  /** Ends the worker (the database stays in OPFS). */
  terminate() { this.worker.terminate(); }
}
