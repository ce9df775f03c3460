//! An in-process cache of `/recommendations` answers: exact while Postgres LISTEN/NOTIFY says
//! nothing changed, and the fallback while the database cannot be reached.
//!
//! Served rows change only when `db_writing` commits a date, and it notifies `CHANNEL` in that
//! transaction. Every instance listens on its own connection:
//!
//! * **Live** (the LISTEN connection is up): an entry read since the last notification, less than
//!   `TTL` old (for rows changed by hand), is answered without the database. A notification
//!   empties the cache.
//! * **Not live** (the connection is down or not yet up): every request reads the database, and
//!   what it reads is stored. When the connection comes back the generation moves on, so no entry
//!   from before is a live hit again: a publication missed meanwhile cannot leave stale answers.
//! * **Database unavailable** (a read failed to connect or overran its deadline): any entry held
//!   for the key is answered, with its age, rather than a 503, since nothing can be published
//!   while the database is down. For `BREAKER` after such a failure, held entries are answered at
//!   once instead of each request waiting out the deadline again; the breaker closes as soon as
//!   a read succeeds or the LISTEN connection is back (it retries every second), so answers are
//!   exact again within about a second of the database's return. Keys never read get 503.
//!
//! Storage is `moka`, not a hand-written map: entries are now kept past their TTL (they are the
//! outage fallback), so the bound matters. moka bounds the cache by bytes (a weigher) with TinyLFU
//! admission, where the hand-written `RwLock<HashMap>` started over past 100,000 entries and
//! would have emptied the fallback too. A moka lookup costs a few hundred nanoseconds more than the
//! locked map; at the ~50,000 req/s `make bench-serve` measured that is under 2% of one core,
//! well within the HTTP stack's cost per request.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::NaiveDate;

use crate::domain::Model;

mod listen;

/// The channel `db_writing` notifies (`sql/statements/publish_notify.sql` takes it as `$1`): its one
/// definition.
pub const CHANNEL: &str = "adrec_published";
/// A live entry is re-read after this long, for rows changed without `db_writing`.
const TTL: Duration = Duration::from_secs(30);
/// After the database failed a read, held answers are served without retrying it for this long.
const BREAKER: Duration = Duration::from_secs(2);
/// A bound on memory: bodies and keys (1,000 advertisers x 2 models x ~2 KB need 4 MB).
const MAX_BYTES: u64 = 64 << 20;

/// What is cached: (advertiser, model, requested date or the latest).
pub type Key = (String, Model, Option<NaiveDate>);

/// An answer as served: the JSON body, and whether it is the recommendations or a not-found.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub found: bool,
    pub body: Bytes,
}

struct Entry {
    answer: Answer,
    /// The cache generation the answer was read in.
    generation: u64,
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
    /// Answers served from the cache because the database was unavailable.
    pub stale_answers: u64,
    /// True while held answers are served without trying the database (it just failed a read).
    pub database_unavailable: bool,
}

pub struct ReadCache {
    entries: moka::sync::Cache<Key, Arc<Entry>>,
    /// False with `READ_CACHE=false`: nothing is stored or answered.
    enabled: bool,
    /// True while the LISTEN connection is up.
    live: AtomicBool,
    /// Moves on with every notification and every (re)connection of the LISTEN connection; only
    /// entries of the current generation are live hits.
    generation: AtomicU64,
    /// Until when (milliseconds since `epoch`) held answers are served without the database.
    breaker_until: AtomicU64,
    epoch: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    stale_answers: AtomicU64,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new(true)
    }
}

