//! Group commit: a write is acknowledged only after a flush that started after it was
//! applied. Writers that arrive while a flush runs share the next one, so one fsync covers many
//! writes under load and none is acknowledged early.
//!
//! A writer announces itself before it applies its change (`WriteInFlight`) and asks for a
//! flush once applied. A flush waits for the writers still applying (at most `COALESCE`), so it
//! covers them too; with no writer in flight it starts at once, so a lone write never waits.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// The longest a flush waits for writers still applying their change, so that a steady stream
/// of writers cannot hold a flush back. Flushing without waiting made 32 clients get 1.2 writes
/// per flush, each flush (a log write, an fsync and three thread hand-offs) costing more than
/// the writes it covered.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(1);

type Waiter = oneshot::Sender<Result<(), FlushFailed>>;

/// The store's sled handle, shared with the flusher so that the store can replace it (see
/// `Store::recover_storage`) without stopping group commit: the flusher holds a clone only
/// while it flushes. None while the handle is being replaced.
pub type DbSlot = Arc<std::sync::RwLock<Option<sled::Db>>>;

/// The handle in the slot, or why there is none.
pub fn current_db(slot: &DbSlot) -> Result<sled::Db, String> {
    slot.read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| "the store is being reopened after a disk full error".to_string())
}

/// Why a flush did not make the writes durable.
#[derive(Debug, Clone)]
pub struct FlushFailed {
    /// The disk (or quota) had no room; space freed lets writes succeed again.
    pub disk_full: bool,
    pub message: String,
}

impl FlushFailed {
    fn other(message: String) -> FlushFailed {
        FlushFailed {
            disk_full: false,
            message,
        }
    }
}

/// Writers that have announced a write and not yet asked for its flush.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    /// Signalled whenever `count` drops, so a waiting flush looks again.
    dropped: Notify,
}

/// A writer applying its change; the flush about to start waits for it (see `COALESCE`).
/// Dropping it (the write failed, or its flush was asked for) stops that wait.
pub struct WriteInFlight {
    in_flight: Arc<InFlight>,
}

impl Drop for WriteInFlight {
    fn drop(&mut self) {
        self.in_flight.count.fetch_sub(1, Ordering::SeqCst);
        self.in_flight.dropped.notify_one();
    }
}

/// Hands out flushes to waiting writers. Lives inside a tokio runtime.
pub struct GroupCommit {
    requests: mpsc::UnboundedSender<Waiter>,
    in_flight: Arc<InFlight>,
    flushes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl GroupCommit {
    /// Starts the flusher task. `last_seq` is the store's latest feed sequence; after each flush
    /// the value read before it is published on `durable_seq`, the feed position peers may see.
    pub fn start(db: DbSlot, last_seq: Arc<AtomicU64>, durable_seq: watch::Sender<u64>) -> Self {
        Self::start_with(db, last_seq, durable_seq, COALESCE)
    }

    fn start_with(
        db: DbSlot,
        last_seq: Arc<AtomicU64>,
        durable_seq: watch::Sender<u64>,
        coalesce: std::time::Duration,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        let in_flight = Arc::new(InFlight::default());
        let writers = in_flight.clone();
        let flushes = Arc::new(AtomicU64::new(0));
        let flushed = flushes.clone();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiters = vec![first];
                gather(&mut rx, &writers, &mut waiters, coalesce).await;
                let covered = last_seq.load(Ordering::SeqCst);
                let slot = db.clone();
                let flushed_here = tokio::task::spawn_blocking(move || {
                    let db = current_db(&slot).map_err(|message| FlushFailed {
                        disk_full: true,
                        message,
                    })?;
                    db.flush().map(|_| ()).map_err(|e| FlushFailed {
                        disk_full: super::is_disk_full(&e),
                        message: e.to_string(),
                    })
                });
                let result = match flushed_here.await {
                    Ok(result) => result,
                    Err(e) => Err(FlushFailed::other(e.to_string())),
                };
                flushed.fetch_add(1, Ordering::Relaxed);
                if result.is_ok() {
                    durable_seq.send_if_modified(|seq| {
                        let advanced = covered > *seq;
                        if advanced {
                            *seq = covered;
                        }
                        advanced
                    });
                } else if let Err(e) = &result {
                    tracing::error!(error = %e.message, disk_full = e.disk_full, "flush failed; writes are not acknowledged");
                }
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        GroupCommit {
            requests: tx,
            in_flight,
            flushes,
            task,
        }
    }

    /// Flushes done so far.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Announces a write about to be applied: a flush starting meanwhile waits for it.
    pub fn begin_write(&self) -> WriteInFlight {
        self.in_flight.count.fetch_add(1, Ordering::SeqCst);
        WriteInFlight {
            in_flight: self.in_flight.clone(),
        }
    }

    /// Stops the flusher once the waiting writers are served; it holds a handle on the
    /// database, which must be released before the directory can be opened again.
    pub async fn stop(self) {
        drop(self.requests);
        let _ = self.task.await;
    }

    /// Registers a waiter now, then lets go of the writer's announcement (if any): the
    /// returned future resolves once everything applied before this call is on disk.
    /// Registering is synchronous so no lock is held across an await.
    pub fn waiter(
        &self,
        applied: Option<WriteInFlight>,
    ) -> impl std::future::Future<Output = Result<(), FlushFailed>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.requests.send(tx);
        // After the send: a flush that sees no writer in flight finds this waiter queued.
        drop(applied);
        async move {
            let stopped = || FlushFailed::other("the flusher has stopped".to_string());
            sent.map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?
        }
    }
}

