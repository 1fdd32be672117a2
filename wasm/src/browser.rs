//! The wasm-bindgen exports: one [`Terminal`] per dedicated Web Worker.
//!
//! Everything here runs on the worker's single thread. Shared state lives
//! in an `Rc<RefCell<Inner>>`; every entry point (a call from JavaScript, a
//! WebSocket event, a timer) borrows it for the duration of its own work
//! and releases it before calling back into JavaScript (the status
//! listener), so a listener that calls the terminal again cannot find it
//! borrowed.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise, Reflect, Uint8Array};
use serde::Serialize;
use sqlite_wasm_rs::vfs::transfer::DbTransfer;
use sqlite_wasm_vfs::sahpool::{OpfsSAHPoolCfg, OpfsSAHPoolUtil};
use store_core::query::{Queries, Request};
use store_core::sync::{self, ClientSession, ErrorCode, Frame, SessionError, settings};
use store_core::{Command, Env, OpenOptions, Replica, ReplicaIdentity};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket, WorkerGlobalScope};

use crate::error::EngineError;

/// Longest user name accepted, in characters.
const MAX_USER: usize = 64;
/// Longest database name accepted.
const MAX_NAME: usize = 64;
/// Reconnect delays: from `BACKOFF_MIN_MS`, doubling, at most
/// `BACKOFF_MAX_MS`, each randomised down to half so that the terminals of
/// a store do not all reconnect in the same second after an outage.
const BACKOFF_MIN_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 30_000.0;

impl From<EngineError> for JsValue {
    fn from(e: EngineError) -> JsValue {
        let err = js_sys::Error::new(&e.message);
        err.set_name("EngineError");
        let _ = Reflect::set(&err, &"code".into(), &e.code.as_str().into());
        if let Some(f) = &e.field {
            let _ = Reflect::set(&err, &"field".into(), &f.as_str().into());
        }
        err.into()
    }
}

fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, EngineError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| EngineError::new("internal", format!("cannot convert the answer: {e}")))
}

fn global() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// The browser's clock and random source, handed to the core (which never
/// reads a clock or a random source itself).
struct BrowserEnv;

impl Env for BrowserEnv {
    fn now_ms(&mut self) -> i64 {
        js_sys::Date::now() as i64
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        global()
            .crypto()
            .and_then(|c| c.get_random_values_with_u8_array(buf).map(|_| ()))
            .expect("crypto.getRandomValues is available in workers");
    }
}

fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    BrowserEnv.fill_random(&mut b);
    u32::from_le_bytes(b) as f64 / u32::MAX as f64
}

thread_local! {
    static POOL: RefCell<Option<OpfsSAHPoolUtil>> = const { RefCell::new(None) };
}

/// Installs the OPFS "sahpool" VFS as SQLite's default, once per worker.
async fn ensure_pool() -> Result<(), EngineError> {
    if POOL.with(|p| p.borrow().is_some()) {
        return Ok(());
    }
    let util = sqlite_wasm_vfs::sahpool::install::<sqlite_wasm_rs::WasmOsCallback>(
        &OpfsSAHPoolCfg::default(),
        true,
    )
    .await
    .map_err(|e| {
        EngineError::new(
            "storage_unavailable",
            format!(
                "the browser's private file system (OPFS) cannot be used here: {e:?}. \
                 Run the terminal in a dedicated worker of a current browser, \
                 and not in a private window."
            ),
        )
    })?;
    POOL.with(|p| *p.borrow_mut() = Some(util));
    Ok(())
}

fn open_replica(path: &str, me: ReplicaIdentity) -> Result<Replica, EngineError> {
    let conn = rusqlite::Connection::open(path)
        .map_err(|e| EngineError::new("storage", format!("cannot open {path}: {e}")))?;
    // OPFS has no WAL; FULL makes every acknowledged command durable.
    let options = OpenOptions {
        synchronous_full: true,
        wal: false,
        ..OpenOptions::default()
    };
    Ok(Replica::with_connection(
        conn,
        me,
        Box::new(BrowserEnv),
        &options,
    )?)
}