impl ReadCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|k: &Key, e: &Arc<Entry>| {
                    u32::try_from(k.0.len() + e.answer.body.len() + 96).unwrap_or(u32::MAX)
                })
                .build(),
            enabled,
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            breaker_until: AtomicU64::new(0),
            epoch: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_answers: AtomicU64::new(0),
        }
    }

    /// An answer known to be current: live, read since the last notification, within `TTL`.
    pub fn fresh(&self, key: &Key) -> Option<Answer> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let generation = self.generation();
        let hit = self
            .entries
            .get(key)
            .filter(|e| e.generation == generation && e.at.elapsed() < TTL)
            .map(|e| e.answer.clone());
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Take this before reading the database; hand it to `put`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores an answer read from the database in `generation`; one read before the generation
    /// moved on is dropped (it may predate a publication).
    pub fn put(&self, key: Key, generation: u64, answer: Answer) {
        if !self.enabled || generation != self.generation() {
            return;
        }
        let entry = Entry {
            answer,
            generation,
            at: Instant::now(),
        };
        self.entries.insert(key, Arc::new(entry));
    }

    /// The answer held for `key` however old, with its age: for when the database is unavailable.
    pub fn fallback(&self, key: &Key) -> Option<(Answer, Duration)> {
        let entry = self.entries.get(key)?;
        self.stale_answers.fetch_add(1, Ordering::Relaxed);
        Some((entry.answer.clone(), entry.at.elapsed()))
    }

    /// A read just found the database unavailable: open the breaker.
    pub fn database_failed(&self) {
        let until = self.millis() + BREAKER.as_millis() as u64;
        self.breaker_until.fetch_max(until, Ordering::AcqRel);
    }

    /// A read just succeeded: close the breaker.
    pub fn database_answered(&self) {
        if self.breaker_until.load(Ordering::Relaxed) != 0 {
            self.breaker_until.store(0, Ordering::Release);
        }
    }

    /// True shortly after a read found the database unavailable (and neither a read nor the
    /// LISTEN connection has succeeded since): held answers are served without trying it.
    pub fn breaker_open(&self) -> bool {
        self.millis() < self.breaker_until.load(Ordering::Acquire)
    }

    fn millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The cache's state and counters now, for `/metrics`.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            live: self.live.load(Ordering::Acquire),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.entry_count(),
            resets: self.generation.load(Ordering::Acquire),
            stale_answers: self.stale_answers.load(Ordering::Relaxed),
            database_unavailable: self.breaker_open(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        ("A".into(), Model::TopCtr, None)
    }

    fn answer(body: &'static str) -> Answer {
        Answer {
            found: true,
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    fn put(cache: &ReadCache, body: &'static str) {
        cache.put(key(), cache.generation(), answer(body));
    }

    #[test]
    fn live_hits_only_while_listening_and_until_a_notification() {
        let cache = ReadCache::default();
        put(&cache, "x");
        assert!(cache.fresh(&key()).is_none(), "not live yet");
        cache.connected();
        assert!(cache.fresh(&key()).is_none(), "read before the connection");
        put(&cache, "x");
        assert_eq!(cache.fresh(&key()), Some(answer("x")));
        cache.published();
        assert!(cache.fresh(&key()).is_none(), "a notification empties it");
        assert!(cache.fallback(&key()).is_none(), "and its answers are gone");
    }

    #[test]
    fn a_lost_connection_keeps_answers_for_outages_but_never_as_live_hits_again() {
        let cache = ReadCache::default();
        cache.connected();
        put(&cache, "old");
        cache.disconnected();
        assert!(cache.fresh(&key()).is_none());
        assert_eq!(cache.fallback(&key()).unwrap().0, answer("old"));
        // Reads while down are stored (the freshest fallback) ...
        put(&cache, "newer");
        assert_eq!(cache.fallback(&key()).unwrap().0, answer("newer"));
        // ... but after reconnecting (a publication may have been missed) only a new read is live.
        cache.connected();
        assert!(cache.fresh(&key()).is_none());
        assert_eq!(cache.fallback(&key()).unwrap().0, answer("newer"));
        put(&cache, "current");
        assert_eq!(cache.fresh(&key()), Some(answer("current")));
    }

    #[test]
    fn an_answer_read_before_a_publication_is_not_stored() {
        let cache = ReadCache::default();
        cache.connected();
        let before = cache.generation();
        cache.published(); // a publication lands while the request reads the database
        cache.put(key(), before, answer("x"));
        assert!(cache.fresh(&key()).is_none());
        assert!(cache.fallback(&key()).is_none());
    }

    #[test]
    fn the_breaker_opens_on_failure_and_closes_on_reconnection() {
        let cache = ReadCache::default();
        assert!(!cache.breaker_open());
        cache.database_failed();
        assert!(cache.breaker_open());
        cache.connected();
        assert!(!cache.breaker_open());
    }

    #[test]
    fn a_disabled_cache_holds_nothing() {
        let cache = ReadCache::new(false);
        cache.connected();
        put(&cache, "x");
        assert!(cache.fresh(&key()).is_none());
        assert!(cache.fallback(&key()).is_none());
    }
}
