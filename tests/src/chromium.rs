//! Headless Chromium driven through chromedriver (WebDriver), as the browser
//! tests and the browser benchmark run it: Debian's `chromium` and
//! `chromium-driver`, a fresh profile per session.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// A WebDriver session on a headless Chromium of its own.
pub struct Session {
    /// The WebDriver client.
    pub client: Client,
    /// The chromedriver process; the caller decides how to end it.
    pub driver: Child,
    /// The browser profile, removed when dropped.
    pub profile: tempfile::TempDir,
}

/// Starts chromedriver on a free port and opens a session with a fresh
/// profile; `script` bounds each script the page runs, `page_load` each load.
pub async fn start(script: Duration, page_load: Duration) -> Result<Session, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("chromedriver (apt-get install chromium-driver): {e}"))?;
    let session = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("chromedriver did not start".to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| format!("WebDriver session: {e}"))?;
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(script),
                Some(page_load),
                None,
            ))
            .await
            .map_err(|e| e.to_string())?;
        Ok((client, profile))
    }
    .await;
    match session {
        Ok((client, profile)) => Ok(Session {
            client,
            driver,
            profile,
        }),
        Err(e) => {
            let _ = driver.kill();
            let _ = driver.wait();
            Err(e)
        }
    }
}