/// What the terminal's screens show about sync.
#[derive(Debug, Clone, Serialize)]
struct Status {
    /// The terminal has an identity (was paired with a server).
    paired: bool,
    identity: Option<ReplicaIdentity>,
    server: Option<String>,
    /// `offline`, `connecting` or `online`.
    connection: &'static str,
    /// Local changes the server does not hold yet.
    pending: usize,
    /// Frames sent in this session and not yet acknowledged.
    unacknowledged: usize,
    /// When the terminal and the server last had nothing left to exchange.
    last_sync: Option<f64>,
    last_error: Option<EngineError>,
    /// When the next reconnect attempt is due (ms since the epoch).
    next_retry: Option<f64>,
    /// Changes sent and received since the worker started.
    sent: usize,
    received: usize,
}

/// The event handlers of the open socket, kept alive as long as it is.
struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

#[derive(Default)]
struct Link {
    /// Sync is switched on (paired, and not stopped or refused for good).
    wanted: bool,
    ws: Option<WebSocket>,
    /// Handlers of the last socket. Replaced (dropped) only when the next
    /// socket is made, never from inside one of them.
    handlers: Option<Handlers>,
    session: Option<ClientSession>,
    attempt: u32,
    timer: Option<i32>,
    next_retry: Option<f64>,
    last_sync: Option<f64>,
    last_error: Option<EngineError>,
    sent: usize,
    received: usize,
}

struct Inner {
    path: String,
    replica: Option<Replica>,
    server: Option<String>,
    token: Option<String>,
    link: Link,
    listener: Option<Function>,
    /// Local changes the server lacks, as last counted. Counting walks the
    /// unsynced history (all of it for a terminal that never synced), so it
    /// is done again only when a sync exchange moved the synced heads;
    /// between exchanges each local command adds one.
    pending: Option<usize>,
}

impl Inner {
    fn replica(&mut self) -> Result<&mut Replica, EngineError> {
        self.replica.as_mut().ok_or_else(EngineError::not_paired)
    }

    fn status(&mut self) -> Status {
        let connection = match (&self.link.ws, &self.link.session) {
            (Some(_), Some(s)) if s.is_welcomed() => "online",
            (Some(_), _) => "connecting",
            _ => "offline",
        };
        let pending = match self.pending {
            Some(p) => p,
            None => {
                let url = self.server.clone().unwrap_or_default();
                let p = match &mut self.replica {
                    Some(r) => r.unsynced_changes(&url).unwrap_or(0),
                    None => 0,
                };
                if self.replica.is_some() {
                    self.pending = Some(p);
                }
                p
            }
        };
        let (sent, received, unacknowledged) = match &self.link.session {
            Some(s) => (
                self.link.sent + s.stats.sent,
                self.link.received + s.stats.received,
                s.unacknowledged(),
            ),
            None => (self.link.sent, self.link.received, 0),
        };
        Status {
            paired: self.replica.is_some(),
            identity: self.replica.as_ref().map(|r| r.identity().clone()),
            server: self.server.clone(),
            connection,
            pending,
            unacknowledged,
            last_sync: self.link.last_sync,
            last_error: self.link.last_error.clone(),
            next_retry: self.link.next_retry,
            sent,
            received,
        }
    }
}

/// The browser terminal: its OPFS database and its link to the server.
#[wasm_bindgen]
pub struct Terminal {
    inner: Rc<RefCell<Inner>>,
}

