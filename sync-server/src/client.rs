//! The native sync client: a terminal's side of the protocol over a real
//! WebSocket. The browser client speaks the same frames.

use std::collections::HashMap;
use std::time::Duration;

use automerge::ChangeHash;
use futures_util::{SinkExt, StreamExt};
use store_core::sync::{self, DocSummary, ErrorCode, Frame, Scope};
use store_core::{DocId, Replica};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket failed.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused us.
    #[error("server refused: {code:?}: {message}")]
    Refused {
        /// Error code.
        code: ErrorCode,
        /// Detail.
        message: String,
    },
    /// The server broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The local database failed.
    #[error("local store: {0}")]
    Local(String),
    /// The server went quiet.
    #[error("timed out")]
    Timeout,
    /// The server closed the connection.
    #[error("connection closed")]
    Closed,
}

impl From<store_core::ApplyError> for ClientError {
    fn from(e: store_core::ApplyError) -> Self {
        Self::Local(e.to_string())
    }
}

/// What one session exchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Changes sent to the server.
    pub sent: usize,
    /// Changes received and stored locally.
    pub received: usize,
    /// Changes the server refused, with reasons.
    pub refused: Vec<String>,
    /// `Ack`s received: frames the server has stored durably.
    pub acks: usize,
}

/// An open sync session with the server.
pub struct Session {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    peer: String,
    scope: Scope,
    seq: u64,
    /// Frames sent and not yet acknowledged.
    pending: HashMap<u64, DocId>,
    /// Per document, the heads the server has (as last reported) or that we
    /// already sent it.
    server_has: HashMap<DocId, Vec<ChangeHash>>,
    synced_from_server: bool,
    /// Counts for this session.
    pub stats: SyncStats,
}

