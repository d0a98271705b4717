//! Helps sled free the tree nodes its writes replace.
//!
//! sled copies a tree node on every key it writes and hands the old copy to crossbeam's epoch
//! collector, which frees a little of that garbage on every 128th `pin()` of any thread
//! (8 bags of 64 objects). A batch of 500 received orders writes about 4,000 keys under a
//! single pin, so during a large sync garbage piled up far faster than it was freed, and it was
//! freed only as later reads pinned again: a node that had just received 10,000 orders held
//! 395–429 MB (242–284 MB with this module), and sled alone writing 50,000 synthetic orders
//! held 1.58 GB (253 MB with it).
//!
//! So writers count the documents they write, and a thread of the store's (`Reclaimer`)
//! collects after every few hundred of them, off the write path. The collector is process-wide
//! (sled and this module use the same `crossbeam-epoch`), so any thread may collect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// Documents written between two collections: few enough that the garbage stays small, many
/// enough that creates (one document each) seldom wake the thread.
const DOCS_PER_COLLECTION: usize = 256;
/// One collection step frees at most 8 bags of 64 objects. A document's batch writes about 8
/// keys and every key leaves at least one node copy (more on splits and page-outs), so one
/// step per 8 documents has room to spare.
const DOCS_PER_STEP: usize = 8;
/// After a quiet moment the last garbage is gone over once more: what the latest writes left
/// could not be freed while they were still pinned.
const QUIET: Duration = Duration::from_millis(200);

/// Counts documents written and wakes the collecting thread every `DOCS_PER_COLLECTION`.
pub struct Reclaimer {
    written: Arc<AtomicUsize>,
    wake: SyncSender<()>,
}

impl Reclaimer {
    /// Starts the collecting thread; it ends when the `Reclaimer` is dropped.
    pub fn start() -> std::io::Result<Reclaimer> {
        let written = Arc::new(AtomicUsize::new(0));
        let (wake, woken) = mpsc::sync_channel(1);
        let owed = written.clone();
        std::thread::Builder::new()
            .name("neiqin-reclaim".into())
            .spawn(move || {
                // The largest round since the thread was last quiet, gone over again then; with
                // nothing to go over, it sleeps until woken.
                let mut again = 0;
                loop {
                    let woken = if again == 0 {
                        woken.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    } else {
                        woken.recv_timeout(QUIET)
                    };
                    match woken {
                        Ok(()) => {
                            let docs = owed.swap(0, Ordering::Relaxed);
                            collect(docs);
                            again = again.max(docs);
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            // Writes since the last wake that did not reach the threshold are
                            // collected now, and gone over again after the next quiet moment.
                            let docs = owed.swap(0, Ordering::Relaxed);
                            collect(std::mem::take(&mut again).max(docs));
                            again = docs;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Reclaimer { written, wake })
    }

    /// Records `docs` documents written; every `DOCS_PER_COLLECTION` the collecting thread is
    /// woken.
    pub fn wrote(&self, docs: usize) {
        let before = self.written.fetch_add(docs, Ordering::Relaxed);
        if (before % DOCS_PER_COLLECTION) + docs >= DOCS_PER_COLLECTION {
            // Full means it is woken already.
            let _ = self.wake.try_send(());
        }
    }
}

/// Runs enough collection steps for the garbage of `docs` documents written.
fn collect(docs: usize) {
    for _ in 0..docs / DOCS_PER_STEP + 1 {
        crossbeam_epoch::pin().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_once_per_threshold_crossed() {
        let (wake, woken) = mpsc::sync_channel(1);
        let reclaimer = Reclaimer {
            written: Arc::new(AtomicUsize::new(0)),
            wake,
        };
        reclaimer.wrote(DOCS_PER_COLLECTION - 1);
        assert!(woken.try_recv().is_err(), "below the threshold");
        reclaimer.wrote(1);
        assert!(woken.try_recv().is_ok(), "at the threshold");
        reclaimer.wrote(DOCS_PER_COLLECTION * 3);
        reclaimer.wrote(7);
        assert!(woken.try_recv().is_ok());
        assert!(woken.try_recv().is_err(), "one wake is pending at most");
    }
}
