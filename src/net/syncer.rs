//! The sync loops: one task per peer address, pulling that peer's feed (long poll), fetching
//! the documents this node lacks in bounded batches, merging them, and moving the cursor only
//! once they are on disk. Peers come from static config, mDNS, and nodes that pull from us.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use super::client::{ExchangeError, PeerClient};
use super::server::{ATTACHMENTS, FETCH, PULL};
use crate::service::BackOffice;
use crate::sync::exchange::{self, PullProgress};
use crate::sync::peers::{FoundBy, PeerInfo, PeerTable};
use crate::sync::protocol::{
    AttachmentRequest, AttachmentResponse, DocHave, FetchRequest, FetchResponse, Hello,
    PullRequest, PullResponse,
};

/// Documents asked for in one fetch.
pub const FETCH_BATCH: usize = 500;
/// Fetch answers merged at the same time (one writing, the next preparing).
const MERGES_IN_FLIGHT: usize = 2;
/// Feed entries asked for in one pull.
pub const PULL_LIMIT: u32 = crate::sync::protocol::MAX_ENTRIES;
/// Longest pause between attempts to reach a peer that failed: short, because offices reconnect
/// often and a reconnection should show up within seconds.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A peer found by mDNS or learned from its requests is forgotten after failing this long.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// How long a pull waits on the peer for news when we are up to date.
pub const LONG_POLL_MS: u32 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("store: {0}")]
    Store(String),
    #[error("peer sent changes that were refused: {0}")]
    Refused(String),
}

/// Called when an exchange with an mDNS-found peer fails, so discovery can check it is alive.
pub type OnFailure = Arc<dyn Fn(&str) + Send + Sync>;

/// Starts and tracks one loop per peer address.
#[derive(Clone)]
pub struct SyncManager {
    office: BackOffice,
    client: PeerClient,
    me: Hello,
    peers: PeerTable,
    shutdown: watch::Receiver<bool>,
    loops: Arc<Mutex<HashMap<String, tokio::task::JoinHandle<()>>>>,
    /// Node ids with a running loop, so one node reached by two addresses is synced once.
    serving: Arc<Mutex<HashMap<String, String>>>,
    pub on_failure: Arc<Mutex<Option<OnFailure>>>,
}

impl SyncManager {
    pub fn new(
        office: BackOffice,
        client: PeerClient,
        me: Hello,
        peers: PeerTable,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        SyncManager {
            office,
            client,
            me,
            peers,
            shutdown,
            loops: Arc::default(),
            serving: Arc::default(),
            on_failure: Arc::default(),
        }
    }

    /// Adds a peer (no-op if its address already has a loop).
    pub fn add(&self, address: String, found_by: FoundBy) {
        let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        if loops.get(&address).is_some_and(|h| !h.is_finished()) {
            // Already syncing; the more telling way of finding it wins (configured or announced
            // rather than merely learned from its request).
            if found_by != FoundBy::Caller {
                self.peers.update(&address, |p| p.found_by = found_by);
            }
            return;
        }
        self.peers.insert(PeerInfo {
            node_id: String::new(),
            name: String::new(),
            role: String::new(),
            address: address.clone(),
            found_by,
            last_sync: None,
            we_lack: 0,
            they_lack: 0,
            last_error: None,
        });
        let this = self.clone();
        let addr = address.clone();
        loops.insert(
            address,
            tokio::spawn(async move { this.run(addr, found_by).await }),
        );
    }

