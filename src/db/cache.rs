//! An in-process cache of `/recommendations` answers, kept exact by Postgres LISTEN/NOTIFY.
//!
//! Served rows change only when `db_writing` commits a date, and it sends `NOTIFY
//! adrec_published` in that transaction. Every instance listens on its own connection and empties
//! its cache when told. While that connection is down nothing is cached, so a missed notification
//! can never serve stale data; entries also expire after `TTL`, for rows changed by hand.
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio_postgres::AsyncMessage;
use warp::http::StatusCode;

use super::Connector;

pub const CHANNEL: &str = "adrec_published";
const TTL: Duration = Duration::from_secs(30);
/// A bound on memory: past it the cache starts over (1,000 advertisers x 2 models need 2,000).
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone)]
pub struct Cached {
    pub status: StatusCode,
    pub body: Bytes,
    at: Instant,
}

/// The cache's state and counters at one moment.
#[derive(Clone, Copy, Debug)]
pub struct CacheStats {
    pub live: bool,
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    /// Times it was emptied: publications, and its connection lost or regained.
    pub resets: u64,
}

#[derive(Default)]
pub struct ReadCache {
    entries: RwLock<HashMap<String, Cached>>,
    /// True while the LISTEN connection is up.
    live: AtomicBool,
    /// Bumped on every reset, so an answer read before a publication is never stored after it.
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ReadCache {
    pub fn get(&self, key: &str) -> Option<Cached> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().expect("poisoned");
        let hit = entries.get(key).filter(|c| c.at.elapsed() < TTL).cloned();
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Its state and counters, for `/metrics`.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            live: self.live.load(Ordering::Acquire),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.read().expect("poisoned").len() as u64,
            resets: self.generation.load(Ordering::Acquire),
        }
    }

    /// Take this before reading the database; hand it to `put`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn put(&self, key: String, generation: u64, status: StatusCode, body: Bytes) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().expect("poisoned");
        if generation != self.generation.load(Ordering::Acquire) {
            return; // read before a publication: possibly stale
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Cached {
                status,
                body,
                at: Instant::now(),
            },
        );
    }

    fn reset(&self, live: bool) {
        let mut entries = self.entries.write().expect("poisoned");
        entries.clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.live.store(live, Ordering::Release);
    }

    /// Keeps a LISTEN connection open for as long as the process runs, reconnecting after errors.
    pub async fn listen(&self, db: Connector) {
        loop {
            if let Err(e) = self.listen_once(&db).await {
                tracing::warn!(error = %crate::error::chain(&*e), "read cache off: LISTEN connection lost");
            }
            self.reset(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self, db: &Connector) -> anyhow::Result<()> {
        let (client, mut conn) = db.config.connect(db.tls.clone()).await?;
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
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
        self.reset(true);
        tracing::debug!("read cache on");
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(n) = message? {
                tracing::debug!(date = n.payload(), "published: read cache emptied");
                self.reset(true);
            }
        }
        anyhow::bail!("connection closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(cache: &ReadCache, generation: u64) {
        cache.put(
            "k".into(),
            generation,
            StatusCode::OK,
            Bytes::from_static(b"x"),
        );
    }

    #[test]
    fn nothing_is_cached_while_not_listening() {
        let cache = ReadCache::default();
        put(&cache, cache.generation());
        assert!(cache.get("k").is_none());
        cache.reset(true);
        put(&cache, cache.generation());
        assert_eq!(cache.get("k").unwrap().body, Bytes::from_static(b"x"));
        cache.reset(true);
        assert!(cache.get("k").is_none(), "a notification empties it");
        put(&cache, cache.generation());
        cache.reset(false);
        put(&cache, cache.generation());
        assert!(
            cache.get("k").is_none(),
            "a lost connection empties and disarms it"
        );
    }

    #[test]
    fn an_answer_read_before_a_publication_is_not_stored() {
        let cache = ReadCache::default();
        cache.reset(true);
        let before = cache.generation();
        cache.reset(true); // a publication lands while the request reads the database
        put(&cache, before);
        assert!(cache.get("k").is_none());
    }
}