/// Adds to `waiters` the writers that ask for a flush while others are still applying their
/// change, until none is in flight or `coalesce` has passed.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Waiter>,
    writers: &InFlight,
    waiters: &mut Vec<Waiter>,
    coalesce: std::time::Duration,
) {
    let deadline = tokio::time::Instant::now() + coalesce;
    loop {
        // Read before draining: a writer queues its waiter before it stops counting, so when
        // none was counted, every waiter of a finished write is already in the queue.
        let none_in_flight = writers.count.load(Ordering::SeqCst) == 0;
        while let Ok(more) = rx.try_recv() {
            waiters.push(more);
        }
        if none_in_flight {
            return;
        }
        tokio::select! {
            more = rx.recv() => match more {
                Some(more) => waiters.push(more),
                None => return,
            },
            () = writers.dropped.notified() => {}
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn group_commit(dir: &tempfile::TempDir, coalesce: Duration) -> GroupCommit {
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let db = Arc::new(std::sync::RwLock::new(Some(db)));
        let (durable_seq, _) = watch::channel(0);
        GroupCommit::start_with(db, Arc::new(AtomicU64::new(0)), durable_seq, coalesce)
    }

    /// A generous bound for "resolves", far below the coalescing windows that would otherwise
    /// have to pass: these tests never wait for it to run out.
    const PROMPTLY: Duration = Duration::from_secs(20);

    #[tokio::test]
    async fn a_flush_waits_for_the_write_in_flight_and_covers_it() {
        let dir = tempfile::tempdir().unwrap();
        let gc = group_commit(&dir, Duration::from_secs(3600));
        let applying = gc.begin_write();
        let first = tokio::spawn(gc.waiter(None));
        // The flush cannot start while the other write is applying (the window is an hour).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!first.is_finished());
        assert_eq!(gc.flushes(), 0);
        let second = gc.waiter(Some(applying));
        tokio::time::timeout(PROMPTLY, second)
            .await
            .unwrap()
            .unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(gc.flushes(), 1, "one flush covers both writes");
        gc.stop().await;
    }

    #[tokio::test]
    async fn a_lone_write_is_flushed_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let gc = group_commit(&dir, Duration::from_secs(3600));
        for _ in 0..3 {
            let write = gc.begin_write();
            tokio::time::timeout(PROMPTLY, gc.waiter(Some(write)))
                .await
                .unwrap()
                .unwrap();
        }
        // A write that fails (dropped without asking for a flush) holds nothing back either.
        drop(gc.begin_write());
        tokio::time::timeout(PROMPTLY, gc.waiter(None))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gc.flushes(), 4);
        gc.stop().await;
    }

    #[tokio::test]
    async fn a_write_never_finishing_delays_a_flush_by_the_window_only() {
        let dir = tempfile::tempdir().unwrap();
        let gc = group_commit(&dir, Duration::from_millis(1));
        let _stuck = gc.begin_write();
        tokio::time::timeout(PROMPTLY, gc.waiter(None))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gc.flushes(), 1);
        gc.stop().await;
    }
}
