//! The WebSocket sync endpoint (`GET /sync`), as `PROTOCOL.md` specifies it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{ActorId, Change, ChangeHash};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use store_core::document::replica_of_actor;
use store_core::sync::{self, DocSummary, ErrorCode, Frame, Scope};
use store_core::{Command, DocId, Env, Outcome, ReplicaIdentity, SystemEnv};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use crate::hub::Stored;
use crate::state::AppState;
use crate::store::Merged;
use crate::terminals;

/// How long a terminal has to send its `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Upgrades to a WebSocket, refusing messages over the frame limit.
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let max = state.limits.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let mut conn = Conn { socket, seq: 0 };
            conn.run(state).await;
        })
}

/// Executes a command on the server's replica and pushes the changes it
/// made to the connected terminals (back office edits of the catalogue).
pub async fn execute_and_publish(
    state: &AppState,
    user: &'static str,
    cmd: Command,
) -> Result<Outcome, ApiError> {
    let (outcome, stored) = state
        .store
        .write(move |r| -> Result<_, store_core::CommandError> {
            let before: HashMap<DocId, Vec<ChangeHash>> = r
                .summaries(|_| true)
                .map_err(|e| store_core::CommandError::Storage(e.to_string()))?
                .into_iter()
                .collect();
            let outcome = r.execute(user, &cmd)?;
            let mut stored = Vec::new();
            for (doc, heads) in r
                .summaries(|_| true)
                .map_err(|e| store_core::CommandError::Storage(e.to_string()))?
            {
                let old = before.get(&doc).cloned().unwrap_or_default();
                if old != heads {
                    let changes = r
                        .changes_since(&doc, &old)
                        .map_err(|e| store_core::CommandError::Storage(e.to_string()))?;
                    stored.push(Stored {
                        doc,
                        changes: Arc::new(changes),
                        heads: Arc::new(heads),
                        origin: None,
                    });
                }
            }
            Ok((outcome, stored))
        })
        .await??;
    for s in stored {
        state.hub.publish(s);
    }
    Ok(outcome)
}

/// Why a connection ends.
struct Close(ErrorCode, String);

struct Conn {
    socket: WebSocket,
    seq: u64,
}