#[wasm_bindgen]
impl Terminal {
    /// Opens the terminal database `name` in OPFS (installing the OPFS VFS
    /// on first use). A database that was paired before opens with its
    /// identity; a new one waits for [`Terminal::pair`].
    pub async fn open(name: String) -> Result<Terminal, JsValue> {
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(EngineError::new(
                "invalid_input",
                format!("database name {name:?}: use 1 to {MAX_NAME} letters, digits, - or _"),
            )
            .into());
        }
        ensure_pool().await?;
        let path = format!("/{name}.sqlite3");
        let conn = rusqlite::Connection::open(&path)
            .map_err(|e| EngineError::new("storage", format!("cannot open {path}: {e}")))?;
        let identity = sync::stored_identity(&conn).map_err(EngineError::from)?;
        drop(conn);
        let replica = identity.map(|me| open_replica(&path, me)).transpose()?;
        let (server, token) = match &replica {
            Some(r) => (
                r.setting(settings::SERVER_URL).map_err(EngineError::from)?,
                r.setting(settings::TOKEN).map_err(EngineError::from)?,
            ),
            None => (None, None),
        };
        Ok(Terminal {
            inner: Rc::new(RefCell::new(Inner {
                path,
                replica,
                server,
                token,
                link: Link::default(),
                listener: None,
                pending: None,
            })),
        })
    }

    /// The terminal's identity, or `null` before pairing.
    pub fn identity(&self) -> Result<JsValue, JsValue> {
        let g = self.inner.borrow();
        Ok(to_js(&g.replica.as_ref().map(|r| r.identity().clone()))?)
    }

    /// Pairs a new terminal with a server: says Hello with the terminal
    /// token an administrator issued, learns the terminal's identity from
    /// the Welcome, creates the database with it, remembers the server and
    /// the token, and starts syncing. Resolves to the identity.
    pub async fn pair(&self, server_url: String, token: String) -> Result<JsValue, JsValue> {
        if self.inner.borrow().replica.is_some() {
            return Err(EngineError::new(
                "already_paired",
                "this terminal is already paired; its data stays with its identity",
            )
            .into());
        }
        if !(server_url.starts_with("ws://") || server_url.starts_with("wss://")) {
            return Err(EngineError {
                code: "invalid_input".into(),
                message: format!("server URL {server_url:?} must start with ws:// or wss://"),
                field: Some("server_url".into()),
            }
            .into());
        }
        if token.trim().is_empty() || token.len() > 512 {
            return Err(EngineError {
                code: "invalid_input".into(),
                message: "the terminal token is empty or too long".into(),
                field: Some("token".into()),
            }
            .into());
        }
        let identity = hello_once(&server_url, &token).await?;
        {
            let mut g = self.inner.borrow_mut();
            if g.replica.is_some() {
                return Err(EngineError::new("already_paired", "paired meanwhile").into());
            }
            let replica = open_replica(&g.path, identity.clone())?;
            replica
                .set_setting(settings::SERVER_URL, &server_url)
                .map_err(EngineError::from)?;
            replica
                .set_setting(settings::TOKEN, &token)
                .map_err(EngineError::from)?;
            g.replica = Some(replica);
            g.server = Some(server_url);
            g.token = Some(token);
        }
        self.start_sync();
        Ok(to_js(&identity)?)
    }

    /// Validates and executes one command as `user`; resolves to its
    /// outcome (`{id, number, warnings}`). On error nothing was written.
    pub fn execute(&self, user: String, command: JsValue) -> Result<JsValue, JsValue> {
        check_user(&user)?;
        let cmd: Command = serde_wasm_bindgen::from_value(command)
            .map_err(|e| EngineError::invalid_input("command", e))?;
        let out = {
            let mut g = self.inner.borrow_mut();
            g.replica()?
                .execute(&user, &cmd)
                .map_err(EngineError::from)?
        };
        after_write(&self.inner, 1);
        Ok(to_js(&out)?)
    }

    /// Executes up to 500 commands in one transaction (imports, bulk
    /// receipts). Resolves to one `{ok}` or `{error}` per command.
    pub fn execute_batch(&self, user: String, commands: JsValue) -> Result<JsValue, JsValue> {
        check_user(&user)?;
        let cmds: Vec<Command> = serde_wasm_bindgen::from_value(commands)
            .map_err(|e| EngineError::invalid_input("commands", e))?;
        let results = {
            let mut g = self.inner.borrow_mut();
            g.replica()?
                .execute_batch(&user, &cmds)
                .map_err(EngineError::from)?
        };
        // A batch writes one change per document it touches: count again.
        self.inner.borrow_mut().pending = None;
        after_write(&self.inner, 0);
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum One {
            Ok(store_core::Outcome),
            Error(EngineError),
        }
        let out: Vec<One> = results
            .into_iter()
            .map(|r| match r {
                Ok(o) => One::Ok(o),
                Err(e) => One::Error(e.into()),
            })
            .collect();
        Ok(to_js(&out)?)
    }

    /// Runs one query of the catalogue (`{query: "search_products", ...}`)
    /// and returns its answer.
    pub fn query(&self, request: JsValue) -> Result<JsValue, JsValue> {
        let req: Request = serde_wasm_bindgen::from_value(request)
            .map_err(|e| EngineError::invalid_input("query", e))?;
        let mut g = self.inner.borrow_mut();
        let r = g.replica()?;
        let v = req
            .run(&Queries::new(r.connection()))
            .map_err(EngineError::from)?;
        Ok(to_js(&v)?)
    }

    /// The sync status (see the TypeScript `SyncStatus`).
    pub fn status(&self) -> Result<JsValue, JsValue> {
        let s = self.inner.borrow_mut().status();
        Ok(to_js(&s)?)
    }

    /// Calls `listener(status)` whenever the sync status changes.
    pub fn on_status(&self, listener: Function) {
        self.inner.borrow_mut().listener = Some(listener);
    }

    /// Starts syncing (reconnecting with backoff) when the terminal is
    /// paired. Idempotent.
    pub fn start_sync(&self) {
        {
            let mut g = self.inner.borrow_mut();
            if g.replica.is_none() || g.server.is_none() || g.token.is_none() {
                return;
            }
            g.link.wanted = true;
        }
        connect(&self.inner);
    }

    /// Stops syncing and closes the connection; local work goes on.
    pub fn stop_sync(&self) {
        let ws = {
            let mut g = self.inner.borrow_mut();
            g.link.wanted = false;
            clear_timer(&mut g.link);
            g.link.ws.take()
        };
        if let Some(ws) = ws {
            let _ = ws.close();
        }
        finish_session(&self.inner);
        emit(&self.inner);
    }

    /// Reconnects now instead of waiting for the backoff (the network came
    /// back, or the cashier pressed "sync").
    pub fn sync_now(&self) {
        {
            let mut g = self.inner.borrow_mut();
            clear_timer(&mut g.link);
            g.link.attempt = 0;
        }
        self.start_sync();
    }

    /// The file the database lives in, as `Uint8Array` (a backup the user
    /// can download, or a copy for support).
    pub fn export_database(&self) -> Result<Uint8Array, JsValue> {
        let mut g = self.inner.borrow_mut();
        let identity = g
            .replica
            .as_ref()
            .map(|r| r.identity().clone())
            .ok_or_else(EngineError::not_paired)?;
        // The OPFS pool copies only a closed file: close the database (no
        // transaction is open between calls, and the journal is empty in
        // DELETE mode), copy it, open it again.
        g.replica = None;
        let path = g.path.clone();
        let bytes = POOL.with(|p| {
            let p = p.borrow();
            let util = p
                .as_ref()
                .ok_or_else(|| EngineError::new("storage", "OPFS is not installed"))?;
            util.export_db(&path)
                .map_err(|e| EngineError::new("storage", format!("export failed: {e:?}")))
        });
        g.replica = Some(open_replica(&path, identity)?);
        Ok(Uint8Array::from(bytes?.as_slice()))
    }
}