impl Session {
    /// Connects to `url` (`ws://host:port/sync`), says Hello with `token`,
    /// reads the Welcome and sends what the server lacks.
    pub async fn open(
        replica: &mut Replica,
        url: &str,
        token: &str,
    ) -> Result<Session, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let peer = url.to_string();
        let synced = replica.synced_heads(&peer)?;
        let docs = replica
            .summaries(|_| true)?
            .into_iter()
            .map(|(doc, heads)| DocSummary {
                synced: sync::to_wire(
                    synced
                        .get(&doc.to_string())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                ),
                doc: doc.to_string(),
                heads: sync::to_wire(&heads),
            })
            .collect();
        let me = replica.identity().clone();
        let mut s = Session {
            ws,
            peer,
            scope: Scope {
                terminal: me.replica_id.clone(),
                branch: me.branch_id.clone(),
                branch_terminals: Default::default(),
            },
            seq: 0,
            pending: HashMap::new(),
            server_has: HashMap::new(),
            synced_from_server: false,
            stats: SyncStats::default(),
        };
        s.send(&Frame::Hello {
            token: token.to_string(),
            docs,
        })
        .await?;
        let welcome = tokio::time::timeout(Duration::from_secs(30), s.recv())
            .await
            .map_err(|_| ClientError::Timeout)??;
        match welcome {
            Frame::Welcome { identity, docs } => {
                if identity != me {
                    return Err(ClientError::Protocol(format!(
                        "token belongs to {}, this database to {}",
                        identity.replica_id, me.replica_id
                    )));
                }
                for d in docs {
                    if let Ok(doc) = DocId::parse(&d.doc) {
                        s.server_has.insert(doc, sync::from_wire(&d.heads));
                    }
                }
            }
            Frame::Error { code, message } => return Err(ClientError::Refused { code, message }),
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected Welcome, got {other:?}"
                )));
            }
        }
        s.push_local(replica).await?;
        Ok(s)
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), ClientError> {
        self.ws
            .send(Message::Binary(sync::encode(frame).into()))
            .await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Frame, ClientError> {
        loop {
            match self.ws.next().await {
                None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Binary(b))) => {
                    return sync::decode(&b).map_err(|e| ClientError::Protocol(e.to_string()));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(match frame {
                        Some(f) if u16::from(f.code) >= 4000 => ClientError::Refused {
                            code: code_of(u16::from(f.code)),
                            message: f.reason.to_string(),
                        },
                        _ => ClientError::Closed,
                    });
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends every local change of the documents this terminal may write
    /// that the server is not known to have.
    pub async fn push_local(&mut self, replica: &mut Replica) -> Result<usize, ClientError> {
        let synced = replica.synced_heads(&self.peer)?;
        let scope = self.scope.clone();
        let mut sent = 0;
        for (doc, heads) in replica.summaries(|d| scope.may_write(d))? {
            let server = self.server_has.get(&doc).cloned().unwrap_or_default();
            if heads.iter().all(|h| server.contains(h)) {
                continue;
            }
            let base = synced.get(&doc.to_string()).cloned().unwrap_or_default();
            let changes = replica.changes_for_peer(&doc, &server, &base)?;
            if changes.is_empty() {
                continue;
            }
            sent += changes.len();
            for f in sync::changes_frames(&mut self.seq, &doc, changes, &heads) {
                if let Frame::Changes { seq, .. } = &f {
                    self.pending.insert(*seq, doc.clone());
                }
                self.send(&f).await?;
            }
            // Optimistic: do not send these again while waiting for the Ack.
            self.server_has.insert(doc, heads);
        }
        self.stats.sent += sent;
        Ok(sent)
    }

    /// Handles one incoming frame, waiting at most `wait`. Returns `false`
    /// when nothing arrived in time.
    pub async fn step(
        &mut self,
        replica: &mut Replica,
        wait: Duration,
    ) -> Result<bool, ClientError> {
        let frame = match tokio::time::timeout(wait, self.recv()).await {
            Err(_) => return Ok(false),
            Ok(f) => f?,
        };
        match frame {
            Frame::Changes {
                seq,
                doc,
                changes,
                heads,
            } => {
                let doc_id =
                    DocId::parse(&doc).map_err(|e| ClientError::Protocol(e.to_string()))?;
                let report = replica.apply_changes(&doc_id, changes)?;
                self.stats.received += report.stored;
                let heads = sync::from_wire(&heads);
                replica.set_synced(&self.peer, &doc_id, &heads)?;
                let mine = replica.heads(&doc_id)?;
                let entry = self.server_has.entry(doc_id.clone()).or_default();
                for h in heads {
                    if !entry.contains(&h) {
                        entry.push(h);
                    }
                }
                let ack = sync::ack(seq, &doc_id, &report, &mine);
                self.send(&ack).await?;
            }
            Frame::Ack {
                seq,
                doc,
                rejected,
                heads,
                ..
            } => {
                self.pending.remove(&seq);
                self.stats.acks += 1;
                let doc_id =
                    DocId::parse(&doc).map_err(|e| ClientError::Protocol(e.to_string()))?;
                self.stats.refused.extend(
                    rejected
                        .into_iter()
                        .map(|(i, r)| format!("{doc}[{i}]: {r}")),
                );
                let heads = sync::from_wire(&heads);
                replica.set_synced(&self.peer, &doc_id, &heads)?;
                self.server_has.insert(doc_id, heads);
            }
            Frame::Synced => self.synced_from_server = true,
            Frame::Error { code, message } => return Err(ClientError::Refused { code, message }),
            other => return Err(ClientError::Protocol(format!("unexpected {other:?}"))),
        }
        Ok(true)
    }

    /// Processes frames until the server has sent everything it had, every
    /// frame we sent is acknowledged, and nothing arrives for `quiet`.
    pub async fn settle(
        &mut self,
        replica: &mut Replica,
        quiet: Duration,
        limit: Duration,
    ) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if tokio::time::Instant::now() > deadline {
                return Err(ClientError::Timeout);
            }
            let got = self.step(replica, quiet).await?;
            if !got && self.synced_from_server && self.pending.is_empty() {
                return Ok(());
            }
        }
    }

    /// Whether every frame sent was acknowledged and the initial exchange is done.
    pub fn is_idle(&self) -> bool {
        self.synced_from_server && self.pending.is_empty()
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn code_of(close: u16) -> ErrorCode {
    match close {
        4401 => ErrorCode::Unauthorized,
        4403 => ErrorCode::Forbidden,
        4409 => ErrorCode::Protocol,
        4413 => ErrorCode::TooLarge,
        4429 => ErrorCode::RateLimited,
        4500 => ErrorCode::Internal,
        _ => ErrorCode::Malformed,
    }
}

/// Connects, exchanges everything both sides lack, and disconnects.
pub async fn sync_once(
    replica: &mut Replica,
    url: &str,
    token: &str,
) -> Result<SyncStats, ClientError> {
    let mut s = Session::open(replica, url, token).await?;
    s.settle(
        replica,
        Duration::from_millis(150),
        Duration::from_secs(120),
    )
    .await?;
    let stats = s.stats.clone();
    s.close().await;
    Ok(stats)
}