/// A token bucket: `rate` frames a second, `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Conn {
    async fn send(&mut self, frame: &Frame) -> Result<(), ()> {
        self.socket
            .send(Message::Binary(sync::encode(frame).into()))
            .await
            .map_err(|_| ())
    }

    async fn close(&mut self, state: &AppState, Close(code, message): Close) {
        state.metrics.protocol_error(&format!("{code:?}"));
        tracing::info!(?code, %message, "closing sync connection");
        let _ = self
            .send(&Frame::Error {
                code,
                message: message.clone(),
            })
            .await;
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code: code.close_code(),
                reason: message.chars().take(120).collect::<String>().into(),
            })))
            .await;
    }

    async fn run(&mut self, state: AppState) {
        let (identity, scope, hello_docs) = match self.hello(&state).await {
            Ok(v) => v,
            Err(close) => return self.close(&state, close).await,
        };
        let terminal = identity.replica_id.clone();
        tracing::info!(%terminal, "terminal connected");
        state.metrics.connected_terminals.inc();
        let result = self.session(&state, identity, scope, hello_docs).await;
        state.metrics.connected_terminals.dec();
        if let Err(close) = result {
            self.close(&state, close).await;
        }
        let now = SystemEnv.now_ms();
        let _ = state
            .store
            .write(move |r| {
                r.connection().execute(
                    "UPDATE terminals SET last_seen = ?2 WHERE id = ?1",
                    rusqlite::params![terminal, now],
                )
            })
            .await;
    }

    async fn next_frame(&mut self) -> Result<Option<Frame>, Close> {
        loop {
            match self.socket.recv().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Binary(bytes))) => {
                    return sync::decode(&bytes)
                        .map(Some)
                        .map_err(|e| Close(e.code(), e.to_string()));
                }
                Some(Ok(Message::Text(_))) => {
                    return Err(Close(
                        ErrorCode::Malformed,
                        "text messages are not frames".into(),
                    ));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(e)) => {
                    let msg = e.to_string();
                    let code = if msg.contains("too long") || msg.contains("size") {
                        ErrorCode::TooLarge
                    } else {
                        ErrorCode::Malformed
                    };
                    return Err(Close(code, msg));
                }
            }
        }
    }

    async fn hello(
        &mut self,
        state: &AppState,
    ) -> Result<(ReplicaIdentity, Scope, Vec<DocSummary>), Close> {
        let frame = tokio::time::timeout(HELLO_TIMEOUT, self.next_frame())
            .await
            .map_err(|_| Close(ErrorCode::Protocol, "no Hello within 10 s".into()))??;
        let Some(Frame::Hello { token, docs }) = frame else {
            return Err(Close(
                ErrorCode::Protocol,
                "the first frame must be Hello".into(),
            ));
        };
        if docs.len() > sync::MAX_DOCS {
            return Err(Close(
                ErrorCode::TooLarge,
                "too many documents in Hello".into(),
            ));
        }
        let identity = state
            .store
            .read(move |c| terminals::authenticate(c, &token))
            .await
            .map_err(|e| Close(ErrorCode::Internal, e.to_string()))?
            .ok_or_else(|| Close(ErrorCode::Unauthorized, "unknown or revoked token".into()))?;
        let branch = identity.branch_id.clone();
        let branch_terminals = state
            .store
            .read(move |c| terminals::of_branch(c, &branch))
            .await
            .map_err(|e| Close(ErrorCode::Internal, e.to_string()))?;
        let scope = Scope {
            terminal: identity.replica_id.clone(),
            branch: identity.branch_id.clone(),
            branch_terminals,
        };
        Ok((identity, scope, docs))
    }

    async fn session(
        &mut self,
        state: &AppState,
        identity: ReplicaIdentity,
        scope: Scope,
        hello_docs: Vec<DocSummary>,
    ) -> Result<(), Close> {
        // Subscribe before reading the database: nothing stored in between is missed.
        let mut hub = state.hub.subscribe();
        let theirs: HashMap<DocId, (Vec<ChangeHash>, Vec<ChangeHash>)> = hello_docs
            .iter()
            .filter_map(|d| {
                Some((
                    DocId::parse(&d.doc).ok()?,
                    (sync::from_wire(&d.heads), sync::from_wire(&d.synced)),
                ))
            })
            .collect();
        let read_scope = scope.clone();
        let (summaries, initial) = state
            .store
            .write(move |r| -> Result<_, store_core::ApplyError> {
                let summaries = r.summaries(|d| read_scope.may_read(d))?;
                let mut initial = Vec::new();
                for (doc, heads) in &summaries {
                    let (th, ts) = theirs.get(doc).cloned().unwrap_or_default();
                    let changes = r.changes_for_peer(doc, &th, &ts)?;
                    if !changes.is_empty() {
                        initial.push((doc.clone(), changes, heads.clone()));
                    }
                }
                Ok((summaries, initial))
            })
            .await
            .map_err(|_| Close(ErrorCode::Internal, "store stopped".into()))?
            .map_err(|e| Close(ErrorCode::Internal, e.to_string()))?;
        let welcome = Frame::Welcome {
            identity: identity.clone(),
            docs: summaries
                .iter()
                .map(|(d, h)| DocSummary {
                    doc: d.to_string(),
                    heads: sync::to_wire(h),
                    synced: Vec::new(),
                })
                .collect(),
        };
        self.send(&welcome).await.map_err(|_| gone())?;
        for (doc, changes, heads) in initial {
            for f in sync::changes_frames(&mut self.seq, &doc, changes, &heads) {
                self.send(&f).await.map_err(|_| gone())?;
            }
        }
        self.send(&Frame::Synced).await.map_err(|_| gone())?;

        let mut bucket = Bucket {
            tokens: state.limits.burst as f64,
            rate: state.limits.frames_per_sec as f64,
            burst: state.limits.burst as f64,
            last: Instant::now(),
        };
        loop {
            tokio::select! {
                frame = self.next_frame() => {
                    let Some(frame) = frame? else { return Ok(()) };
                    // Only Changes cost a token: they are the work a terminal
                    // asks of the store. Acks answer the server's own pushes,
                    // whose number the server decides (a branch of 100
                    // terminals selling once a second sends each ~99 a
                    // second); counting them would disconnect terminals for
                    // the fan-out of their branch.
                    if matches!(frame, Frame::Changes { .. }) && !bucket.take() {
                        return Err(Close(ErrorCode::RateLimited, "too many frames; slow down and reconnect".into()));
                    }
                    tracing::debug!(frame = frame.name(), "frame received");
                    match frame {
                        Frame::Changes { seq, doc, changes, .. } => {
                            let ack = self.merge(state, &scope, seq, &doc, changes).await?;
                            self.send(&ack).await.map_err(|_| gone())?;
                        }
                        Frame::Ack { .. } => {}
                        other => {
                            return Err(Close(ErrorCode::Protocol, format!("unexpected frame {}", other.name())));
                        }
                    }
                }
                stored = hub.recv() => match stored {
                    Ok(s) => {
                        if s.origin.as_deref() != Some(scope.terminal.as_str()) && scope.may_read(&s.doc) {
                            for f in sync::changes_frames(&mut self.seq, &s.doc, (*s.changes).clone(), &s.heads) {
                                self.send(&f).await.map_err(|_| gone())?;
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        return Err(Close(ErrorCode::Internal, format!("fell {n} updates behind; reconnect to resync")));
                    }
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
        }
    }

    /// Stores a terminal's changes of one document and answers with the Ack.
    async fn merge(
        &mut self,
        state: &AppState,
        scope: &Scope,
        seq: u64,
        doc: &str,
        changes: Vec<Vec<u8>>,
    ) -> Result<Frame, Close> {
        let doc = DocId::parse(doc).map_err(|e| Close(ErrorCode::Malformed, e.to_string()))?;
        if !scope.may_write(&doc) {
            return Err(Close(
                ErrorCode::Forbidden,
                format!("{} may not write {doc}", scope.terminal),
            ));
        }
        if changes.len() > sync::MAX_CHANGES_PER_FRAME {
            return Err(Close(
                ErrorCode::TooLarge,
                "too many changes in one frame".into(),
            ));
        }
        // The actor of every change must be an installation of the sending
        // terminal: a terminal cannot write in another's name.
        let genesis = ActorId::from(b"genesis".as_slice());
        let mut forged = Vec::new();
        let mut accepted = Vec::new();
        let mut index = Vec::new();
        let mut commit_times = Vec::new();
        for (i, bytes) in changes.into_iter().enumerate() {
            match Change::from_bytes(bytes.clone()) {
                Ok(c)
                    if *c.actor_id() != genesis
                        && replica_of_actor(c.actor_id()).as_deref()
                            != Some(scope.terminal.as_str()) =>
                {
                    forged.push((
                        i,
                        format!("actor {} is not terminal {}", c.actor_id(), scope.terminal),
                    ));
                }
                Ok(c) => {
                    commit_times.push(c.timestamp());
                    accepted.push(bytes);
                    index.push(i);
                }
                // Malformed bytes: let the store reject and report them.
                Err(_) => {
                    accepted.push(bytes);
                    index.push(i);
                }
            }
        }
        let started = Instant::now();
        state.metrics.store_queue.set(state.store.queued() as i64);
        // Group commit: this frame may share its transaction with other
        // terminals' frames; the result comes back after the commit, so the
        // Ack below still means "durable".
        let merged = state
            .store
            .merge(doc.clone(), accepted)
            .await
            .map_err(|_| Close(ErrorCode::Internal, "store stopped".into()))?
            .map_err(|e| Close(ErrorCode::Internal, e))?;
        let Merged {
            mut report,
            heads,
            stored,
            ..
        } = merged;
        state
            .metrics
            .merge_seconds
            .observe(started.elapsed().as_secs_f64());
        // Report indices relative to the frame the terminal sent.
        for r in &mut report.rejected {
            r.0 = index[r.0];
        }
        report.rejected.extend(forged);
        report.rejected.sort();
        state.metrics.changes_merged.inc_by(report.stored as u64);
        state
            .metrics
            .changes_rejected
            .inc_by(report.rejected.len() as u64);
        if let Some(latest) = commit_times.iter().max() {
            let lag = SystemEnv.now_ms() - latest * 1000;
            state
                .metrics
                .sync_lag_ms
                .get_or_create(&vec![("terminal", scope.terminal.clone())])
                .set(lag.max(0));
        }
        if report.stored > 0 && !stored.is_empty() {
            state.hub.publish(Stored {
                doc: doc.clone(),
                changes: Arc::new(stored),
                heads: Arc::new(heads.clone()),
                origin: Some(scope.terminal.clone()),
            });
        }
        tracing::debug!(%doc, seq, stored = report.stored, rejected = report.rejected.len(), "merged");
        Ok(sync::ack(seq, &doc, &report, &heads))
    }
}

fn gone() -> Close {
    Close(ErrorCode::Internal, "connection lost".into())
}