fn check_user(user: &str) -> Result<(), EngineError> {
    if user.trim().is_empty() || user.chars().count() > MAX_USER {
        return Err(EngineError {
            code: "invalid_input".into(),
            message: format!("user must be 1 to {MAX_USER} characters"),
            field: Some("user".into()),
        });
    }
    Ok(())
}

fn clear_timer(link: &mut Link) {
    if let Some(t) = link.timer.take() {
        global().clear_timeout_with_handle(t);
    }
    link.next_retry = None;
}

/// Calls the status listener, outside any borrow.
fn emit(inner: &Rc<RefCell<Inner>>) {
    let (listener, status) = {
        let mut g = inner.borrow_mut();
        let Some(l) = g.listener.clone() else { return };
        (l, g.status())
    };
    if let Ok(v) = to_js(&status) {
        let _ = listener.call1(&JsValue::NULL, &v);
    }
}

/// After a local command: send it if the session is up, tell the UI.
fn after_write(inner: &Rc<RefCell<Inner>>, commands: usize) {
    let frames = {
        let mut g = inner.borrow_mut();
        g.pending = g.pending.map(|p| p + commands);
        let Inner {
            replica,
            link: Link { session, .. },
            ..
        } = &mut *g;
        match (replica, session) {
            (Some(r), Some(s)) => s.push_local(r).map_err(EngineError::from),
            _ => Ok(Vec::new()),
        }
    };
    match frames {
        Ok(f) => send_all(inner, &f),
        Err(e) => fail(inner, e, true),
    }
    emit(inner);
}

