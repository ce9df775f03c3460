//! The read cache's LISTEN connection: kept open for as long as the process runs, it empties
//! the cache on every publication and tells the cache whether its entries may be live hits.
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use tokio_postgres::AsyncMessage;

use super::{CHANNEL, ReadCache};
use crate::db::Connector;

impl ReadCache {
    /// A notification: what is held is known to be stale.
    pub(super) fn published(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// The LISTEN connection came up: what is held may predate a publication missed while it was
    /// down, so it is kept only as the outage fallback; the database is evidently reachable.
    pub(super) fn connected(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.breaker_until.store(0, Ordering::Release);
        self.live.store(true, Ordering::Release);
    }

    pub(super) fn disconnected(&self) {
        self.live.store(false, Ordering::Release);
    }

    /// Keeps a LISTEN connection open for as long as the process runs, reconnecting after errors.
    pub async fn listen(&self, mut db: Connector) {
        // Notice a dead link within about 20 s even when no packet says so (a partition).
        db.config
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(20));
        loop {
            if let Err(e) = self.listen_once(&db).await {
                tracing::warn!(error = %crate::telemetry::chain(&*e), "read cache not live: LISTEN connection lost");
            }
            self.disconnected();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self, db: &Connector) -> anyhow::Result<()> {
        let (client, mut conn) = db.config.connect(db.tls.clone()).await?;
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        // The one statement not in sql/statements/: LISTEN takes the channel as a name, not as a
        // parameter, so it is built from CHANNEL, the channel's one definition.
        let sql = format!("LISTEN {CHANNEL}");
        let listen = client.batch_execute(&sql);
        // The connection must be driven while the LISTEN runs.
        tokio::pin!(listen);
        loop {
            tokio::select! {
                r = &mut listen => { r?; break; }
                m = messages.next() => match m {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => anyhow::bail!("connection closed"),
                },
            }
        }
        self.connected();
        tracing::debug!("read cache live");
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(n) = message? {
                tracing::debug!(date = n.payload(), "published: read cache emptied");
                self.published();
            }
        }
        anyhow::bail!("connection closed")
    }
}