    /// Forgets a peer that discovery says is gone.
    pub fn remove(&self, address: &str) {
        if let Some(handle) = self
            .loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(address)
        {
            handle.abort();
        }
        self.peers.remove(address);
        self.serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, a| a != address);
    }

    /// Adds peers that pulled from us, so changes flow both ways even with one-sided config.
    pub fn learn_callers(
        &self,
        mut callers: mpsc::UnboundedReceiver<SocketAddr>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    caller = callers.recv() => match caller {
                        Some(addr) => {
                            let address = addr.to_string();
                            let known = this.peers.snapshot().iter().any(|p| p.address == address);
                            if !known {
                                this.add(address, FoundBy::Caller);
                            }
                        }
                        None => return,
                    },
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    pub async fn stop(&self) {
        let handles: Vec<_> = self
            .loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in handles {
            h.abort();
            let _ = h.await;
        }
    }

    async fn run(self, address: String, found_by: FoundBy) {
        let mut backoff = Duration::from_millis(200);
        let mut failing_since: Option<tokio::time::Instant> = None;
        let mut session: Option<Session> = None;
        let mut shutdown = self.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let step = async {
                match &mut session {
                    None => self.hello(&address).await.map(|s| {
                        session = s;
                        true
                    }),
                    Some(s) => self.round(&address, s).await,
                }
            };
            let outcome = tokio::select! {
                r = step => r,
                _ = shutdown.changed() => return,
            };
            match outcome {
                Ok(true) => {
                    backoff = Duration::from_millis(200);
                    failing_since = None;
                }
                Ok(false) => return,
                Err(e) => {
                    // Peers nobody configured are forgotten after failing for a long while
                    // (a laptop that left); until then they are retried every few seconds.
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if found_by != FoundBy::Static && since.elapsed() > FORGET_AFTER {
                        self.remove(&address);
                        return;
                    }
                    tracing::info!(peer = %address, error = %e, "sync exchange failed");
                    self.peers
                        .update(&address, |p| p.last_error = Some(e.to_string()));
                    if let Some(f) = self
                        .on_failure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                    {
                        f(&address);
                    }
                    session = None;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {},
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// First contact: learns who answers at this address and where our cursor into its feed is.
    /// Returns None when this loop should stop (it is ourselves, or the node is already synced
    /// through another address).
    async fn hello(&self, address: &str) -> Result<Option<Session>, SyncError> {
        let req = PullRequest {
            from: self.me.clone(),
            since: u64::MAX,
            limit: 1,
            wait_ms: 0,
        };
        let resp: PullResponse = self
            .client
            .pull(address, PULL, &req, Duration::from_secs(10))
            .await?;
        let node = resp.from.node_id.clone();
        if node == self.me.node_id {
            self.remove(address);
            return Ok(None);
        }
        {
            let mut serving = self.serving.lock().unwrap_or_else(|e| e.into_inner());
            match serving.get(&node) {
                Some(other)
                    if other != address
                        && self
                            .loops
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(other)
                            .is_some_and(|h| !h.is_finished()) =>
                {
                    self.peers.remove(address);
                    return Ok(None);
                }
                _ => {
                    serving.insert(node.clone(), address.to_string());
                }
            }
        }
        self.peers.update(address, |p| {
            p.node_id = node.clone();
            p.name = resp.from.name.clone();
            p.role = resp.from.role.clone();
        });
        let cursor = self
            .office
            .store
            .peer_cursor(&node)
            .map_err(|e| SyncError::Store(e.to_string()))?;
        Ok(Some(Session {
            node_id: node,
            progress: PullProgress { cursor },
            wait_ms: 0,
        }))
    }

    /// One pull and everything it brings. Ok(true): carry on. Documents damaged here are asked
    /// for whole first; a long poll is given up as soon as another is found damaged, so that
    /// it is asked for at once.
    async fn round(&self, address: &str, session: &mut Session) -> Result<bool, SyncError> {
        let mut damage = self.office.store.damage_watch();
        damage.borrow_and_update();
        self.heal(address).await?;
        let req = PullRequest {
            from: self.me.clone(),
            since: session.progress.cursor,
            limit: PULL_LIMIT,
            wait_ms: session.wait_ms,
        };
        let timeout = Duration::from_millis(session.wait_ms as u64) + Duration::from_secs(15);
        let first: PullResponse = tokio::select! {
            first = self.client.pull(address, PULL, &req, timeout) => first?,
            Ok(()) = damage.changed() => return Ok(true),
        };
        let resp = self.pull_the_rest(address, &req, first).await?;
        tracing::debug!(peer = %address, since = req.since, wait_ms = req.wait_ms, entries = resp.entries.len(), remaining = resp.remaining, "pulled");
        if resp.from.node_id != session.node_id {
            // Another node now answers at this address: start over.
            return Err(SyncError::Refused(
                "the node at this address changed".into(),
            ));
        }
        self.peers.update(address, |p| {
            p.we_lack = resp.remaining + resp.entries.len() as u64
        });
        if !resp.entries.is_empty() {
            self.apply(address, &resp).await?;
            session.progress = session.progress.after(&resp);
            let cursor = session.progress.cursor;
            let node = session.node_id.clone();
            let store = self.office.store.clone();
            tokio::task::spawn_blocking(move || store.set_peer_cursor(&node, cursor))
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?
                .map_err(|e| SyncError::Store(e.to_string()))?;
        }
        let now = chrono::Utc::now().to_rfc3339();
        let store = self.office.store.clone();
        let (node, name, at) = (session.node_id.clone(), resp.from.name.clone(), now.clone());
        tokio::task::spawn_blocking(move || store.set_peer_synced(&node, &name, &at))
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?
            .map_err(|e| SyncError::Store(e.to_string()))?;
        self.peers.update(address, |p| {
            p.last_sync = Some(now.clone());
            p.last_error = None;
            p.we_lack = resp.remaining;
        });
        session.wait_ms = if resp.remaining > 0 { 0 } else { LONG_POLL_MS };
        Ok(true)
    }

    /// A long poll is answered at the peer's first change. What changed since (the rest of a
    /// burst, or everything while this node was suspended) is asked for at once, so it is
    /// fetched and merged with the first answer instead of in a round of its own.
    async fn pull_the_rest(
        &self,
        address: &str,
        req: &PullRequest,
        first: PullResponse,
    ) -> Result<PullResponse, SyncError> {
        let Some(last) = first.entries.last().map(|e| e.seq) else {
            return Ok(first);
        };
        if req.wait_ms == 0 || first.remaining > 0 {
            return Ok(first);
        }
        let more = PullRequest {
            since: last,
            wait_ms: 0,
            ..req.clone()
        };
        let then: PullResponse = self
            .client
            .pull(address, PULL, &more, Duration::from_secs(15))
            .await?;
        Ok(if then.from.node_id == first.from.node_id {
            exchange::join_pulls(first, then)
        } else {
            first
        })
    }

    /// Asks the peer for the documents damaged here, whole, and replaces them with its copies.
    async fn heal(&self, address: &str) -> Result<(), SyncError> {
        let asked = exchange::plan_heal(&self.office.store);
        let Some((asked, answer)) = self.fetch(address, asked).await? else {
            return Ok(());
        };
        let store = self.office.store.clone();
        let applied =
            tokio::task::spawn_blocking(move || exchange::apply_heal(&store, &asked, answer))
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?
                .map_err(|e| SyncError::Store(e.to_string()))?;
        if let Some((doc, reason)) = applied.refused.first() {
            return Err(SyncError::Refused(format!("document {doc}: {reason}")));
        }
        if applied.merged > 0 {
            self.office
                .store
                .wait_durable()
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?;
            tracing::info!(peer = %address, replaced = applied.merged, "damaged documents fetched again whole");
        }
        Ok(())
    }

    /// Asks the peer for `asked` (None when there is nothing to ask).
    async fn fetch(
        &self,
        address: &str,
        asked: Vec<DocHave>,
    ) -> Result<Option<(Vec<DocHave>, FetchResponse)>, SyncError> {
        if asked.is_empty() {
            return Ok(None);
        }
        let req = FetchRequest {
            docs: asked.clone(),
        };
        let answer: FetchResponse = self
            .client
            .call(address, FETCH, &req, Duration::from_secs(60))
            .await?;
        Ok(Some((asked, answer)))
    }

    /// Starts merging one fetch answer on the blocking pool and returns at once. The heavy half
    /// of a merge (loading, merging, reading and projecting each document) runs before the
    /// store's write lock, so a second answer's merge prepares while the first one writes.
    fn start_merge(&self, asked: Vec<DocHave>, answer: FetchResponse, as_of: u64) -> MergeTask {
        let deferred = answer.deferred.clone();
        let store = self.office.store.clone();
        let task = tokio::task::spawn_blocking(move || {
            let applied = exchange::apply_fetch(&store, &asked, answer, as_of);
            (asked, applied)
        });
        MergeTask { task, deferred }
    }

    /// Waits for a merge; returns the documents the peer deferred (to ask again) and the
    /// attachments the merged documents refer to that this node lacks.
    async fn finish_merge(merge: MergeTask) -> Result<(Vec<DocHave>, Vec<String>), SyncError> {
        let MergeTask { task, deferred } = merge;
        let (asked, applied) = task.await.map_err(|e| SyncError::Store(e.to_string()))?;
        let applied = applied.map_err(|e| SyncError::Store(e.to_string()))?;
        if let Some((doc, reason)) = applied.refused.first() {
            return Err(SyncError::Refused(format!("document {doc}: {reason}")));
        }
        let again: Vec<DocHave> = asked
            .into_iter()
            .filter(|h| deferred.contains(&h.doc))
            .collect();
        if !again.is_empty() && applied.merged + applied.unchanged == 0 {
            return Err(SyncError::Refused("peer deferred every document".into()));
        }
        Ok((again, applied.missing_attachments))
    }

    /// Fetches and merges the documents of one pull answer, then waits until they are durable.
    /// The next batch is fetched while the current one is merged, so the network and the peer
    /// work while this node writes.
    async fn apply(&self, address: &str, pull: &PullResponse) -> Result<(), SyncError> {
        let started = std::time::Instant::now();
        let store = self.office.store.clone();
        let entries = pull.entries.clone();
        let plan = tokio::task::spawn_blocking(move || exchange::plan_fetch(&store, &entries))
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?
            .map_err(|e| SyncError::Store(e.to_string()))?;
        let planned = started.elapsed();
        let wanted_docs = plan.wanted.len();
        let mut queue: VecDeque<DocHave> = plan.wanted.into();
        let mut missing_attachments = Vec::new();
        let mut current = self.fetch(address, next_batch(&mut queue, true)).await?;
        let first_fetch = started.elapsed();
        // Up to MERGES_IN_FLIGHT answers merge at once while the next one is fetched: one
        // writes under the store's lock while the next prepares on the other cores.
        let mut merging: VecDeque<MergeTask> = VecDeque::new();
        loop {
            if let Some((asked, answer)) = current.take() {
                merging.push_back(self.start_merge(asked, answer, plan.as_of));
            }
            if merging.is_empty() && queue.is_empty() {
                break;
            }
            let wait_for_oldest = merging.len() >= MERGES_IN_FLIGHT || queue.is_empty();
            let oldest = if wait_for_oldest {
                merging.pop_front()
            } else {
                None
            };
            let (next, finished) =
                tokio::join!(self.fetch(address, next_batch(&mut queue, false)), async {
                    match oldest {
                        Some(merge) => Some(Self::finish_merge(merge).await),
                        None => None,
                    }
                });
            if let Some(finished) = finished {
                let (deferred, missing) = finished?;
                missing_attachments.extend(missing);
                queue.extend(deferred);
            }
            current = next?;
        }
        missing_attachments.sort();
        missing_attachments.dedup();
        for hashes in missing_attachments.chunks(20) {
            let resp: AttachmentResponse = self
                .client
                .call(
                    address,
                    ATTACHMENTS,
                    &AttachmentRequest {
                        hashes: hashes.to_vec(),
                    },
                    Duration::from_secs(60),
                )
                .await?;
            for item in resp.items {
                if !self
                    .office
                    .put_attachment_from_peer(&item.hash, &item.bytes)
                    .map_err(|e| SyncError::Store(e.to_string()))?
                {
                    return Err(SyncError::Refused(format!(
                        "attachment {} does not match its hash",
                        item.hash
                    )));
                }
            }
        }
        let merged = started.elapsed();
        self.office
            .store
            .wait_durable()
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?;
        tracing::debug!(
            peer = %address,
            entries = pull.entries.len(),
            fetched = wanted_docs,
            planned_ms = planned.as_secs_f64() * 1e3,
            first_fetch_ms = first_fetch.as_secs_f64() * 1e3,
            merged_ms = merged.as_secs_f64() * 1e3,
            durable_ms = started.elapsed().as_secs_f64() * 1e3,
            "applied a pull"
        );
        Ok(())
    }
}

/// Documents asked for in the first fetch of a pull and in its last: the first answer arrives,
/// and its merge starts, sooner; the last one's write, which nothing overlaps, is shorter.
const EDGE_BATCH: usize = 125;

/// Takes the next fetch's worth of documents off the queue: `EDGE_BATCH` first and last,
/// `FETCH_BATCH` between.
fn next_batch(queue: &mut VecDeque<DocHave>, first: bool) -> Vec<DocHave> {
    let n = if first {
        queue.len().min(EDGE_BATCH)
    } else if queue.len() > EDGE_BATCH && queue.len() <= FETCH_BATCH + EDGE_BATCH {
        // Leave the last EDGE_BATCH for a batch of their own.
        queue.len() - EDGE_BATCH
    } else {
        queue.len().min(FETCH_BATCH)
    };
    queue.drain(..n).collect()
}

/// A fetch answer being merged on the blocking pool.
struct MergeTask {
    task: tokio::task::JoinHandle<(
        Vec<DocHave>,
        Result<exchange::Applied, crate::store::StoreError>,
    )>,
    /// Documents the peer left out of its answer, to ask for again.
    deferred: Vec<String>,
}

struct Session {
    node_id: String,
    progress: PullProgress,
    wait_ms: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_sizes(docs: usize) -> Vec<usize> {
        let mut queue: VecDeque<DocHave> = (0..docs)
            .map(|i| DocHave {
                doc: format!("{i:032x}"),
                heads: Vec::new(),
            })
            .collect();
        let mut sizes = Vec::new();
        let mut first = true;
        while !queue.is_empty() {
            sizes.push(next_batch(&mut queue, first).len());
            first = false;
        }
        sizes
    }

    #[test]
    fn a_pull_is_fetched_in_batches_that_start_and_end_small() {
        let full = batch_sizes(10_000);
        assert_eq!(full.iter().sum::<usize>(), 10_000);
        assert_eq!(full.first(), Some(&EDGE_BATCH));
        assert_eq!(full.last(), Some(&EDGE_BATCH));
        assert!(full.iter().all(|n| (1..=FETCH_BATCH).contains(n)));
        assert_eq!(batch_sizes(100), [100]);
        assert_eq!(batch_sizes(300), [125, 50, 125]);
        assert_eq!(batch_sizes(700), [125, 450, 125]);
        assert!(batch_sizes(0).is_empty());
    }
}