fn send_all(inner: &Rc<RefCell<Inner>>, frames: &[Frame]) {
    if frames.is_empty() {
        return;
    }
    let ws = inner.borrow().link.ws.clone();
    let Some(ws) = ws else { return };
    for f in frames {
        if let Err(e) = ws.send_with_u8_array(&sync::encode(f)) {
            fail(
                inner,
                EngineError::new("network", format!("send failed: {e:?}")),
                true,
            );
            return;
        }
    }
}

/// Records an error; with `reconnect`, drops the connection (the close
/// handler schedules the retry).
fn fail(inner: &Rc<RefCell<Inner>>, e: EngineError, reconnect: bool) {
    let ws = {
        let mut g = inner.borrow_mut();
        g.link.last_error = Some(e);
        if reconnect { g.link.ws.clone() } else { None }
    };
    if let Some(ws) = ws {
        let _ = ws.close_with_code_and_reason(1000, "client error");
    }
}

/// Folds a finished session's counts into the link's.
fn finish_session(inner: &Rc<RefCell<Inner>>) {
    let mut g = inner.borrow_mut();
    if let Some(s) = g.link.session.take() {
        g.link.sent += s.stats.sent;
        g.link.received += s.stats.received;
    }
}

fn connect(inner: &Rc<RefCell<Inner>>) {
    let url = {
        let mut g = inner.borrow_mut();
        if !g.link.wanted || g.link.ws.is_some() {
            return;
        }
        clear_timer(&mut g.link);
        match g.server.clone() {
            Some(u) => u,
            None => return,
        }
    };
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(e) => {
            inner.borrow_mut().link.last_error = Some(EngineError::new(
                "network",
                format!("cannot connect to {url}: {e:?}"),
            ));
            schedule_retry(inner);
            emit(inner);
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let weak = Rc::downgrade(inner);
    let on_open = {
        let weak = weak.clone();
        Closure::<dyn FnMut()>::new(move || {
            if let Some(i) = weak.upgrade() {
                opened(&i);
            }
        })
    };
    let on_message = {
        let weak = weak.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(i) = weak.upgrade() {
                received(&i, e);
            }
        })
    };
    let on_close = {
        let weak: Weak<RefCell<Inner>> = weak;
        Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            if let Some(i) = weak.upgrade() {
                closed(&i, e.code(), e.reason());
            }
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    {
        let mut g = inner.borrow_mut();
        g.link.ws = Some(ws);
        g.link.handlers = Some(Handlers {
            _open: on_open,
            _message: on_message,
            _close: on_close,
        });
    }
    emit(inner);
}

fn opened(inner: &Rc<RefCell<Inner>>) {
    let hello = {
        let mut g = inner.borrow_mut();
        let url = g.server.clone().unwrap_or_default();
        let token = g.token.clone().unwrap_or_default();
        let Some(r) = g.replica.as_mut() else { return };
        let session = ClientSession::new(r, &url);
        let hello = session.hello(r, &token);
        g.link.session = Some(session);
        hello
    };
    match hello {
        Ok(h) => send_all(inner, &[h]),
        Err(e) => fail(inner, e.into(), true),
    }
    emit(inner);
}

fn received(inner: &Rc<RefCell<Inner>>, e: MessageEvent) {
    let bytes = Uint8Array::new(&e.data()).to_vec();
    let frame = match sync::decode(&bytes) {
        Ok(f) => f,
        Err(err) => {
            fail(
                inner,
                EngineError::new("sync_protocol", format!("undecodable frame: {err}")),
                true,
            );
            return;
        }
    };
    let result = {
        let mut g = inner.borrow_mut();
        let Inner {
            replica,
            link: Link { session, .. },
            ..
        } = &mut *g;
        match (replica, session) {
            (Some(r), Some(s)) => s.on_frame(r, frame),
            _ => Ok(Vec::new()),
        }
    };
    match result {
        Ok(out) => {
            send_all(inner, &out);
            let mut g = inner.borrow_mut();
            // The synced heads moved: count again at the next status.
            g.pending = None;
            let (welcomed, idle) = match &g.link.session {
                Some(s) => (s.is_welcomed(), s.is_idle()),
                None => (false, false),
            };
            if welcomed {
                g.link.attempt = 0;
                g.link.last_error = None;
            }
            if idle {
                g.link.last_sync = Some(js_sys::Date::now());
            }
        }
        Err(SessionError::Refused { code, message }) => {
            refused(inner, code, message);
            return;
        }
        Err(err) => fail(inner, err.into(), true),
    }
    emit(inner);
}

