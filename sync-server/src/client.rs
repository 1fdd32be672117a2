//! The native sync client: a terminal's side of the protocol over a real
//! WebSocket. The browser client speaks the same frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use store_core::Replica;
pub use store_core::sync::SyncStats;
use store_core::sync::{self, ClientSession, ErrorCode, Frame, SessionError};
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

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Refused { code, message } => Self::Refused { code, message },
            SessionError::Protocol(m) => Self::Protocol(m),
            other => Self::Local(other.to_string()),
        }
    }
}

/// An open sync session with the server: [`ClientSession`] driven over a
/// tokio-tungstenite WebSocket.
pub struct Session {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    inner: ClientSession,
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
        let inner = ClientSession::new(replica, url);
        let hello = inner.hello(replica, token)?;
        let mut s = Session { ws, inner };
        s.send(&hello).await?;
        while !s.inner.is_welcomed() {
            let frame = tokio::time::timeout(Duration::from_secs(30), s.recv())
                .await
                .map_err(|_| ClientError::Timeout)??;
            let out = s.inner.on_frame(replica, frame)?;
            s.send_all(out).await?;
        }
        Ok(s)
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), ClientError> {
        self.ws
            .send(Message::Binary(sync::encode(frame).into()))
            .await?;
        Ok(())
    }

    async fn send_all(&mut self, frames: Vec<Frame>) -> Result<(), ClientError> {
        for f in &frames {
            self.send(f).await?;
        }
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
                            code: ErrorCode::from_close_code(u16::from(f.code)),
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
    /// that the server is not known to have; returns how many.
    pub async fn push_local(&mut self, replica: &mut Replica) -> Result<usize, ClientError> {
        let before = self.inner.stats.sent;
        let frames = self.inner.push_local(replica)?;
        self.send_all(frames).await?;
        Ok(self.inner.stats.sent - before)
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
        let out = self.inner.on_frame(replica, frame)?;
        self.send_all(out).await?;
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
            if !got && self.inner.is_idle() {
                return Ok(());
            }
        }
    }

    /// Whether every frame sent was acknowledged and the initial exchange is done.
    pub fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    /// What this session exchanged so far.
    pub fn stats(&self) -> &SyncStats {
        &self.inner.stats
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
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
    let stats = s.stats().clone();
    s.close().await;
    Ok(stats)
}
