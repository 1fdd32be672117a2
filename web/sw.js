// Service worker: the terminal's app shell, cache-first, so that the
// terminal reloads and keeps selling with no network.
//
// - Every file of the shell (the page, the screens, the engine client and
//   worker, the wasm bundle, the manifest, the icons) is cached at install
//   in a cache named after VERSION; activating a new version deletes the
//   old caches. Bump VERSION whenever any shell file changes.
// - Requests for shell files are answered from the cache, falling back to
//   the network (and then caching the answer). Navigations to the
//   terminal's page get the cached index.html; other pages are untouched.
// - /api/, /sync, /health and /metrics are never cached nor answered from
//   the cache: they go to the network untouched.

const VERSION = "pos-shell-v1";

const SHELL = [
  "./",
  "index.html",
  "manifest.webmanifest",
  "app/main.js",
  "app/ui.js",
  "app/format.js",
  "app/pickers.js",
  "app/payment.js",
  "app/receipt.js",
  "app/pairing.js",
  "app/sell.js",
  "app/customers.js",
  "app/invoices.js",
  "app/shift.js",
  "app/stock.js",
  "app/workshop.js",
  "app/reports.js",
  "app/styles.css",
  "engine/client.js",
  "engine/worker.js",
  "pkg/store_wasm.js",
  "pkg/store_wasm_bg.wasm",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
  "icons/icon-maskable-512.png",
];

const scope = new URL(self.registration.scope);
const shellUrls = new Set(SHELL.map((p) => new URL(p, scope).href));

/** Requests that must always reach the server. */
function isLive(url) {
  if (url.origin !== scope.origin) return true;
  const p = url.pathname;
  return (
    p.startsWith("/api/") ||
    p === "/api" ||
    p === "/sync" ||
    p.startsWith("/sync/") ||
    p === "/health" ||
    p === "/metrics"
  );
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(VERSION);
      // One by one, bypassing the HTTP cache, so that one missing file does
      // not leave the whole shell uncached; what fails is fetched (and
      // cached) on first use.
      await Promise.all(
        SHELL.map(async (p) => {
          try {
            const res = await fetch(new Request(new URL(p, scope), { cache: "reload" }));
            if (res.ok) await cache.put(new URL(p, scope), res);
          } catch {
            /* cached on first use */
          }
        }),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("pos-shell-") && key !== VERSION) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (isLive(url)) return;
  const key = url.origin + url.pathname;
  // Only the terminal's own page: other pages the server hosts (a back
  // office...) are not the app shell.
  if (req.mode === "navigate" && (key === scope.href || key === new URL("index.html", scope).href)) {
    event.respondWith(navigation(req));
    return;
  }
  if (shellUrls.has(key)) event.respondWith(cacheFirst(req, key));
});

async function cacheFirst(req, key) {
  const cache = await caches.open(VERSION);
  const hit = await cache.match(key);
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok && res.type === "basic") await cache.put(key, res.clone());
  return res;
}

async function navigation(req) {
  const cache = await caches.open(VERSION);
  const index = new URL("index.html", scope).href;
  const hit = (await cache.match(index)) || (await cache.match(scope.href));
  if (hit) return hit;
  try {
    const res = await fetch(req);
    if (res.ok) await cache.put(index, res.clone());
    return res;
  } catch {
    return new Response("<h1>Offline</h1><p>The terminal has not been loaded on this device yet. Connect once to install it.</p>", {
      status: 503,
      headers: { "Content-Type": "text/html; charset=utf-8" },
    });
  }
}