/// The server said no. A bad or revoked token, or a document out of scope,
/// will not get better by retrying: sync stops until the UI re-pairs or
/// calls `sync_now`. Anything else (rate limit, server error) is retried.
fn refused(inner: &Rc<RefCell<Inner>>, code: ErrorCode, message: String) {
    let permanent = matches!(code, ErrorCode::Unauthorized | ErrorCode::Forbidden);
    let ws = {
        let mut g = inner.borrow_mut();
        g.link.last_error = Some(SessionError::Refused { code, message }.into());
        if permanent {
            g.link.wanted = false;
        }
        g.link.ws.clone()
    };
    if let Some(ws) = ws {
        let _ = ws.close();
    }
    emit(inner);
}

fn closed(inner: &Rc<RefCell<Inner>>, code: u16, reason: String) {
    if code >= 4000 {
        // The server closed with a protocol code (it sends the Error frame
        // first when it can; the close code is what is left when not).
        let code = ErrorCode::from_close_code(code);
        let permanent = matches!(code, ErrorCode::Unauthorized | ErrorCode::Forbidden);
        let mut g = inner.borrow_mut();
        g.link.last_error = Some(
            SessionError::Refused {
                code,
                message: reason,
            }
            .into(),
        );
        if permanent {
            g.link.wanted = false;
        }
    } else if code != 1000 {
        let mut g = inner.borrow_mut();
        if g.link.last_error.is_none() {
            g.link.last_error = Some(EngineError::new(
                "network",
                format!("connection lost (code {code}); retrying"),
            ));
        }
    }
    {
        let mut g = inner.borrow_mut();
        g.link.ws = None;
    }
    finish_session(inner);
    schedule_retry(inner);
    emit(inner);
}

fn schedule_retry(inner: &Rc<RefCell<Inner>>) {
    let mut g = inner.borrow_mut();
    if !g.link.wanted || g.link.timer.is_some() {
        return;
    }
    let base = (BACKOFF_MIN_MS * 2f64.powi(g.link.attempt.min(16) as i32)).min(BACKOFF_MAX_MS);
    let delay = base * (0.5 + 0.5 * random_unit());
    g.link.attempt += 1;
    let weak = Rc::downgrade(inner);
    let cb = Closure::once_into_js(move || {
        if let Some(i) = weak.upgrade() {
            i.borrow_mut().link.timer = None;
            connect(&i);
        }
    });
    match global()
        .set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), delay as i32)
    {
        Ok(id) => {
            g.link.timer = Some(id);
            g.link.next_retry = Some(js_sys::Date::now() + delay);
        }
        Err(e) => {
            g.link.last_error = Some(EngineError::new(
                "internal",
                format!("cannot schedule a reconnect: {e:?}"),
            ))
        }
    }
}

/// One Hello/Welcome exchange on a fresh socket, to learn who the token
/// belongs to before the database exists.
async fn hello_once(url: &str, token: &str) -> Result<ReplicaIdentity, EngineError> {
    let ws = WebSocket::new(url).map_err(|e| EngineError {
        code: "invalid_input".into(),
        message: format!("cannot connect to {url}: {e:?}"),
        field: Some("server_url".into()),
    })?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let hello = sync::encode(&Frame::Hello {
        token: token.to_string(),
        docs: Vec::new(),
    });
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let sock = ws.clone();
        let hello = hello.clone();
        let on_open = Closure::once_into_js(move || {
            let _ = sock.send_with_u8_array(&hello);
        });
        let on_message = Closure::once_into_js(move |e: MessageEvent| {
            let _ = resolve.call1(&JsValue::NULL, &e.data());
        });
        let on_close = Closure::once_into_js(move |e: CloseEvent| {
            let _ = reject.call2(
                &JsValue::NULL,
                &JsValue::from(e.code()),
                &JsValue::from(e.reason()),
            );
        });
        ws.set_onopen(Some(on_open.unchecked_ref()));
        ws.set_onmessage(Some(on_message.unchecked_ref()));
        ws.set_onclose(Some(on_close.unchecked_ref()));
    });
    let answer = JsFuture::from(promise).await;
    ws.set_onopen(None);
    ws.set_onmessage(None);
    ws.set_onclose(None);
    let _ = ws.close();
    let data = answer.map_err(|code| {
        let code = code.as_f64().unwrap_or(0.0) as u16;
        if code >= 4000 {
            SessionError::Refused {
                code: ErrorCode::from_close_code(code),
                message: "the server closed the connection".into(),
            }
            .into()
        } else {
            EngineError::new(
                "network",
                format!("cannot reach the sync server at {url} (code {code})"),
            )
        }
    })?;
    let bytes = Uint8Array::new(&data).to_vec();
    match sync::decode(&bytes) {
        Ok(Frame::Welcome { identity, .. }) => Ok(identity),
        Ok(Frame::Error { code, message }) => Err(SessionError::Refused { code, message }.into()),
        Ok(_) => Err(EngineError::new(
            "sync_protocol",
            "the server did not answer with a Welcome",
        )),
        Err(e) => Err(EngineError::new(
            "sync_protocol",
            format!("undecodable answer: {e}"),
        )),
    }
}

// ------------------------------------------------------------ restore

/// Largest database file [`Terminal::import_database`] accepts.
const MAX_IMPORT_BYTES: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;
/// Bytes copied into OPFS per step of an import, so that a large file
/// never has to sit whole in the worker's memory.
const IMPORT_CHUNK: f64 = 8.0 * 1024.0 * 1024.0;
/// What every SQLite database file starts with.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

thread_local! {
    static IMPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[wasm_bindgen]
extern "C" {
    /// A `Blob` (a `File` is one), read slice by slice.
    #[wasm_bindgen(js_name = Blob)]
    type JsBlob;
    #[wasm_bindgen(method, getter)]
    fn size(this: &JsBlob) -> f64;
    #[wasm_bindgen(method)]
    fn slice(this: &JsBlob, start: f64, end: f64) -> JsBlob;
    #[wasm_bindgen(method, js_name = arrayBuffer)]
    fn array_buffer(this: &JsBlob) -> Promise;
}

/// The bytes of an import, from a `Blob` or from memory.
enum ImportSource {
    Blob(JsBlob),
    Bytes(Uint8Array),
}

impl ImportSource {
    fn from_js(data: &JsValue) -> Result<ImportSource, EngineError> {
        if data.is_instance_of::<JsBlob>() {
            Ok(ImportSource::Blob(data.clone().unchecked_into()))
        } else if data.is_instance_of::<Uint8Array>() {
            Ok(ImportSource::Bytes(data.clone().unchecked_into()))
        } else if data.is_instance_of::<js_sys::ArrayBuffer>() {
            Ok(ImportSource::Bytes(Uint8Array::new(data)))
        } else {
            Err(import_input(
                "must be a Blob, a File, an ArrayBuffer or a Uint8Array",
            ))
        }
    }

    fn size(&self) -> f64 {
        match self {
            ImportSource::Blob(b) => b.size(),
            ImportSource::Bytes(b) => b.length() as f64,
        }
    }

    async fn read(&self, start: f64, end: f64) -> Result<Vec<u8>, EngineError> {
        match self {
            ImportSource::Blob(b) => {
                let buf = JsFuture::from(b.slice(start, end).array_buffer())
                    .await
                    .map_err(|e| {
                        EngineError::new("storage", format!("cannot read the file: {e:?}"))
                    })?;
                Ok(Uint8Array::new(&buf).to_vec())
            }
            ImportSource::Bytes(b) => Ok(b.subarray(start as u32, end as u32).to_vec()),
        }
    }
}

fn import_input(reason: &str) -> EngineError {
    EngineError {
        code: "invalid_input".into(),
        message: format!("the database to import {reason}"),
        field: Some("data".into()),
    }
}

/// Checks the first 100 bytes of a database file (its header) and its size.
fn check_import_header(head: &[u8], size: f64) -> Result<(), EngineError> {
    if head.len() < 100 || !head.starts_with(SQLITE_HEADER) {
        return Err(import_input("is not an SQLite database file"));
    }
    let page = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536.0,
        p => f64::from(p),
    };
    if !(512.0..=65_536.0).contains(&page) || !(page as u32).is_power_of_two() {
        return Err(import_input("has an invalid page size"));
    }
    if size % page != 0.0 {
        return Err(import_input(
            "is truncated (its size is not a whole number of pages)",
        ));
    }
    Ok(())
}

/// Clears the import flag when the import ends, however it ends.
struct ImportGuard;

impl Drop for ImportGuard {
    fn drop(&mut self) {
        IMPORTING.with(|i| i.set(false));
    }
}

#[wasm_bindgen]
impl Terminal {
    /// Restores a database file (a backup made with `export_database`, or
    /// a terminal database prepared elsewhere) into this terminal, which
    /// must not hold a database yet (a new device, or one whose storage
    /// was cleared): a terminal that has data keeps it (`already_paired`).
    ///
    /// `data` is a `Blob` (a `File`, or a `fetch` response's `blob()`),
    /// streamed into OPFS in chunks, or an `ArrayBuffer` / `Uint8Array`.
    /// The file must be a closed SQLite database in rollback-journal mode
    /// (a WAL database must be checkpointed first; its header is reset to
    /// rollback mode) that holds a terminal identity; it is checked before
    /// anything replaces the empty database. Resolves to the restored
    /// terminal's identity; the terminal then syncs as that terminal when
    /// the backup names its server. Restore a backup on one device only:
    /// two devices running the same terminal would fork it.
    pub async fn import_database(&self, data: JsValue) -> Result<JsValue, JsValue> {
        use sqlite_wasm_rs::vfs::VfsFilesManager;

        let source = ImportSource::from_js(&data)?;
        let size = source.size();
        if !(512.0..=MAX_IMPORT_BYTES).contains(&size) {
            return Err(import_input(&format!(
                "must be 512 bytes to {} GiB, not {size} bytes",
                MAX_IMPORT_BYTES / 1_073_741_824.0
            ))
            .into());
        }
        check_import_header(&source.read(0.0, 100.0).await?, size)?;
        if IMPORTING.with(|i| i.replace(true)) {
            return Err(EngineError::new(
                "storage",
                "another import into this terminal is running",
            )
            .into());
        }
        let _guard = ImportGuard;
        let path = {
            let g = self.inner.borrow();
            if g.replica.is_some() {
                return Err(EngineError::new(
                    "already_paired",
                    "this terminal already holds a database; a backup is restored only \
                     into an empty terminal",
                )
                .into());
            }
            g.path.clone()
        };
        ensure_pool().await?;
        let util = POOL
            .with(|p| p.borrow().clone())
            .ok_or_else(|| EngineError::new("storage", "OPFS is not installed"))?;
        let storage = |what: &str, e: &dyn std::fmt::Debug| {
            EngineError::new("storage", format!("import failed ({what}): {e:?}"))
        };
        // The empty database `open` made, and any journal of it.
        for f in [path.clone(), format!("{path}-journal")] {
            util.remove(&f).map_err(|e| storage("remove", &e))?;
        }
        {
            let mut import = util
                .begin_import(&path, size as u64)
                .map_err(|e| storage("begin", &e))?;
            let mut at = 0.0;
            while at < size {
                let end = (at + IMPORT_CHUNK).min(size);
                let chunk = source.read(at, end).await?;
                if chunk.len() as f64 != end - at {
                    return Err(EngineError::new(
                        "storage",
                        "the file changed while it was being imported",
                    )
                    .into());
                }
                import.write(&chunk).map_err(|e| storage("write", &e))?;
                at = end;
            }
            import.finish().map_err(|e| storage("finish", &e))?;
        }
        let discard = |e: EngineError| -> JsValue {
            let _ = util.remove(&path);
            e.into()
        };
        let identity = rusqlite::Connection::open(&path)
            .map_err(|e| EngineError::new("storage", format!("cannot open {path}: {e}")))
            .and_then(|c| sync::stored_identity(&c).map_err(|_| import_input("is damaged")))
            .map_err(discard)?
            .ok_or_else(|| discard(import_input("is not a terminal database (no identity)")))?;
        let replica = open_replica(&path, identity.clone()).map_err(discard)?;
        let server = replica
            .setting(settings::SERVER_URL)
            .map_err(EngineError::from)?;
        let token = replica
            .setting(settings::TOKEN)
            .map_err(EngineError::from)?;
        {
            let mut g = self.inner.borrow_mut();
            g.replica = Some(replica);
            g.server = server;
            g.token = token;
        }
        self.start_sync();
        emit(&self.inner);
        Ok(to_js(&identity)?)
    }
}
