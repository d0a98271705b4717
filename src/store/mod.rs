//! The document store over sled: every order and customer is its own Automerge document, kept as
//! a snapshot plus incremental chunks, with a per-node change feed and query indexes written in
//! the same atomic batch as the change itself.
//!
//! Invariants:
//! - One sled tree; a change, its feed entry, its index entries and its summary are one batch.
//! - A document is loaded on demand into a bounded LRU cache; nothing holds every document.
//! - Every local commit carries this node's actor, the time and a message naming user and action.
//! - A write is durable only after `wait_durable` returns (group commit over `sled::Db::flush`).
//! - The feed holds one entry per document: its latest local sequence number. Remote changes get
//!   a new sequence number too, so they are relayed to other peers.
//! - Peers are shown the feed only up to the last flushed sequence (`durable_seq`), so a crash
//!   can never make a peer skip a sequence number that gets reused.
//! - Every snapshot, chunk and document metadata is sealed with a checksum (`checksum`) and
//!   verified when read; a value that fails makes its document damaged (`damage`).
//!
//! This module knows nothing of orders: a `Projector` turns a record into index entries and a
//! summary.

pub mod checksum;
pub mod codec;
mod damage;
pub mod durability;
pub mod keys;
mod reclaim;
mod tally;

use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

use crate::domain::record::{ChangeAuthor, Record, RecordOp};
use codec::CodecError;
pub use damage::ScrubStep;
use durability::GroupCommit;
pub use durability::WriteInFlight;
use tally::TallyDelta;
pub use tally::{add as add_sums, Contribution, Sums};

/// After this many incremental chunks a document is compacted into one snapshot.
const COMPACT_AFTER_CHUNKS: u32 = 16;

/// A document of at most this many operations is saved whole on every change instead of taking
/// an incremental chunk. Saving an order (about 40 operations) costs a few microseconds, while
/// every load of a snapshot followed by chunks replays the chunks' changes: a tenth of the CPU
/// of receiving a whole document in a full sync, and of every load from disk. Larger documents
/// (a long-lived customer's archive) take chunks and are compacted every `COMPACT_AFTER_CHUNKS`.
const SAVE_WHOLE_MAX_OPS: u64 = 1000;

/// The layout of the values this code writes, kept under `m/format` from the store's creation.
/// 1 (no key): values as Automerge bytes. 2: every snapshot and chunk carries a checksum
/// (`checksum`). 3: every document's metadata (`DocMeta`) carries one too. A store of a later
/// format is refused; one of format 1 or 2 is migrated at open.
pub const FORMAT_VERSION: u32 = 3;

/// The meta name under which an interrupted migration to format 3 keeps the last metadata key
/// it sealed; removed when the migration is done.
const FORMAT3_PROGRESS_KEY: &str = "format3-sealed-up-to";

/// The meta name of the store's format version.
const FORMAT_KEY: &str = "format";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sled(sled::Error),
    /// The disk has no room for the write: nothing of it was acknowledged.
    #[error("disk full: {0}")]
    DiskFull(String),
    #[error("document {doc}: {source}")]
    Codec {
        doc: String,
        source: Box<CodecError>,
    },
    #[error("document {doc} could not be loaded: {reason}")]
    Corrupt { doc: String, reason: String },
    /// A stored value of the document failed its checksum or does not load: this node's copy
    /// is damaged. It is fetched again whole from a peer that has it.
    #[error("document {doc} is damaged on this node's disk ({reason})")]
    Damaged { doc: String, reason: String },
    /// Another process holds the store's lock.
    #[error("another neiqin is using {dir}{pid}; stop it or choose another --data directory", pid = .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { dir: String, pid: Option<u32> },
    /// sled found its own files damaged when opening them.
    #[error("the store in {dir} is damaged: {what}. Restore a backup into a new data directory (`neiqin restore --data NEW FILE`), or start a new data directory and let it sync from the peers")]
    DamagedFiles { dir: String, what: String },
    /// The store was written by a newer version of neiqin.
    #[error("the store in {dir} has store format {found}, written by a newer neiqin; this neiqin reads store formats up to {supported}: upgrade neiqin to open it")]
    NewerFormat {
        dir: String,
        found: u32,
        supported: u32,
    },
    #[error("changes for document {doc} were refused: {reason}")]
    BadChanges { doc: String, reason: String },
    #[error("data is not durable: {0}")]
    Durability(String),
    #[error("{0}")]
    Meta(String),
    #[error("document {0} already exists")]
    Exists(String),
}

impl StoreError {
    /// The same failure for each of several writes it stopped: a full disk stays a full disk.
    fn repeated(&self) -> StoreError {
        match self {
            StoreError::DiskFull(why) => StoreError::DiskFull(why.clone()),
            other => StoreError::Durability(other.to_string()),
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        if is_disk_full(&e) {
            StoreError::DiskFull(e.to_string())
        } else {
            StoreError::Sled(e)
        }
    }
}

/// Whether sled failed because the disk (or the user's quota) has no room. sled keeps the
/// kind of the IO error when it stores it as its "global error", which every later
/// operation of that handle returns.
pub fn is_disk_full(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || io.raw_os_error() == Some(28)
                // sled re-creates a stored IO error from its Debug text, which names the cause.
                || io.to_string().contains("No space left on device")
        }
        _ => false,
    }
}

/// What a projector extracts from a document for lists and reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    /// (index name, value) pairs; the store keys them as `i/<index>\0<value>\0<doc id>`.
    pub index: Vec<(&'static str, String)>,
    /// Whatever the lists need without loading the document (JSON, by convention).
    pub summary: Vec<u8>,
}

/// Turns a document's record into its index entries and summary.
pub trait Projector: Send + Sync {
    fn project(&self, doc_id: &str, record: &Record) -> Projection;

    /// The indexes whose entries feed tallies (`tally`).
    fn tallied(&self) -> &'static [&'static str] {
        &[]
    }

    /// What one document's entries in `index` (their values) add to the tallies: a pure
    /// function of them (see `store::tally`).
    fn tally(&self, _index: &str, _values: &[&str]) -> Vec<Contribution> {
        Vec::new()
    }
}

/// A document's heads (change hashes), as stored.
pub type Heads = Vec<[u8; 32]>;

/// A key and its value, as stored.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// Per-document bookkeeping, stored under `x/<doc id>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DocMeta {
    pub kind: String,
    pub heads: Heads,
    pub seq: u64,
    pub chunks: u32,
    /// The (index, value) pairs written for this document, so the next change can remove the
    /// ones that no longer hold; the keys are rebuilt from them (`keys::index_entry`).
    pub index: Vec<(String, String)>,
    pub summary: Vec<u8>,
}

impl DocMeta {
    pub fn index_keys(&self, doc_id: &str) -> Vec<Vec<u8>> {
        self.index
            .iter()
            .map(|(index, value)| keys::index_entry(index, value, doc_id))
            .collect()
    }
}

impl DocMeta {
    pub fn change_hashes(&self) -> Vec<ChangeHash> {
        self.heads.iter().map(|h| ChangeHash(*h)).collect()
    }

    /// The value stored for this metadata: postcard, sealed with its checksum (format 3).
    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        postcard::to_allocvec(self)
            .map(|bytes| checksum::seal(&bytes))
            .map_err(|e| StoreError::Meta(e.to_string()))
    }

    /// The metadata in a stored value, or why it cannot be trusted.
    fn decode(value: &[u8]) -> Result<DocMeta, String> {
        postcard::from_bytes(checksum::open(value)?).map_err(|e| format!("does not decode: {e}"))
    }
}

/// A loaded document. Boxed: an `AutoCommit` is over 4 KB inline, and a document is moved
/// several times between loading and the cache (out of the parallel preparation, into the
/// batch staged, into the cache); those copies were 3% of the CPU of a full sync.
type Doc = Box<AutoCommit>;

/// A received document merged, read and projected off the write lock.
struct Received {
    doc: Doc,
    record: Record,
    projection: Projection,
    /// The heads this node had when it was prepared (None: it did not have the document). Used
    /// only if they are still the heads under the write lock; otherwise it is merged again.
    base: Option<Heads>,
    /// Set when the document was prepared as absent without a lookup: the feed number as of
    /// which it was known to be absent.
    absent_as_of: Option<u64>,
}

/// A new document built, saved and projected off the write lock, waiting to be written.
struct BuiltCreate {
    doc_id: String,
    doc: Doc,
    record: Record,
    snapshot: Vec<u8>,
    projection: Projection,
}

/// Creates waiting for the write lock, and the results of those written by another writer.
/// Under load, creates queue while one writer holds the lock; the next to get it writes every
/// queued create in one sled batch. Each sled batch costs more than its keys (sled seals its
/// log buffer twice per batch and hands each sealed buffer to an IO thread), so creates from
/// many clients share that cost instead of paying it one by one.
#[derive(Default)]
struct CreateQueue {
    next_ticket: u64,
    waiting: Vec<(u64, BuiltCreate)>,
    done: HashMap<u64, Result<Written, StoreError>>,
}

impl CreateQueue {
    fn enqueue(&mut self, built: BuiltCreate) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.push((ticket, built));
        ticket
    }
}

/// How many documents new to this node `NewDocs` remembers.
const NEW_DOCS_REMEMBERED: usize = 50_000;

/// The documents that became new to this node recently, with the feed number that wrote them.
/// A fetch merges the documents it found absent when it planned without looking them up again
/// under the write lock (a sled read per document, on the one path that cannot run in
/// parallel), unless one of them was written since. What was forgotten, or written before the
/// store was opened, is looked up as before.
struct NewDocs {
    by_id: HashMap<String, u64>,
    order: std::collections::VecDeque<(u64, String)>,
    capacity: usize,
    /// Documents new at or below this feed number are not remembered.
    forgotten_up_to: u64,
}

impl NewDocs {
    fn new(capacity: usize, last_seq: u64) -> NewDocs {
        NewDocs {
            by_id: HashMap::new(),
            order: std::collections::VecDeque::new(),
            capacity,
            forgotten_up_to: last_seq,
        }
    }

    /// Called when a document is staged as new, before its batch is applied: a batch that then
    /// fails leaves an entry that only costs a lookup.
    fn record(&mut self, doc_id: &str, seq: u64) {
        self.by_id.insert(doc_id.to_string(), seq);
        self.order.push_back((seq, doc_id.to_string()));
        while self.order.len() > self.capacity {
            let Some((seq, id)) = self.order.pop_front() else {
                break;
            };
            self.forgotten_up_to = self.forgotten_up_to.max(seq);
            if self.by_id.get(&id) == Some(&seq) {
                self.by_id.remove(&id);
            }
        }
    }

    /// Whether `doc_id` became new here after feed number `mark`; None when that is not known.
    fn new_since(&self, doc_id: &str, mark: u64) -> Option<bool> {
        (mark >= self.forgotten_up_to)
            .then(|| self.by_id.get(doc_id).is_some_and(|seq| *seq > mark))
    }
}

/// One change of a document, as `Store::stage` writes it.
struct Change<'a> {
    /// Its number in this node's feed.
    seq: u64,
    /// The heads this node had before it (none: the document is new here).
    before: &'a [ChangeHash],
    /// For a document new to this node, bytes already saved that load as it (the bytes it
    /// arrived as, or a new local document saved off the write lock): kept as its snapshot.
    saved: Option<&'a [u8]>,
    projection: Projection,
    record: &'a Record,
}

/// The result of a local change or a merge.
#[derive(Debug, Clone)]
pub struct Written {
    pub record: Record,
    /// False when nothing new was added (same value written again, changes already known).
    pub changed: bool,
    pub seq: u64,
}

/// Why a local change was not made.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Store {
    /// The open sled handle. Replaced (`recover_storage`) after the disk ran full: sled keeps
    /// the first IO error and fails every later write with it, and its memory holds writes
    /// that were never made durable. None only while being reopened, or when reopening failed.
    db: durability::DbSlot,
    path: std::path::PathBuf,
    page_cache_bytes: u64,
    /// Set when a write failed for lack of disk space; cleared once a write is durable again.
    disk_full: std::sync::atomic::AtomicBool,
    actor: ActorId,
    projector: Arc<dyn Projector>,
    cache: Mutex<LruCache<String, Doc>>,
    /// Serialises writers so that feed sequence numbers are applied in order.
    write_lock: Mutex<()>,
    last_seq: Arc<AtomicU64>,
    durable_seq: watch::Sender<u64>,
    group_commit: Mutex<Option<GroupCommit>>,
    counters: Mutex<HashMap<String, Counter>>,
    creates: Mutex<CreateQueue>,
    new_docs: Mutex<NewDocs>,
    /// Frees the tree nodes sled's writes replace (see `reclaim`).
    reclaimer: reclaim::Reclaimer,
    /// Documents found damaged on disk (a value failed its checksum or does not load), with
    /// why; each is fetched again whole from a peer (`replace_damaged`). Found by any read,
    /// and by the scrub (`check_document`), which also takes a document off once it reads well.
    /// Kept under `m/damaged` whenever it changes and loaded at open (`damage::DAMAGED_KEY`), so
    /// that a restart still names them.
    damaged: Mutex<BTreeMap<String, String>>,
    /// Counts documents newly found damaged, so that sync asks peers for them at once.
    damage_found: watch::Sender<u64>,
    /// Sums across documents, kept with every write (see `tally`).
    tallies: tally::Book,
    /// One build of the tallies at a time.
    tally_builder: Mutex<()>,
}

/// A named counter (order numbers): handed out from memory, written with the next local batch,
/// so a number is on disk no later than the document that uses it, at no extra sled write.
#[derive(Debug, Clone, Copy)]
struct Counter {
    handed_out: u64,
    written: u64,
}

fn refused(doc_id: &str, reason: String) -> StoreError {
    StoreError::BadChanges {
        doc: doc_id.to_string(),
        reason,
    }
}

fn refuse_missing_deps(doc_id: &str, doc: &AutoCommit) -> Result<(), StoreError> {
    if doc.get_missing_deps(&[]).is_empty() {
        Ok(())
    } else {
        Err(refused(
            doc_id,
            "changes depend on changes that were not sent".into(),
        ))
    }
}

/// A document's record, a codec error naming the document.
fn hydrate(doc_id: &str, doc: &mut AutoCommit) -> Result<Record, StoreError> {
    codec::hydrate(doc).map_err(|source| StoreError::Codec {
        doc: doc_id.to_string(),
        source: Box::new(source),
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves only a cache or a unit behind; carry on with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The file in the store directory that holds disk space in reserve: when the disk runs full,
/// it is deleted so that sled can be reopened (opening writes to disk), then written again
/// once space is back.
const RESERVE_FILE: &str = "neiqin-reserve";

/// The space held in reserve: two of sled's log segments.
const RESERVE_BYTES: usize = 4 * 1024 * 1024;

/// Writes the reserve file whole and durably; a partial one is removed, so the space it took
/// is free again.
fn write_reserve(store_dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = store_dir.join(RESERVE_FILE);
    let written = (|| {
        let mut file = std::fs::File::create(&path)?;
        // Random bytes: a file system that compresses could not hold zeros in reserve.
        let chunk: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
        for _ in 0..RESERVE_BYTES / chunk.len() {
            file.write_all(&chunk)?;
        }
        file.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    written
}

/// sled's log segment size for a new store. sled cleans a segment once half of it is garbage;
/// with 2 MB segments instead of sled's 512 KB default, a store of 30,000 orders took 2.2 KB per
/// order on disk instead of 3.4 KB, at the same write speed (measured with the node bench).
const SEGMENT_SIZE: usize = 2 * 1024 * 1024;

/// sled's page cache unless configured (`page_cache_mb`). 96 MB rather than 32 MB: large full
/// syncs and catch-ups touch more pages than 32 MB held, and were 9–29% faster with it. sled
/// counts a page by its compressed size on disk, so the memory it holds is larger than this
/// (figures in ARCHITECTURE.md).
pub const DEFAULT_PAGE_CACHE_BYTES: u64 = 96 * 1024 * 1024;

/// The segment size a store was created with: sled refuses to open a store with another one.
/// sled writes it in the `conf` file as a `segment_size: N` line (text, then a 4-byte checksum).
fn persisted_segment_size(path: &Path) -> Option<usize> {
    let conf = std::fs::read(path.join("conf")).ok()?;
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size:"))
        .and_then(|size| size.trim().parse().ok())
}

/// The file in the store directory naming the process that opened it last, so that a second
/// process refused the lock can say which one holds it.
const PID_FILE: &str = "neiqin.pid";

/// `open_sled`, its failures named: the lock held by another process, or sled's own files
/// damaged.
fn open_sled_named(path: &Path, page_cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let dir = path
        .parent()
        .filter(|_| path.file_name() == Some(std::ffi::OsStr::new("store")))
        .unwrap_or(path)
        .display()
        .to_string();
    match open_sled(path, page_cache_bytes) {
        Ok(db) => {
            let _ = std::fs::write(path.join(PID_FILE), std::process::id().to_string());
            Ok(db)
        }
        Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
            let pid = std::fs::read_to_string(path.join(PID_FILE))
                .ok()
                .and_then(|text| text.trim().parse().ok());
            Err(StoreError::Locked { dir, pid })
        }
        Err(sled::Error::Corruption { at, .. }) => {
            let what = match at {
                Some(at) => format!(
                    "sled found damaged data in its log file {} ({at})",
                    path.join("db").display()
                ),
                None => match newest_sled_snapshot(path) {
                    Some(snap) => {
                        format!("sled found its snapshot file {} damaged", snap.display())
                    }
                    None => format!("sled found damaged data in {}", path.display()),
                },
            };
            Err(StoreError::DamagedFiles { dir, what })
        }
        Err(e) => Err(e.into()),
    }
}

/// sled's newest snapshot file (`snap.<lsn>`), the one it reads at open.
fn newest_sled_snapshot(path: &Path) -> Option<std::path::PathBuf> {
    let mut snaps: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && !n.ends_with(".generating"))
        })
        .collect();
    snaps.sort();
    snaps.pop()
}

/// Brings a store to `FORMAT_VERSION`, or refuses one written by a newer version, one format
/// after the other; the store is not opened until it is done. Each step writes in batches and
/// can be interrupted: the next open finishes it.
/// - No format key (made before checksums, or new) to 2: every snapshot and chunk is sealed
///   with its checksum (sealed values are recognised and skipped), then the key is written.
/// - 2 to 3: every document's metadata is sealed, in key order; each batch also records the
///   last key it sealed (`FORMAT3_PROGRESS_KEY`), where an interrupted migration goes on.
fn migrate(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    let found = match db.get(keys::meta(FORMAT_KEY))? {
        Some(bytes) => Some(
            <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Meta("the store's format key is unreadable".into()))?,
        ),
        None => None,
    };
    match found {
        Some(found) if found > FORMAT_VERSION => {
            return Err(StoreError::NewerFormat {
                dir: path.display().to_string(),
                found,
                supported: FORMAT_VERSION,
            })
        }
        Some(_) => {}
        None => migrate_to_2(db)?,
    }
    if found.is_none_or(|found| found < 3) {
        migrate_to_3(db)?;
    }
    Ok(())
}

/// Format 1 (or a new store) to 2: every snapshot and chunk sealed.
fn migrate_to_2(db: &sled::Db) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let mut sealed = 0usize;
    for prefix in [&b"d/"[..], &b"c/"[..]] {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in db.scan_prefix(prefix) {
            let (key, value) = entry?;
            if checksum::is_unsealed(&value) {
                batch.insert(key, checksum::seal(&value));
                in_batch += 1;
                sealed += 1;
            }
            if in_batch == MIGRATION_BATCH {
                db.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        db.apply_batch(batch)?;
    }
    db.flush()?;
    db.insert(keys::meta(FORMAT_KEY), &2u32.to_be_bytes())?;
    db.flush()?;
    migrated(
        2,
        sealed,
        started,
        "every snapshot and chunk has a checksum",
    );
    Ok(())
}

/// Logs a migration to `format` that sealed `sealed` values (none for a new store).
fn migrated(format: u32, sealed: usize, started: std::time::Instant, what: &str) {
    if sealed > 0 {
        tracing::info!(
            values = sealed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "store migrated to format {format}: {what}"
        );
    }
}

/// Values sealed per batch by a migration.
const MIGRATION_BATCH: usize = 1000;

/// Format 2 to 3: every document's metadata sealed, in batches that each record how far they
/// got, so that an interrupted migration never seals a value twice.
fn migrate_to_3(db: &sled::Db) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let progress = keys::meta(FORMAT3_PROGRESS_KEY);
    let from = match db.get(&progress)? {
        Some(last) => [last.as_ref(), &[0]].concat(),
        None => keys::DOC_META_PREFIX.to_vec(),
    };
    let mut sealed = 0usize;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    for entry in db.range(from..) {
        let (key, value) = entry?;
        if !key.starts_with(keys::DOC_META_PREFIX) {
            break;
        }
        batch.insert(&key, checksum::seal(&value));
        in_batch += 1;
        sealed += 1;
        if in_batch == MIGRATION_BATCH {
            batch.insert(progress.as_slice(), key.as_ref());
            db.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    batch.insert(keys::meta(FORMAT_KEY), &3u32.to_be_bytes());
    batch.remove(progress);
    db.apply_batch(batch)?;
    db.flush()?;
    migrated(
        3,
        sealed,
        started,
        "every document's metadata has a checksum",
    );
    Ok(())
}

/// Opens sled, waiting briefly for the lock on the directory: a handle just dropped in this
/// process (a checkpoint, a restart) releases it only once sled's background threads let go.
fn open_sled(path: &Path, page_cache_bytes: u64) -> Result<sled::Db, sled::Error> {
    const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
    let started = std::time::Instant::now();
    let segment_size = persisted_segment_size(path).unwrap_or(SEGMENT_SIZE);
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(page_cache_bytes)
            .use_compression(true)
            .compression_factor(3)
            .segment_size(segment_size)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The values of a document's entries in `index`.
fn values_in<'a>(entries: &'a [(String, String)], index: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(name, _)| name == index)
        .map(|(_, value)| value.as_str())
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (or creates) the store at `path`. A new store draws its node's Automerge actor (16
    /// random bytes) and keeps it for ever: every local change of this node carries it.
    pub fn open(
        path: &Path,
        projector: Arc<dyn Projector>,
        cache_docs: usize,
    ) -> Result<Store, StoreError> {
        Self::open_with_page_cache(path, projector, cache_docs, DEFAULT_PAGE_CACHE_BYTES)
    }

    /// `open` with sled's page cache of `page_cache_bytes` (as sled counts them, see
    /// `DEFAULT_PAGE_CACHE_BYTES`).
    pub fn open_with_page_cache(
        path: &Path,
        projector: Arc<dyn Projector>,
        cache_docs: usize,
        page_cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        let db = open_sled_named(path, page_cache_bytes)?;
        migrate(&db, path)?;
        if !path.join(RESERVE_FILE).exists() {
            // A node on a nearly full disk still starts; it only has no reserve to reopen with.
            if let Err(e) = write_reserve(path) {
                tracing::warn!(error = %e, "cannot set disk space aside for a full disk");
            }
        }
        let actor = match db.get(keys::meta("actor"))? {
            Some(bytes) => ActorId::from(bytes.to_vec()),
            None => {
                let bytes: [u8; 16] = rand::random();
                db.insert(keys::meta("actor"), &bytes)?;
                db.flush()?;
                ActorId::from(bytes.to_vec())
            }
        };
        let last_seq = match db.scan_prefix(keys::FEED_PREFIX).keys().next_back() {
            Some(key) => keys::feed_seq(&key?).unwrap_or(0),
            None => 0,
        };
        let (durable_seq, _) = watch::channel(last_seq);
        let damaged = damage::load_damaged(&db);
        Ok(Store {
            db: Arc::new(std::sync::RwLock::new(Some(db))),
            path: path.to_path_buf(),
            page_cache_bytes,
            disk_full: std::sync::atomic::AtomicBool::new(false),
            actor,
            projector,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(cache_docs.max(1)).expect("max(1) is non-zero"),
            )),
            write_lock: Mutex::new(()),
            last_seq: Arc::new(AtomicU64::new(last_seq)),
            durable_seq,
            group_commit: Mutex::new(None),
            counters: Mutex::new(HashMap::new()),
            creates: Mutex::new(CreateQueue::default()),
            new_docs: Mutex::new(NewDocs::new(NEW_DOCS_REMEMBERED, last_seq)),
            reclaimer: reclaim::Reclaimer::start()
                .map_err(|e| StoreError::Meta(format!("could not start a thread: {e}")))?,
            damaged: Mutex::new(damaged),
            damage_found: watch::channel(0).0,
            tallies: tally::Book::default(),
            tally_builder: Mutex::new(()),
        })
    }

    /// The open sled handle; fails while the store is reopened after the disk ran full.
    pub fn db(&self) -> Result<sled::Db, StoreError> {
        durability::current_db(&self.db).map_err(StoreError::DiskFull)
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// This node's id: its actor as hex.
    pub fn node_id(&self) -> String {
        self.actor.to_hex_string()
    }

    /// Whether a write failed for lack of disk space and writing has not been found possible
    /// since (`recover_storage`). While set, the API refuses writes before applying them.
    pub fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::SeqCst)
    }

    /// Notes that a write failed for lack of disk space.
    pub fn note_disk_full(&self) {
        if !self.disk_full.swap(true, Ordering::SeqCst) {
            tracing::error!("the disk is full: writes are refused until space is freed");
        }
    }

    /// After the disk ran full: replaces sled's handle by one opened afresh from disk, then
    /// tries a small durable write. sled keeps the first IO error and fails every later write
    /// of that handle with it, and its memory holds the writes that never reached the disk;
    /// the fresh handle shows only what is durable. Returns whether writes work again (then
    /// the disk-full mark is cleared). Does nothing when no write failed for lack of space.
    pub fn recover_storage(&self) -> Result<bool, StoreError> {
        if !self.disk_full() {
            return Ok(true);
        }
        let _writer = lock(&self.write_lock);
        let reserve = self.path.join(RESERVE_FILE);
        if reserve.exists() {
            // The first attempt since the disk ran full: give sled the reserve to reopen with.
            std::fs::remove_file(&reserve)
                .map_err(|e| StoreError::DiskFull(format!("cannot free the reserve: {e}")))?;
        } else if self.db().is_ok() {
            // Reopened already; is there room for the reserve again?
            if let Err(e) = write_reserve(&self.path) {
                tracing::debug!(error = %e, "the disk is still full");
                return Ok(false);
            }
            std::fs::remove_file(&reserve)
                .map_err(|e| StoreError::DiskFull(format!("cannot free the reserve: {e}")))?;
        }
        {
            let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
            // sled lets go of the directory's lock only when its last handle is dropped, so
            // the old one goes first (`open_sled` waits for its threads to let go).
            drop(slot.take());
            *slot = Some(open_sled(&self.path, self.page_cache_bytes)?);
        }
        let db = self.db()?;
        // What memory holds may come from writes that never reached the disk.
        let last_seq = match db.scan_prefix(keys::FEED_PREFIX).keys().next_back() {
            Some(key) => keys::feed_seq(&key?).unwrap_or(0),
            None => 0,
        };
        lock(&self.cache).clear();
        lock(&self.counters).clear();
        self.tallies.drop_all();
        *lock(&self.new_docs) = NewDocs::new(NEW_DOCS_REMEMBERED, last_seq);
        self.last_seq.store(last_seq, Ordering::SeqCst);
        // All the fresh handle shows is on disk.
        self.durable_seq.send_if_modified(|s| {
            let advanced = last_seq > *s;
            if advanced {
                *s = last_seq;
            }
            advanced
        });
        // A write of about one log buffer's worth, made durable, then taken back.
        let probe = keys::meta("space-probe");
        // Random, so that compression does not shrink it to nothing.
        let filler: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
        let writable = db
            .insert(&probe, filler)
            .and_then(|_| db.flush())
            .and_then(|_| db.remove(&probe))
            .and_then(|_| db.flush());
        match writable {
            Ok(_) => {
                if let Err(e) = write_reserve(&self.path) {
                    tracing::debug!(error = %e, "the disk is still full");
                    return Ok(false);
                }
                self.disk_full.store(false, Ordering::SeqCst);
                tracing::warn!("disk space is back: writes are accepted again");
                Ok(true)
            }
            Err(e) if is_disk_full(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts group commit; must be called inside a tokio runtime before `wait_durable`.
    pub fn start_group_commit(&self) {
        let mut gc = lock(&self.group_commit);
        if gc.is_none() {
            *gc = Some(GroupCommit::start(
                self.db.clone(),
                self.last_seq.clone(),
                self.durable_seq.clone(),
            ));
        }
    }

    /// Stops group commit (shutdown); later writes flush synchronously.
    pub async fn stop_group_commit(&self) {
        let gc = lock(&self.group_commit).take();
        if let Some(gc) = gc {
            gc.stop().await;
        }
    }

    /// Announces a write about to be applied, so that a flush starting meanwhile waits a
    /// moment for it (group commit); hand it to `wait_durable_after` once applied. None before
    /// group commit is started.
    pub fn begin_write(&self) -> Option<WriteInFlight> {
        lock(&self.group_commit)
            .as_ref()
            .map(GroupCommit::begin_write)
    }

    /// Resolves once every write applied before the call is on disk.
    pub async fn wait_durable(&self) -> Result<(), StoreError> {
        self.wait_durable_after(None).await
    }

    /// `wait_durable` for a write announced by `begin_write` (and now applied).
    pub fn wait_durable_after(
        &self,
        applied: Option<WriteInFlight>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + '_ {
        let waiter = lock(&self.group_commit)
            .as_ref()
            .map(|gc| gc.waiter(applied));
        async move {
            match waiter {
                Some(wait) => wait.await.map_err(|failed| {
                    if failed.disk_full {
                        self.disk_full.store(true, Ordering::SeqCst);
                        StoreError::DiskFull(failed.message)
                    } else {
                        StoreError::Durability(failed.message)
                    }
                }),
                None => self.flush(),
            }
        }
    }

    /// Resolves once everything a reader may have seen is on disk: every write applied so far,
    /// including one being applied right now (its batch and its feed position are published
    /// under the write lock, so a reader takes the lock, briefly, only while a writer holds it).
    /// Readers call it before they answer, so a document merged from a peer, like a local write,
    /// is never shown before it is durable: a kill -9 cannot take back what someone saw.
    pub async fn wait_seen_durable(self: &Arc<Self>) -> Result<(), StoreError> {
        // The guard (not Send) must be gone before any await.
        let free_now = match self.write_lock.try_lock() {
            Ok(_free) => Some(self.last_seq()),
            Err(std::sync::TryLockError::Poisoned(_)) => Some(self.last_seq()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let seen = match free_now {
            Some(seen) => seen,
            None => {
                let store = self.clone();
                tokio::task::spawn_blocking(move || {
                    let _writer = lock(&store.write_lock);
                    store.last_seq()
                })
                .await
                .map_err(|e| StoreError::Durability(e.to_string()))?
            }
        };
        if *self.durable_seq.borrow() >= seen {
            return Ok(());
        }
        self.wait_durable().await
    }

    /// Flushes synchronously (CLI commands, shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        let covered = self.last_seq.load(Ordering::SeqCst);
        if let Err(e) = self.db()?.flush() {
            let e = StoreError::from(e);
            if matches!(e, StoreError::DiskFull(_)) {
                self.disk_full.store(true, Ordering::SeqCst);
            }
            return Err(e);
        }
        self.durable_seq.send_if_modified(|s| {
            let advanced = covered > *s;
            if advanced {
                *s = covered;
            }
            advanced
        });
        Ok(())
    }

    /// The feed position that is on disk; peers are shown the feed up to here.
    pub fn durable_seq(&self) -> watch::Receiver<u64> {
        self.durable_seq.subscribe()
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    pub fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db()?.get(keys::meta(name))?.map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db()?.insert(keys::meta(name), value)?;
        Ok(())
    }

    /// Increments a named counter and returns the new value. The value is written with the
    /// next local change (`stage_counters`), which is the change that uses it: a value never
    /// written was never used by anything durable, so handing it out again after a crash is safe.
    pub fn next_counter(&self, name: &str) -> Result<u64, StoreError> {
        let mut counters = lock(&self.counters);
        let counter = match counters.get_mut(name) {
            Some(counter) => counter,
            None => {
                let on_disk = self
                    .db()?
                    .get(keys::meta(name))?
                    .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                counters.entry(name.to_string()).or_insert(Counter {
                    handed_out: on_disk,
                    written: on_disk,
                })
            }
        };
        counter.handed_out += 1;
        Ok(counter.handed_out)
    }

    /// Adds to a local batch the counters handed out since they were last written; returns them
    /// for `counters_written` once the batch is applied. Call with the write lock held.
    fn stage_counters(&self, batch: &mut sled::Batch) -> Vec<(String, u64)> {
        let counters = lock(&self.counters);
        let mut staged = Vec::new();
        for (name, counter) in counters.iter() {
            if counter.handed_out > counter.written {
                batch.insert(keys::meta(name), &counter.handed_out.to_be_bytes());
                staged.push((name.clone(), counter.handed_out));
            }
        }
        staged
    }

    fn counters_written(&self, staged: Vec<(String, u64)>) {
        let mut counters = lock(&self.counters);
        for (name, value) in staged {
            if let Some(counter) = counters.get_mut(&name) {
                counter.written = counter.written.max(value);
            }
        }
    }

    /// A document's metadata. A stored value that fails its checksum or does not decode makes
    /// the document damaged (`StoreError::Damaged`, noted for sync to fetch it again).
    pub fn doc_meta(&self, doc_id: &str) -> Result<Option<DocMeta>, StoreError> {
        self.read_meta(doc_id)?
            .transpose()
            .map_err(|why| self.damaged(doc_id, why))
    }

    /// A document's metadata as stored, or why it cannot be trusted (not noted).
    fn read_meta(&self, doc_id: &str) -> Result<Option<Result<DocMeta, String>>, StoreError> {
        Ok(self
            .db()?
            .get(keys::doc_meta(doc_id))?
            .map(|value| DocMeta::decode(&value).map_err(|why| format!("its metadata: {why}"))))
    }

    /// Loads a document from disk (snapshot then chunks in order), with this node's actor set.
    /// Every value's checksum is verified; a value that fails it, or does not load, makes the
    /// document damaged (`StoreError::Damaged`, and noted for sync to fetch it again).
    fn load_from_disk(&self, doc_id: &str) -> Result<Option<Doc>, StoreError> {
        // Its metadata too: a document whose heads and feed entry are unknown is damaged.
        self.doc_meta(doc_id)?;
        let db = self.db()?;
        let snapshot = db.get(keys::snapshot(doc_id))?;
        let mut doc = match &snapshot {
            Some(value) => {
                let bytes = checksum::open(value)
                    .map_err(|why| self.damaged(doc_id, format!("its snapshot: {why}")))?;
                Box::new(AutoCommit::load(bytes).map_err(|e| {
                    self.damaged(doc_id, format!("its snapshot does not load: {e}"))
                })?)
            }
            None => Box::default(),
        };
        let mut any_chunk = false;
        for entry in db.scan_prefix(keys::chunk_prefix(doc_id)) {
            let (_, value) = entry?;
            let bytes = checksum::open(&value)
                .map_err(|why| self.damaged(doc_id, format!("a chunk: {why}")))?;
            doc.load_incremental(bytes)
                .map_err(|e| self.damaged(doc_id, format!("a chunk does not load: {e}")))?;
            any_chunk = true;
        }
        if snapshot.is_none() && !any_chunk {
            return Ok(None);
        }
        // Loading resets the actor to a random one; this node always writes as itself.
        doc.set_actor(self.actor.clone());
        Ok(Some(doc))
    }

    /// Takes a document out of the cache or loads it. Call with the write lock held.
    fn checkout(&self, doc_id: &str) -> Result<Option<Doc>, StoreError> {
        if let Some(doc) = lock(&self.cache).pop(doc_id) {
            return Ok(Some(doc));
        }
        self.load_from_disk(doc_id)
    }

    /// Reads a document's record (conflicts included). Does not fill the cache, so a reader can
    /// never put back an older copy than a writer holds.
    pub fn record(&self, doc_id: &str) -> Result<Option<Record>, StoreError> {
        let mut cached = lock(&self.cache);
        if let Some(doc) = cached.get_mut(doc_id) {
            return hydrate(doc_id, doc).map(Some);
        }
        drop(cached);
        match self.load_from_disk(doc_id)? {
            Some(mut doc) => hydrate(doc_id, &mut doc).map(Some),
            None => Ok(None),
        }
    }

    /// Runs `f` on a read-only view of the document (history, sync).
    pub fn with_doc<T>(
        &self,
        doc_id: &str,
        f: impl FnOnce(&mut AutoCommit) -> T,
    ) -> Result<Option<T>, StoreError> {
        let mut cached = lock(&self.cache);
        if let Some(doc) = cached.get_mut(doc_id) {
            return Ok(Some(f(doc)));
        }
        drop(cached);
        Ok(self.load_from_disk(doc_id)?.map(|mut doc| f(&mut doc)))
    }

    /// Makes a local change. `decide` sees the current record (None if the document is new) and
    /// returns the ops to apply, or refuses; nothing is written when it refuses.
    pub fn update<E>(
        &self,
        doc_id: &str,
        author: &ChangeAuthor,
        decide: impl FnOnce(Option<&Record>) -> Result<Vec<RecordOp>, E>,
    ) -> Result<Written, UpdateError<E>> {
        self.update_described(doc_id, decide, || author.clone())
    }

    /// `update` whose author (the action's words) is known only once `decide` has seen the
    /// document: a change order names every old and new value.
    pub fn update_described<E>(
        &self,
        doc_id: &str,
        decide: impl FnOnce(Option<&Record>) -> Result<Vec<RecordOp>, E>,
        author: impl FnOnce() -> ChangeAuthor,
    ) -> Result<Written, UpdateError<E>> {
        let _writer = lock(&self.write_lock);
        let existing = self.checkout(doc_id)?;
        let current = match existing {
            Some(mut doc) => {
                let record = hydrate(doc_id, &mut doc)?;
                Some((doc, record))
            }
            None => None,
        };
        let ops = match decide(current.as_ref().map(|(_, r)| r)) {
            Ok(ops) => ops,
            Err(refusal) => {
                if let Some((doc, _)) = current {
                    lock(&self.cache).put(doc_id.to_string(), doc);
                }
                return Err(UpdateError::Refused(refusal));
            }
        };
        let (mut doc, current_record) = match current {
            Some((doc, record)) => (doc, Some(record)),
            None => (
                Box::new(AutoCommit::new().with_actor(self.actor.clone())),
                None,
            ),
        };
        let before = doc.get_heads();
        if let Err(source) = codec::apply_ops(&mut doc, &ops) {
            doc.rollback();
            lock(&self.cache).put(doc_id.to_string(), doc);
            return Err(StoreError::Codec {
                doc: doc_id.to_string(),
                source: Box::new(source),
            }
            .into());
        }
        doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(codec::commit_message(&author()))
                .with_time(now_ms()),
        );
        // A local change leaves every value it wrote as the only one, so the record after it is
        // the record before with the ops applied; no need to read the whole document back.
        let after = current_record.unwrap_or_default().with_ops(&ops);
        Ok(self.persist_with(doc_id, doc, &before, after)?)
    }

    /// Creates a document under a new id (`update` on an id nothing has written yet, faster).
    /// The document is built, saved and projected before the write lock is taken, since no one
    /// else can see an id that is not written yet: creates from many clients use every core and
    /// only the batch itself is written under the lock. Creates that queue up while another
    /// writer holds the lock are written together, as one sled batch, by whichever of them gets
    /// the lock first (see `CreateQueue`). Refused if the id is taken.
    pub fn create(
        &self,
        doc_id: &str,
        author: &ChangeAuthor,
        ops: &[RecordOp],
    ) -> Result<Written, StoreError> {
        let mut doc = Box::new(AutoCommit::new().with_actor(self.actor.clone()));
        codec::init_document(&mut doc, ops).map_err(|source| StoreError::Codec {
            doc: doc_id.to_string(),
            source: Box::new(source),
        })?;
        doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(codec::commit_message(author))
                .with_time(now_ms()),
        );
        let record = Record::default().with_ops(ops);
        let snapshot = doc.save_nocompress();
        let projection = self.projector.project(doc_id, &record);
        let built = BuiltCreate {
            doc_id: doc_id.to_string(),
            doc,
            record,
            snapshot,
            projection,
        };

        let ticket = lock(&self.creates).enqueue(built);
        let _writer = lock(&self.write_lock);
        // Whoever held the lock before us may have written our create with theirs.
        if let Some(done) = lock(&self.creates).done.remove(&ticket) {
            return done;
        }
        let queued = std::mem::take(&mut lock(&self.creates).waiting);
        let results = self.write_creates(queued);
        let mut creates = lock(&self.creates);
        creates.done.extend(results);
        creates
            .done
            .remove(&ticket)
            .expect("a create is queued until the holder of the write lock writes it")
    }

    /// Writes queued creates as one batch; one result per ticket. A taken id is refused alone;
    /// a storage failure refuses all the others and writes none. Call with the write lock held.
    fn write_creates(
        &self,
        queued: Vec<(u64, BuiltCreate)>,
    ) -> Vec<(u64, Result<Written, StoreError>)> {
        let mut batch = sled::Batch::default();
        let mut seq = self.last_seq.load(Ordering::SeqCst);
        let mut ids = HashSet::new();
        let mut results = Vec::with_capacity(queued.len());
        // Creates staged in the batch (ticket, feed number, id, document, record), and those
        // left out once a storage error stopped staging.
        let mut staged = Vec::new();
        let mut unstaged = Vec::new();
        let mut failure = None;
        let mut tallied = TallyDelta::default();
        for (ticket, built) in queued {
            if failure.is_some() {
                unstaged.push(ticket);
                continue;
            }
            let BuiltCreate {
                doc_id,
                mut doc,
                record,
                snapshot,
                projection,
            } = built;
            let on_disk = self
                .db()
                .and_then(|db| Ok(db.contains_key(keys::doc_meta(&doc_id))?));
            match on_disk {
                Ok(on_disk) if on_disk || !ids.insert(doc_id.clone()) => {
                    results.push((ticket, Err(StoreError::Exists(doc_id))));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    unstaged.push(ticket);
                    continue;
                }
            }
            let change = Change {
                seq: seq + 1,
                before: &[],
                saved: Some(&snapshot),
                projection,
                record: &record,
            };
            let staging = self.stage(
                &mut batch,
                &mut tallied,
                &doc_id,
                &mut doc,
                DocMeta::default(),
                change,
            );
            match staging {
                Ok(()) => {
                    seq += 1;
                    staged.push((ticket, seq, doc_id, doc, record));
                }
                // Part of this document may be in the batch: write none of it.
                Err(e) => {
                    failure = Some(e.repeated());
                    unstaged.push(ticket);
                }
            }
        }
        let counters = self.stage_counters(&mut batch);
        if let Err(reason) = self.apply_unless_failed(batch, failure) {
            let refused = staged.into_iter().map(|(ticket, ..)| ticket);
            for ticket in refused.chain(unstaged) {
                results.push((ticket, Err(reason.repeated())));
            }
            return results;
        }
        self.reclaimer.wrote(staged.len());
        self.tallies.apply(tallied);
        self.counters_written(counters);
        self.last_seq.store(seq, Ordering::SeqCst);
        let mut cache = lock(&self.cache);
        for (ticket, seq, doc_id, doc, record) in staged {
            cache.put(doc_id, doc);
            let written = Written {
                record,
                changed: true,
                seq,
            };
            results.push((ticket, Ok(written)));
        }
        results
    }

    /// Applies `batch`, unless staging it failed (`failure`, the reason), in which case nothing
    /// of it is written: a failed staging may have left part of a document in it.
    fn apply_unless_failed(
        &self,
        batch: sled::Batch,
        failure: Option<StoreError>,
    ) -> Result<(), StoreError> {
        match failure {
            Some(reason) => Err(reason),
            None => self.apply(batch),
        }
    }

    /// Applies a batch of documents' changes, unless the disk ran full: then nothing is applied,
    /// since what cannot be made durable must not be seen by readers either.
    fn apply(&self, batch: sled::Batch) -> Result<(), StoreError> {
        if self.disk_full() {
            return Err(StoreError::DiskFull(
                "writes are refused until disk space is freed".into(),
            ));
        }
        Ok(self.db()?.apply_batch(batch)?)
    }

    /// Merges changes received from a peer (the output of `save`/`save_after`). Nothing is
    /// written if the bytes are malformed.
    pub fn merge(&self, doc_id: &str, changes: &[u8]) -> Result<Written, StoreError> {
        self.merge_batch(&[(doc_id.to_string(), changes.to_vec())])
            .pop()
            .expect("one result per document")
    }

    /// Writes a local change as one atomic batch and puts the document back in the cache.
    /// Call with the write lock held.
    fn persist_with(
        &self,
        doc_id: &str,
        mut doc: Doc,
        before: &[ChangeHash],
        record: Record,
    ) -> Result<Written, StoreError> {
        let old = self.doc_meta(doc_id)?;
        if doc.get_heads() == before {
            lock(&self.cache).put(doc_id.to_string(), doc);
            return Ok(Written {
                record,
                changed: false,
                seq: old.map(|m| m.seq).unwrap_or(0),
            });
        }
        let seq = self.last_seq.load(Ordering::SeqCst) + 1;
        let mut batch = sled::Batch::default();
        let mut tallied = TallyDelta::default();
        let change = Change {
            seq,
            before,
            saved: None,
            projection: self.projector.project(doc_id, &record),
            record: &record,
        };
        self.stage(
            &mut batch,
            &mut tallied,
            doc_id,
            &mut doc,
            old.unwrap_or_default(),
            change,
        )?;
        let counters = self.stage_counters(&mut batch);
        self.apply(batch)?;
        self.reclaimer.wrote(1);
        self.tallies.apply(tallied);
        self.counters_written(counters);
        self.last_seq.store(seq, Ordering::SeqCst);
        lock(&self.cache).put(doc_id.to_string(), doc);
        Ok(Written {
            record,
            changed: true,
            seq,
        })
    }

    /// Adds to `batch` everything a change of `doc` writes, given the document's metadata before
    /// it (`old`): chunk or snapshot, feed entry, index entries that changed, metadata.
    fn stage(
        &self,
        batch: &mut sled::Batch,
        tallied: &mut TallyDelta,
        doc_id: &str,
        doc: &mut AutoCommit,
        old: DocMeta,
        change: Change<'_>,
    ) -> Result<(), StoreError> {
        let Change {
            seq,
            before,
            saved,
            projection,
            record,
        } = change;
        let save_whole = before.is_empty()
            || old.chunks + 1 >= COMPACT_AFTER_CHUNKS
            || doc.stats().num_ops <= SAVE_WHOLE_MAX_OPS;
        let chunks = if save_whole {
            // Compaction: the snapshot replaces every earlier chunk. The chunk of this change is
            // never written, so no key written by this batch is also deleted by it.
            match saved {
                Some(bytes) => batch.insert(keys::snapshot(doc_id), checksum::seal(bytes)),
                // sled compresses its pages; compressing columns here too only costs time.
                None => batch.insert(
                    keys::snapshot(doc_id),
                    checksum::seal(&doc.save_nocompress()),
                ),
            }
            // The metadata counts a document's chunks (a new one has none), so a document saved
            // whole each time is not searched for chunks each time.
            if old.chunks > 0 {
                for key in self.db()?.scan_prefix(keys::chunk_prefix(doc_id)).keys() {
                    batch.remove(key?);
                }
            }
            0
        } else {
            batch.insert(
                keys::chunk(doc_id, seq),
                checksum::seal(&doc.save_after(before)),
            );
            old.chunks + 1
        };

        if old.seq != 0 {
            batch.remove(keys::feed(old.seq));
        } else {
            lock(&self.new_docs).record(doc_id, seq);
        }
        let heads: Heads = doc.get_heads().iter().map(|h| h.0).collect();
        batch.insert(keys::feed(seq), keys::feed_value(doc_id, &heads));

        let index: Vec<(String, String)> = projection
            .index
            .into_iter()
            .map(|(index, value)| (index.to_string(), value))
            .collect();
        // Only entries that changed are written: every key sled writes costs a log write.
        for (name, value) in &old.index {
            if !index.iter().any(|(n, v)| n == name && v == value) {
                batch.remove(keys::index_entry(name, value, doc_id));
            }
        }
        for (name, value) in &index {
            if !old.index.iter().any(|(n, v)| n == name && v == value) {
                batch.insert(keys::index_entry(name, value, doc_id), &[] as &[u8]);
            }
        }
        self.tally_change(doc_id, &old.index, &index, tallied);
        let meta = DocMeta {
            kind: record.kind.clone(),
            heads,
            seq,
            chunks,
            index,
            summary: projection.summary,
        };
        batch.insert(keys::doc_meta(doc_id), meta.encode()?);
        Ok(())
    }

    /// Merges the changes of many documents received from a peer (one fetch answer, or one
    /// document for `merge`), written as one atomic batch. Documents are merged, read and
    /// projected on every core before the write lock is taken. Returns one result per
    /// document, in order; a refused document changes nothing.
    pub fn merge_batch(&self, docs: &[(String, Vec<u8>)]) -> Vec<Result<Written, StoreError>> {
        self.merge_prepared(docs, self.prepare_received(docs, &HashSet::new(), 0))
    }

    /// `merge_batch` for a fetch answer. `absent`: the documents this node did not have as of
    /// feed number `as_of` (`last_seq` read before it looked). Their merge is prepared without
    /// looking them up: during a full sync that lookup is a sled read per document, and sled
    /// makes every read wait while another batch is written, which kept the next answer's
    /// preparation from overlapping the current one's write. Under the write lock they are
    /// looked up only if they may have been written since (`NewDocs`); if one was, it is
    /// merged again with what was written.
    pub fn merge_fetched(
        &self,
        docs: &[(String, Vec<u8>)],
        absent: &HashSet<&str>,
        as_of: u64,
    ) -> Vec<Result<Written, StoreError>> {
        self.merge_prepared(docs, self.prepare_received(docs, absent, as_of))
    }

    /// The feed number to pass to `merge_fetched` as `as_of`: read it before looking.
    pub fn absence_mark(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// The write-locked half of `merge_batch`.
    fn merge_prepared(
        &self,
        docs: &[(String, Vec<u8>)],
        prepared: Vec<Result<Received, StoreError>>,
    ) -> Vec<Result<Written, StoreError>> {
        let writer = lock(&self.write_lock);
        let mut batch = sled::Batch::default();
        let mut seq = self.last_seq.load(Ordering::SeqCst);
        let mut staged: Vec<(usize, Doc)> = Vec::with_capacity(docs.len());
        let mut results: Vec<Result<Written, StoreError>> = Vec::with_capacity(docs.len());
        let mut seen = HashSet::new();
        let mut tallied = TallyDelta::default();
        for (i, ((doc_id, changes), prepared)) in docs.iter().zip(prepared).enumerate() {
            if !seen.insert(doc_id.as_str()) {
                results.push(Err(StoreError::BadChanges {
                    doc: doc_id.clone(),
                    reason: "sent twice in one batch".into(),
                }));
                continue;
            }
            let merged = prepared.and_then(|new| {
                self.stage_received(&mut batch, &mut tallied, seq + 1, doc_id, changes, new)
            });
            results.push(merged.map(|(written, doc)| {
                if written.changed {
                    seq = written.seq;
                    staged.push((i, doc));
                } else {
                    lock(&self.cache).put(doc_id.clone(), doc);
                }
                written
            }));
        }
        // A storage error may have left part of one document in the batch: write none of it.
        let storage_failed = results.iter().find_map(|r| match r {
            Err(
                e @ (StoreError::Sled(_)
                | StoreError::DiskFull(_)
                | StoreError::Meta(_)
                | StoreError::Corrupt { .. }),
            ) => Some(e.repeated()),
            _ => None,
        });
        if let Err(reason) = self.apply_unless_failed(batch, storage_failed) {
            // Nothing of the batch was written; staged documents are dropped, not cached.
            return docs.iter().map(|_| Err(reason.repeated())).collect();
        }
        self.reclaimer.wrote(staged.len());
        self.tallies.apply(tallied);
        self.last_seq.store(seq, Ordering::SeqCst);
        let mut evicted = Vec::new();
        let mut cache = lock(&self.cache);
        for (i, doc) in staged {
            evicted.extend(cache.push(docs[i].0.clone(), doc));
        }
        drop(cache);
        // Freeing the documents the cache let go (thousands of allocations each batch of a
        // full sync) is left until the write lock is released: the next batch may write.
        drop(writer);
        drop(evicted);
        results
    }

    /// Checks, merges, reads and projects the documents of `docs`, spread over the machine's
    /// cores. A document this node has is taken from the cache (or disk) and merged into; if a
    /// writer changes it before the write lock is taken, `stage_received` merges it again.
    fn prepare_received(
        &self,
        docs: &[(String, Vec<u8>)],
        absent: &HashSet<&str>,
        as_of: u64,
    ) -> Vec<Result<Received, StoreError>> {
        let prepare = |(doc_id, changes): &(String, Vec<u8>)| {
            // Automerge skips a damaged tail when loading incrementally (meant for files cut
            // short by a crash). From a peer that is an error: the message must be whole chunks.
            codec::check_chunks(changes).map_err(|reason| refused(doc_id, reason))?;
            let absent_as_of = absent.contains(doc_id.as_str()).then_some(as_of);
            let base = if absent_as_of.is_some() {
                None
            } else {
                self.doc_meta(doc_id)?.map(|meta| meta.heads)
            };
            // Without metadata the document is new here: nothing to take out of the cache or
            // read from disk (a batch of new documents used to look for each one twice).
            let known = if base.is_some() {
                self.checkout(doc_id)?
            } else {
                None
            };
            let mut doc = match known {
                Some(doc) => self.merge_into(doc_id, doc, changes)?,
                None => self.load_received(doc_id, changes)?,
            };
            let record = hydrate(doc_id, &mut doc)?;
            let projection = self.projector.project(doc_id, &record);
            Ok(Received {
                doc,
                record,
                projection,
                base,
                absent_as_of,
            })
        };
        crate::parallel::map_on_cores(docs, 16, prepare)
    }

    /// Stages one received document under feed number `seq` (if it brings anything new) and
    /// returns it with what was written. `prepared`: the document as merged off the lock. Call
    /// with the write lock held.
    fn stage_received(
        &self,
        batch: &mut sled::Batch,
        tallied: &mut TallyDelta,
        seq: u64,
        doc_id: &str,
        changes: &[u8],
        prepared: Received,
    ) -> Result<(Written, Doc), StoreError> {
        let still_absent = prepared
            .absent_as_of
            .and_then(|mark| lock(&self.new_docs).new_since(doc_id, mark))
            == Some(false);
        let old = if still_absent {
            None
        } else {
            self.doc_meta(doc_id)?
        };
        let (mut doc, record, projection) = match old.as_ref().map(|m| &m.heads) {
            // Nobody wrote it while it was being prepared.
            heads if heads == prepared.base.as_ref() => {
                (prepared.doc, prepared.record, prepared.projection)
            }
            _ => {
                drop(prepared);
                let mut doc = match self.checkout(doc_id)? {
                    Some(doc) => self.merge_into(doc_id, doc, changes)?,
                    None => self.load_received(doc_id, changes)?,
                };
                let record = hydrate(doc_id, &mut doc)?;
                let projection = self.projector.project(doc_id, &record);
                (doc, record, projection)
            }
        };
        let old = old.unwrap_or_default();
        let before = old.change_hashes();
        if doc.get_heads() == before {
            let written = Written {
                record,
                changed: false,
                seq: old.seq,
            };
            return Ok((written, doc));
        }
        let change = Change {
            seq,
            before: &before,
            saved: before.is_empty().then_some(changes),
            projection,
            record: &record,
        };
        self.stage(batch, tallied, doc_id, &mut doc, old, change)?;
        let written = Written {
            record,
            changed: true,
            seq,
        };
        Ok((written, doc))
    }

    /// Received changes loaded into a copy of a document this node has. On failure the copy,
    /// which may hold part of the input, is dropped: disk stays the truth.
    fn merge_into(&self, doc_id: &str, mut doc: Doc, changes: &[u8]) -> Result<Doc, StoreError> {
        doc.load_incremental(changes)
            .map_err(|e| refused(doc_id, e.to_string()))?;
        refuse_missing_deps(doc_id, &doc)?;
        Ok(doc)
    }

    /// A whole document received from a peer, loaded strictly (no damaged tail skipped) and with
    /// every dependency present, writing as this node.
    fn load_received(&self, doc_id: &str, changes: &[u8]) -> Result<Doc, StoreError> {
        let strict = automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error);
        let mut doc = Box::new(
            AutoCommit::load_with_options(changes, strict)
                .map_err(|e| refused(doc_id, e.to_string()))?,
        );
        doc.set_actor(self.actor.clone());
        refuse_missing_deps(doc_id, &doc)?;
        Ok(doc)
    }

    /// Every document id, optionally of one kind.
    pub fn doc_ids(&self, kind: Option<&str>) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for entry in self.db()?.scan_prefix(keys::DOC_META_PREFIX) {
            let (key, value) = entry?;
            let id = String::from_utf8_lossy(&key[keys::DOC_META_PREFIX.len()..]).to_string();
            if let Some(kind) = kind {
                match DocMeta::decode(&value) {
                    Ok(meta) if meta.kind == kind => {}
                    Ok(_) => continue,
                    // Of no known kind until it is fetched again.
                    Err(why) => {
                        self.damaged(&id, format!("its metadata: {why}"));
                        continue;
                    }
                }
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// The whole document, compressed (export, and first sync of a document a peer lacks).
    pub fn save(&self, doc_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_doc(doc_id, |doc| doc.save())
    }

    /// The document as stored (snapshot then chunks, concatenated), without loading it: what a
    /// peer that has nothing of it needs. Automerge loads such a concatenation as one document.
    /// A damaged document is `StoreError::Damaged`: it is never sent on.
    pub fn raw_document(&self, doc_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        let mut out = match db.get(keys::snapshot(doc_id))? {
            Some(value) => checksum::open(&value)
                .map_err(|why| self.damaged(doc_id, format!("its snapshot: {why}")))?
                .to_vec(),
            None => Vec::new(),
        };
        for entry in db.scan_prefix(keys::chunk_prefix(doc_id)) {
            let (_, value) = entry?;
            let bytes = checksum::open(&value)
                .map_err(|why| self.damaged(doc_id, format!("a chunk: {why}")))?;
            out.extend_from_slice(bytes);
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// Changes a peer holding `their_heads` lacks. Heads we do not know are ignored: the result
    /// then may repeat changes the peer has, which it drops on merge.
    pub fn changes_for(
        &self,
        doc_id: &str,
        their_heads: &[ChangeHash],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_doc(doc_id, |doc| {
            if their_heads.is_empty() {
                return doc.save();
            }
            let known: Vec<ChangeHash> = their_heads
                .iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .copied()
                .collect();
            if known.is_empty() {
                doc.save()
            } else {
                doc.save_after(&known)
            }
        })
    }

    /// This node's heads of a document, if it may lack some of the changes named in `heads`;
    /// None if it surely has them all (they are among its heads, or in the history of its cached
    /// copy). Decided without reading the document from disk: loading every document a peer
    /// changed only to find it lacking would cost as much as merging it, and a wrong "may lack"
    /// only costs a fetch that brings nothing new.
    pub fn heads_if_lacking(
        &self,
        doc_id: &str,
        heads: &[ChangeHash],
    ) -> Result<Option<Heads>, StoreError> {
        let meta = match self.doc_meta(doc_id) {
            Ok(Some(meta)) => meta,
            Ok(None) => return Ok((!heads.is_empty()).then(Vec::new)),
            // Fetched whole instead (`replace_damaged`).
            Err(StoreError::Damaged { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if heads.iter().all(|h| meta.heads.contains(&h.0)) {
            return Ok(None);
        }
        let in_cached_history = lock(&self.cache)
            .peek_mut(doc_id)
            .is_some_and(|doc| heads.iter().all(|h| doc.get_change_by_hash(h).is_some()));
        Ok((!in_cached_history).then_some(meta.heads))
    }

    /// Feed entries with a sequence number above `after`, at most `limit`, up to `until`.
    pub fn feed_since(
        &self,
        after: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self
            .feed_entries(after, until, limit)?
            .into_iter()
            .map(|(seq, doc, _)| (seq, doc))
            .collect())
    }

    /// `feed_since` with each document's heads after that change: the heads its feed entry
    /// keeps, or (an entry written before they were kept there) its metadata's.
    pub fn feed_heads_since(
        &self,
        after: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, Heads)>, StoreError> {
        self.feed_entries(after, until, limit)?
            .into_iter()
            .map(|(seq, doc, heads)| {
                let heads = match heads {
                    Some(heads) => heads,
                    None => match self.doc_meta(&doc) {
                        Ok(meta) => meta.map(|m| m.heads).unwrap_or_default(),
                        Err(StoreError::Damaged { .. }) => Vec::new(),
                        Err(e) => return Err(e),
                    },
                };
                Ok((seq, doc, heads))
            })
            .collect()
    }

    fn feed_entries(
        &self,
        after: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, Option<Heads>)>, StoreError> {
        let mut out = Vec::new();
        if after >= until {
            return Ok(out);
        }
        for entry in self.db()?.range(keys::feed(after + 1)..=keys::feed(until)) {
            let (key, value) = entry?;
            let Some(seq) = keys::feed_seq(&key) else {
                continue;
            };
            let (doc, heads) = keys::parse_feed_value(&value);
            out.push((seq, doc, heads));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// How many feed entries lie above `after` and at or below `until`.
    pub fn feed_count_between(&self, after: u64, until: u64) -> Result<usize, StoreError> {
        if after >= until {
            return Ok(0);
        }
        let mut count = 0;
        for key in self
            .db()?
            .range(keys::feed(after + 1)..=keys::feed(until))
            .keys()
        {
            key?;
            count += 1;
        }
        Ok(count)
    }

    /// Removes every entry of an index no longer written, in one batch; returns how many.
    /// Documents' metadata may still list them: a later change removes them again, harmlessly.
    /// Projects every document again with the current projector and rewrites the index
    /// entries and summaries that differ (after an upgrade changed what is projected). Feed,
    /// heads and documents are untouched: nothing is sent to peers for it. Returns how many
    /// documents' projections changed.
    pub fn reproject_all(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        for doc_id in self.doc_ids(None)? {
            let _writer = lock(&self.write_lock);
            let old = match self.doc_meta(&doc_id) {
                Ok(Some(old)) => old,
                // Fetched again from a peer, and projected then.
                Ok(None) | Err(StoreError::Damaged { .. }) => continue,
                Err(e) => return Err(e),
            };
            let record = match self.record(&doc_id) {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                // Fetched again from a peer, and projected then.
                Err(StoreError::Damaged { .. }) => continue,
                Err(e) => return Err(e),
            };
            let projection = self.projector.project(&doc_id, &record);
            let index: Vec<(String, String)> = projection
                .index
                .into_iter()
                .map(|(index, value)| (index.to_string(), value))
                .collect();
            if index == old.index && projection.summary == old.summary {
                continue;
            }
            let mut batch = sled::Batch::default();
            for (name, value) in &old.index {
                if !index.contains(&(name.clone(), value.clone())) {
                    batch.remove(keys::index_entry(name, value, &doc_id));
                }
            }
            for (name, value) in &index {
                if !old.index.contains(&(name.clone(), value.clone())) {
                    batch.insert(keys::index_entry(name, value, &doc_id), &[] as &[u8]);
                }
            }
            let mut tallied = TallyDelta::default();
            self.tally_change(&doc_id, &old.index, &index, &mut tallied);
            let meta = DocMeta {
                index,
                summary: projection.summary,
                ..old
            };
            batch.insert(keys::doc_meta(&doc_id), meta.encode()?);
            self.db()?.apply_batch(batch)?;
            self.tallies.apply(tallied);
            changed += 1;
        }
        self.db()?.flush()?;
        Ok(changed)
    }

    /// Adds to `tallied` what a document's change from `old` to `new` entries does to the
    /// tallies (while they are being built, notes the document instead).
    fn tally_change(
        &self,
        doc_id: &str,
        old: &[(String, String)],
        new: &[(String, String)],
        tallied: &mut TallyDelta,
    ) {
        if !self.tallies.is_built() {
            self.tallies.note_written(doc_id);
            return;
        }
        for &index in self.projector.tallied() {
            let (before, after) = (values_in(old, index), values_in(new, index));
            if before != after {
                tallied.replace(
                    self.projector.tally(index, &before),
                    self.projector.tally(index, &after),
                );
            }
        }
    }

    /// The tallies with keys in `[from, to)` (see `tally`), built first if they are not (a
    /// read of every tallied index).
    pub fn tallies(&self, from: &str, to: &str) -> Result<Vec<Contribution>, StoreError> {
        // A build dropped while under way (damage repaired meanwhile) is made again.
        for _ in 0..3 {
            if let Some(found) = self.tallies.range(from, to) {
                return Ok(found);
            }
            self.build_tallies()?;
        }
        Err(StoreError::Meta(
            "the report tallies were dropped while being built, three times".into(),
        ))
    }

    /// Builds the tallies if they are not built (a node warms them at start). The indexes
    /// are read without holding writers back; the documents written meanwhile are counted
    /// again from their entries at the end, under the write lock.
    pub fn build_tallies(&self) -> Result<(), StoreError> {
        let _builder = lock(&self.tally_builder);
        let generation = {
            let _writer = lock(&self.write_lock);
            match self.tallies.start() {
                Some(generation) => generation,
                None => return Ok(()),
            }
        };
        let read = self.read_tallied()?;
        self.finish_tally_build(generation, read)
    }

    /// Per tallied index, each document's values as the index holds them now.
    fn read_tallied(&self) -> Result<Vec<HashMap<String, Vec<String>>>, StoreError> {
        let db = self.db()?;
        let read_index =
            |index: &&'static str| -> Result<HashMap<String, Vec<String>>, StoreError> {
                let prefix = keys::index_prefix(index);
                let mut by_doc: HashMap<String, Vec<String>> = HashMap::new();
                for key in db.scan_prefix(&prefix).keys() {
                    let key = key?;
                    let Ok(text) = std::str::from_utf8(&key[prefix.len()..]) else {
                        continue;
                    };
                    if let Some((value, doc)) = text.rsplit_once('\0') {
                        by_doc
                            .entry(doc.to_string())
                            .or_default()
                            .push(value.to_string());
                    }
                }
                Ok(by_doc)
            };
        crate::parallel::map_on_cores(self.projector.tallied(), 1, read_index)
            .into_iter()
            .collect()
    }

    /// Puts in place the tallies of build `generation` from what was `read`, counting the
    /// documents written since it started from their entries as they are now.
    fn finish_tally_build(
        &self,
        generation: u64,
        read: Vec<HashMap<String, Vec<String>>>,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let tallied = self.projector.tallied();
        let _writer = lock(&self.write_lock);
        let Some(written) = self.tallies.written_since(generation) else {
            // Dropped meanwhile: the reader builds again.
            return Ok(());
        };
        let mut built = TallyDelta::default();
        for (index, by_doc) in tallied.iter().zip(&read) {
            let unwritten = by_doc.iter().filter(|(doc, _)| !written.contains(*doc));
            for (_, values) in unwritten {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                built.replace(Vec::new(), self.projector.tally(index, &values));
            }
        }
        // The documents written during the read, as they are now.
        for doc in &written {
            let Ok(Some(meta)) = self.doc_meta(doc) else {
                continue;
            };
            for index in tallied {
                let values = values_in(&meta.index, index);
                built.replace(Vec::new(), self.projector.tally(index, &values));
            }
        }
        self.tallies.set(built);
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            written_meanwhile = written.len(),
            "tallies built"
        );
        Ok(())
    }

    pub fn drop_index(&self, index: &str) -> Result<usize, StoreError> {
        let _writer = lock(&self.write_lock);
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for key in self.db()?.scan_prefix(keys::index_prefix(index)).keys() {
            batch.remove(key?);
            removed += 1;
        }
        if removed > 0 {
            self.db()?.apply_batch(batch)?;
            self.db()?.flush()?;
            self.tallies.drop_all();
        }
        Ok(removed)
    }

    /// Walks an index in key order from `start` (exclusive when resuming from a cursor).
    /// `value_prefix` limits it to entries whose value starts with the prefix.
    pub fn scan_index(
        &self,
        index: &str,
        value_prefix: &str,
        after_key: Option<&[u8]>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, String), StoreError>> + '_ {
        let prefix = [
            keys::index_prefix(index).as_slice(),
            value_prefix.as_bytes(),
        ]
        .concat();
        let mut end = prefix.clone();
        end.push(0xff);
        type Entries = Box<dyn Iterator<Item = Result<(Vec<u8>, String), StoreError>>>;
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => return Box::new(std::iter::once(Err(e))) as Entries,
        };
        let range: Box<dyn DoubleEndedIterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match (after_key, reverse) {
                (Some(k), false) => {
                    let mut start = k.to_vec();
                    start.push(0);
                    Box::new(db.range(start..end))
                }
                (Some(k), true) => Box::new(db.range(prefix.clone()..k.to_vec()).rev()),
                (None, false) => Box::new(db.range(prefix.clone()..end)),
                (None, true) => Box::new(db.range(prefix.clone()..end).rev()),
            };
        Box::new(range.map(|entry| {
            let (key, _) = entry?;
            let doc = keys::index_doc(&key).unwrap_or_default().to_string();
            Ok((key.to_vec(), doc))
        })) as Entries
    }

    /// Calls `f(value, doc id)` for index entries whose value lies in `[from, to)`, borrowing
    /// from the stored keys (no copy per entry): for reports that read many entries.
    pub fn for_each_in_index_range(
        &self,
        index: &str,
        from: &str,
        to: &str,
        mut f: impl FnMut(&str, &str),
    ) -> Result<(), StoreError> {
        self.for_each_in_index_range_while(index, from, to, |value, doc| {
            f(value, doc);
            true
        })
    }

    /// `for_each_in_index_range`, stopping at the first entry for which `f` returns false.
    pub fn for_each_in_index_range_while(
        &self,
        index: &str,
        from: &str,
        to: &str,
        mut f: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = keys::index_prefix(index);
        let start = [prefix.as_slice(), from.as_bytes()].concat();
        let end = [prefix.as_slice(), to.as_bytes()].concat();
        for entry in self.db()?.range(start..end) {
            let (key, _) = entry?;
            let Ok(text) = std::str::from_utf8(&key[prefix.len()..]) else {
                continue;
            };
            if let Some((value, doc)) = text.rsplit_once('\0') {
                if !f(value, doc) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Records when this node last completed an exchange with a peer (reports say "as of").
    pub fn set_peer_synced(&self, node: &str, name: &str, at: &str) -> Result<(), StoreError> {
        let value = serde_json::json!({"node_id": node, "name": name, "last_sync": at});
        self.db()?.insert(
            keys::meta(&format!("synced/{node}")),
            value.to_string().as_bytes(),
        )?;
        Ok(())
    }

    pub fn peer_syncs(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(self
            .scan_raw(&keys::meta("synced/"))?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }

    /// A document's summary; None for a document whose metadata is damaged (left out of lists
    /// and named as damaged until it is fetched again).
    pub fn summary(&self, doc_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.doc_meta(doc_id) {
            Ok(meta) => Ok(meta.map(|m| m.summary)),
            Err(StoreError::Damaged { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn peer_cursor(&self, peer: &str) -> Result<u64, StoreError> {
        Ok(self
            .db()?
            .get(keys::peer_cursor(peer))?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    pub fn set_peer_cursor(&self, peer: &str, seq: u64) -> Result<(), StoreError> {
        self.db()?
            .insert(keys::peer_cursor(peer), &seq.to_be_bytes())?;
        Ok(())
    }

    pub fn put_raw(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db()?.insert(key, value)?;
        Ok(())
    }

    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db()?.get(key)?.map(|v| v.to_vec()))
    }

    pub fn scan_raw(&self, prefix: &[u8]) -> Result<Vec<RawEntry>, StoreError> {
        self.db()?
            .scan_prefix(prefix)
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn raw_document_of_snapshot_and_chunks_loads_on_another_node() {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let a = Store::open(a_dir.path(), Arc::new(NoIndex), 10).unwrap();
        let b = Store::open(b_dir.path(), Arc::new(NoIndex), 10).unwrap();
        make_large(&a, "d1");
        set(&a, "d1", "x", "1");
        set(&a, "d1", "y", "2");
        set(&a, "d1", "x", "3");
        assert_eq!(chunk_count(&a, "d1"), 3);
        b.merge("d1", &raw(&a, "d1")).unwrap();
        drop(b);
        // Reopened from disk: the received bytes were kept as the snapshot.
        let b = Store::open(b_dir.path(), Arc::new(NoIndex), 10).unwrap();
        let record = b.record("d1").unwrap().unwrap();
        assert_eq!(record.field("x"), Some("3"));
        assert_eq!(record.field("y"), Some("2"));
        assert_eq!(
            a.doc_meta("d1").unwrap().unwrap().heads,
            b.doc_meta("d1").unwrap().unwrap().heads
        );
    }

    #[test]
    fn compaction_keeps_every_change_and_drops_old_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 1).unwrap();
        make_large(&store, "d");
        let mut most_chunks = 0;
        for i in 0..(COMPACT_AFTER_CHUNKS * 2 + 3) {
            set(&store, "d", "n", &i.to_string());
            set(&store, "other", "n", &i.to_string()); // evicts "d" from the 1-doc cache
            most_chunks = most_chunks.max(chunk_count(&store, "d"));
        }
        assert_eq!(most_chunks, COMPACT_AFTER_CHUNKS as usize - 1);
        let chunks = chunk_count(&store, "d");
        assert!(
            chunks < COMPACT_AFTER_CHUNKS as usize,
            "{chunks} chunks left"
        );
        let record = store.record("d").unwrap().unwrap();
        assert_eq!(
            record.field("n"),
            Some((COMPACT_AFTER_CHUNKS * 2 + 2).to_string().as_str())
        );
        let changes = store
            .with_doc("d", |d| d.get_changes(&[]).len())
            .unwrap()
            .unwrap();
        assert_eq!(changes as u32, COMPACT_AFTER_CHUNKS * 2 + 4);
    }

    #[test]
    fn a_small_document_is_saved_whole_on_every_change() {
        let (_dir, store) = store();
        for i in 0..5 {
            set(&store, "d", "n", &i.to_string());
            set(&store, "d", &format!("f{i}"), "x");
        }
        assert_eq!(chunk_count(&store, "d"), 0);
        assert_eq!(store.doc_meta("d").unwrap().unwrap().chunks, 0);
        // The snapshot alone holds every change.
        let snapshot = store
            .db()
            .unwrap()
            .get(keys::snapshot("d"))
            .unwrap()
            .unwrap();
        let mut doc = AutoCommit::load(checksum::open(&snapshot).unwrap()).unwrap();
        assert_eq!(doc.get_changes(&[]).len(), 10);
        assert_eq!(store.record("d").unwrap().unwrap().field("n"), Some("4"));
    }

    #[test]
    fn a_document_grown_past_the_whole_save_limit_takes_chunks() {
        let (_dir, store) = store();
        set(&store, "d", "n", "0");
        assert_eq!(chunk_count(&store, "d"), 0);
        // The change that takes it past the limit is the first chunk.
        make_large(&store, "d");
        set(&store, "d", "n", "1");
        set(&store, "d", "n", "2");
        assert_eq!(chunk_count(&store, "d"), 3);
        assert_eq!(store.doc_meta("d").unwrap().unwrap().chunks, 3);
        assert_eq!(store.record("d").unwrap().unwrap().field("n"), Some("2"));
    }

    #[test]
    fn malformed_changes_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        set(&store, "d", "x", "1");
        let seq = store.last_seq();
        assert!(store.merge("d", b"\x85o\x4a\x83garbage").is_err());
        assert!(store.merge("new", &[0u8; 100]).is_err());
        assert_eq!(store.last_seq(), seq);
        assert!(store.doc_meta("new").unwrap().is_none());
        assert_eq!(store.record("d").unwrap().unwrap().field("x"), Some("1"));
    }

    #[test]
    fn the_feed_keeps_one_entry_per_document_at_its_latest_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        set(&store, "a", "x", "1");
        set(&store, "b", "x", "1");
        set(&store, "a", "x", "2");
        let feed = store.feed_since(0, u64::MAX, 100).unwrap();
        assert_eq!(feed, vec![(2, "b".to_string()), (3, "a".to_string())]);
        assert_eq!(
            store.feed_since(2, u64::MAX, 100).unwrap(),
            vec![(3, "a".to_string())]
        );
        // Writing the same value again is not a change.
        set(&store, "a", "x", "2");
        assert_eq!(store.last_seq(), 3);
    }

    #[test]
    fn the_feed_gives_each_entry_the_heads_of_its_change() {
        let (_dir, store) = store();
        set(&store, "a", "x", "1");
        set(&store, "b", "x", "1");
        // An entry as written before heads were kept in the feed: the doc id alone.
        store.put_raw(&keys::feed(9), b"b").unwrap();
        let meta_heads = |doc: &str| store.doc_meta(doc).unwrap().unwrap().heads;
        let feed = store.feed_heads_since(0, u64::MAX, 100).unwrap();
        assert_eq!(
            feed,
            vec![
                (1, "a".to_string(), meta_heads("a")),
                (2, "b".to_string(), meta_heads("b")),
                (9, "b".to_string(), meta_heads("b")),
            ]
        );
        assert_eq!(meta_heads("a").len(), 1);
        assert_eq!(keys::parse_feed_value(b"a\0short"), ("a".to_string(), None));
    }
}

#[cfg(test)]
mod merge_tests {
    use super::tests_support::*;

    #[test]
    fn concurrent_changes_merge_both_ways() {
        let (_da, a) = store();
        let (_db, b) = store();
        set(&a, "d", "x", "1");
        b.merge("d", &raw(&a, "d")).unwrap();
        set(&a, "d", "x", "a");
        set(&b, "d", "y", "b");
        b.merge("d", &changes_for_peer(&a, &b, "d"))
            .expect("b merges a's concurrent change");
        a.merge("d", &changes_for_peer(&b, &a, "d"))
            .expect("a merges b's changes");
        assert_eq!(
            a.doc_meta("d").unwrap().unwrap().heads,
            b.doc_meta("d").unwrap().unwrap().heads
        );
    }
}

#[cfg(test)]
mod merge_batch_tests {
    use super::tests_support::*;
    use super::{NewDocs, Store, StoreError};
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn a_batch_merges_new_and_known_documents_and_refuses_only_the_bad_ones() {
        let (_da, a) = store();
        let (_db, b) = store();
        set(&a, "known", "x", "1");
        b.merge("known", &raw(&a, "known")).unwrap();
        set(&a, "known", "x", "2");
        set(&b, "known", "y", "b");
        for i in 0..40 {
            set(&a, &format!("new{i}"), "n", &i.to_string());
        }
        let mut batch = vec![("known".to_string(), changes_for_peer(&a, &b, "known"))];
        for i in 0..40 {
            let id = format!("new{i}");
            let bytes = raw(&a, &id);
            batch.push((id, bytes));
        }
        batch.push(("bad".to_string(), vec![0u8; 64]));
        batch.push(("new0".to_string(), raw(&a, "new0")));
        let seq_before = b.last_seq();
        let results = b.merge_batch(&batch);
        assert_eq!(results.len(), batch.len());
        assert!(results[..41]
            .iter()
            .all(|r| r.as_ref().is_ok_and(|w| w.changed)));
        assert!(matches!(results[41], Err(StoreError::BadChanges { .. })));
        assert!(matches!(results[42], Err(StoreError::BadChanges { .. })));
        assert_eq!(b.last_seq(), seq_before + 41);
        assert!(b.doc_meta("bad").unwrap().is_none());
        let known = b.record("known").unwrap().unwrap();
        assert_eq!((known.field("x"), known.field("y")), (Some("2"), Some("b")));
        for i in [0, 17, 39] {
            let id = format!("new{i}");
            assert_eq!(
                b.doc_meta(&id).unwrap().unwrap().heads,
                a.doc_meta(&id).unwrap().unwrap().heads
            );
        }
        // The same batch again changes nothing.
        let again = b.merge_batch(&batch[..41]);
        assert!(again.iter().all(|r| r.as_ref().is_ok_and(|w| !w.changed)));
        assert_eq!(b.last_seq(), seq_before + 41);
    }

    #[test]
    fn a_document_written_while_its_merge_was_prepared_is_merged_again() {
        let (_da, a) = store();
        let (_db, b) = store();
        set(&a, "d", "x", "1");
        b.merge("d", &raw(&a, "d")).unwrap();
        set(&a, "d", "y", "2");
        let batch = vec![("d".to_string(), raw(&a, "d"))];
        let prepared = b.prepare_received(&batch, &HashSet::new(), 0);
        // A local write lands between the preparation and the write lock.
        set(&b, "d", "z", "3");
        let results = b.merge_prepared(&batch, prepared);
        assert!(results[0].as_ref().is_ok_and(|w| w.changed));
        let record = b.record("d").unwrap().unwrap();
        let fields = ["x", "y", "z"].map(|f| record.field(f));
        assert_eq!(fields, [Some("1"), Some("2"), Some("3")]);
        // The local change and the received one are both heads: concurrent, both kept.
        assert_eq!(b.doc_meta("d").unwrap().unwrap().heads.len(), 2);
    }

    #[test]
    fn a_document_asked_for_as_absent_but_written_since_keeps_both_sides() {
        let (_da, a) = store();
        let (_db, b) = store();
        set(&a, "d", "x", "1");
        set(&a, "n", "x", "1");
        // b asked a for "d" and "n" when it had neither. Since then "d" reached b from another
        // peer and was edited here, while a edited it too.
        let as_of = b.absence_mark();
        b.merge("d", &raw(&a, "d")).unwrap();
        set(&b, "d", "z", "3");
        set(&a, "d", "y", "2");
        let seq_before = b.last_seq();
        let batch = vec![
            ("d".to_string(), raw(&a, "d")),
            ("n".to_string(), raw(&a, "n")),
        ];
        let absent = HashSet::from(["d", "n"]);
        let results = b.merge_fetched(&batch, &absent, as_of);
        assert!(results.iter().all(|r| r.as_ref().is_ok_and(|w| w.changed)));
        let record = b.record("d").unwrap().unwrap();
        let fields = ["x", "y", "z"].map(|f| record.field(f));
        assert_eq!(fields, [Some("1"), Some("2"), Some("3")]);
        assert_eq!(b.doc_meta("d").unwrap().unwrap().heads.len(), 2);
        assert_eq!(
            b.doc_meta("n").unwrap().unwrap().heads,
            a.doc_meta("n").unwrap().unwrap().heads
        );
        assert_eq!(b.last_seq(), seq_before + 2);
    }

    #[test]
    fn new_documents_are_remembered_until_forgotten_then_unknown() {
        let mut new = NewDocs::new(2, 10);
        assert_eq!(new.new_since("a", 9), None, "before the store was opened");
        assert_eq!(new.new_since("a", 10), Some(false));
        new.record("a", 11);
        new.record("b", 12);
        assert_eq!(new.new_since("a", 10), Some(true));
        assert_eq!(new.new_since("a", 11), Some(false));
        new.record("c", 13);
        assert_eq!(new.new_since("a", 10), None, "a was forgotten");
        assert_eq!(new.new_since("b", 11), Some(true));
        assert_eq!(new.new_since("c", 12), Some(true));
        assert_eq!(new.new_since("z", 11), Some(false));
    }

    #[test]
    fn a_mark_from_before_a_reopen_looks_documents_up() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), Arc::new(NoIndex), 16).unwrap();
        let (_da, a) = store();
        set(&a, "d", "x", "1");
        let b = open();
        let as_of = b.absence_mark();
        b.merge("d", &raw(&a, "d")).unwrap();
        set(&b, "d", "z", "3");
        set(&a, "d", "y", "2");
        drop(b);
        let b = open();
        let batch = vec![("d".to_string(), raw(&a, "d"))];
        let results = b.merge_fetched(&batch, &HashSet::from(["d"]), as_of);
        assert!(results[0].as_ref().is_ok_and(|w| w.changed));
        let record = b.record("d").unwrap().unwrap();
        let fields = ["x", "y", "z"].map(|f| record.field(f));
        assert_eq!(fields, [Some("1"), Some("2"), Some("3")]);
    }
}

#[cfg(test)]
mod lacking_tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn a_node_asks_only_for_documents_it_may_lack_without_loading_them() {
        let dir = tempfile::tempdir().unwrap();
        let (_da, a) = store();
        let b = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        set(&a, "d", "x", "1");
        let first = heads(&a, "d");
        assert_eq!(b.heads_if_lacking("d", &[]).unwrap(), None);
        assert_eq!(b.heads_if_lacking("d", &first).unwrap(), Some(vec![]));
        b.merge("d", &raw(&a, "d")).unwrap();
        assert_eq!(b.heads_if_lacking("d", &first).unwrap(), None);
        // B moves on: A's heads are now in B's history, which only the cached copy can tell.
        set(&b, "d", "y", "2");
        let ours = b.doc_meta("d").unwrap().unwrap().heads;
        assert_eq!(b.heads_if_lacking("d", &first).unwrap(), None);
        drop(b);
        let b = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        assert_eq!(b.heads_if_lacking("d", &first).unwrap(), Some(ours.clone()));
        // A change B has never seen.
        set(&a, "d", "x", "3");
        let newer = heads(&a, "d");
        assert_eq!(b.heads_if_lacking("d", &newer).unwrap(), Some(ours));
    }
}

#[cfg(test)]
mod create_tests {
    use super::tests_support::*;
    use super::*;
    use crate::domain::record::RecordOp;

    fn ops() -> Vec<RecordOp> {
        vec![
            RecordOp::SetKind("order".into()),
            RecordOp::EnsureCollection("lines".into()),
            RecordOp::EnsureCollection("notes".into()),
            RecordOp::field("number", "A-000001"),
            RecordOp::field("memo", ""),
            RecordOp::field("number", "A-000002"),
            RecordOp::item_field("lines", "l1", "sku", "P-1"),
            RecordOp::item_field("lines", "l1", "qty", "3"),
            RecordOp::item_field("lines", "l2", "sku", "P-2"),
            RecordOp::RemoveItem {
                collection: "lines".into(),
                item: "l2".into(),
            },
            RecordOp::AddFact {
                id: "f1".into(),
                json: "{\"kind\":\"verified\"}".into(),
            },
        ]
    }

    #[test]
    fn create_writes_the_document_update_would_write() {
        let (a_dir, a) = store();
        let (_b_dir, b) = store();
        let created = a.create("d", &author(), &ops()).unwrap();
        let updated = b.update("d", &author(), |_| Ok::<_, ()>(ops())).unwrap();
        assert_eq!(created.record, updated.record);
        drop(a);
        let a = Store::open(a_dir.path(), Arc::new(NoIndex), 10).unwrap();
        let from_disk = a.record("d").unwrap().unwrap();
        assert_eq!(from_disk, b.record("d").unwrap().unwrap());
        assert_eq!(from_disk.field("number"), Some("A-000002"));
        assert_eq!(from_disk.field("memo"), None);
        assert_eq!(from_disk.collections["notes"].len(), 0);
        assert_eq!(from_disk.collections["lines"].len(), 1);
        // A created document edits and merges like any other.
        set(&a, "d", "memo", "urgent");
        b.merge("d", &raw(&a, "d")).unwrap();
        let merged = b.record("d").unwrap().unwrap();
        assert_eq!(merged.field("memo"), Some("urgent"));
        assert_eq!(merged.facts.len(), 1);
    }

    #[test]
    fn create_refuses_a_taken_id_and_bad_ops_writing_nothing() {
        let (_dir, store) = store();
        set(&store, "d", "x", "1");
        let seq = store.last_seq();
        assert!(matches!(
            store.create("d", &author(), &ops()),
            Err(StoreError::Exists(_))
        ));
        let mut twice = ops();
        twice.push(RecordOp::AddFact {
            id: "f1".into(),
            json: "{}".into(),
        });
        assert!(store.create("e", &author(), &twice).is_err());
        let no_collection = vec![RecordOp::item_field("lines", "l1", "sku", "P-1")];
        assert!(store.create("e", &author(), &no_collection).is_err());
        assert_eq!(store.last_seq(), seq);
        assert!(store.doc_meta("e").unwrap().is_none());
        assert_eq!(store.record("d").unwrap().unwrap().field("x"), Some("1"));
    }

    #[test]
    fn creates_queued_behind_a_writer_are_written_together_and_a_taken_id_only_once() {
        let (dir, store) = store();
        let store = Arc::new(store);
        set(&store, "old", "x", "1");
        let before = store.last_seq();
        // Hold the write lock as a writer would, so that every create below queues behind it.
        let writer = lock(&store.write_lock);
        let ids: [&'static str; 5] = ["n1", "n2", "old", "n3", "n2"];
        let creating: Vec<_> = ids
            .iter()
            .map(|&id| {
                let store = store.clone();
                std::thread::spawn(move || store.create(id, &author(), &ops()))
            })
            .collect();
        while lock(&store.creates).waiting.len() < ids.len() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(writer);
        let results: Vec<_> = creating.into_iter().map(|t| t.join().unwrap()).collect();

        let written: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|w| w.seq))
            .collect();
        let refused: Vec<&str> = ids
            .iter()
            .zip(&results)
            .filter(|(_, r)| matches!(r, Err(StoreError::Exists(_))))
            .map(|(id, _)| *id)
            .collect();
        // n1, n3 and one of the two n2; "old" and the other n2 are refused.
        assert_eq!(written.len(), 3, "{results:?}");
        assert_eq!(refused.len(), 2);
        assert!(refused.contains(&"old") && refused.contains(&"n2"));
        let mut seqs = written.clone();
        seqs.sort_unstable();
        assert_eq!(seqs, vec![before + 1, before + 2, before + 3]);
        assert_eq!(store.last_seq(), before + 3);
        assert!(lock(&store.creates).done.is_empty());

        // On disk after a reopen: each new document once in the feed, the old one untouched.
        drop(Arc::into_inner(store).unwrap());
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        let fed: Vec<String> = store
            .feed_since(before, store.last_seq(), 10)
            .unwrap()
            .into_iter()
            .map(|(_, doc)| doc)
            .collect();
        assert_eq!(fed.len(), 3);
        for id in ["n1", "n2", "n3"] {
            assert!(fed.contains(&id.to_string()), "{id} not in {fed:?}");
            assert_eq!(
                store.record(id).unwrap().unwrap().field("number"),
                Some("A-000002")
            );
        }
        assert_eq!(store.record("old").unwrap().unwrap().field("x"), Some("1"));
    }

    #[test]
    fn a_retired_index_is_removed_and_only_it() {
        let (_dir, store) = store();
        for (index, value, doc) in [("old", "a", "d1"), ("old", "b", "d2"), ("older", "a", "d1")] {
            store
                .put_raw(&keys::index_entry(index, value, doc), b"")
                .unwrap();
        }
        assert_eq!(store.drop_index("old").unwrap(), 2);
        assert_eq!(store.drop_index("old").unwrap(), 0);
        assert_eq!(store.scan_index("old", "", None, false).count(), 0);
        assert_eq!(store.scan_index("older", "", None, false).count(), 1);
    }

    #[test]
    fn a_store_keeps_the_segment_size_it_was_created_with() {
        let dir = tempfile::tempdir().unwrap();
        let old = sled::Config::new()
            .path(dir.path())
            .use_compression(true)
            .segment_size(512 * 1024)
            .open()
            .unwrap();
        old.insert(b"m/old", b"kept".as_slice()).unwrap();
        old.flush().unwrap();
        drop(old);
        assert_eq!(persisted_segment_size(dir.path()), Some(512 * 1024));
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        assert_eq!(
            store.meta_get("old").unwrap().as_deref(),
            Some(&b"kept"[..])
        );
        drop(store);

        let fresh = tempfile::tempdir().unwrap();
        drop(Store::open(fresh.path(), Arc::new(NoIndex), 10).unwrap());
        assert_eq!(persisted_segment_size(fresh.path()), Some(SEGMENT_SIZE));
    }

    /// The patched sled (vendor/sled) records a child split in the parent index node as a
    /// fragment. Thousands of splits, merges after deletes, restarts in between: the tree reads
    /// back exactly what was written, in order.
    #[test]
    fn a_tree_split_thousands_of_times_reads_back_whole_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new();
        // A fixed pseudo-random sequence: keys land all over the tree, as document ids do.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let reads_back = |db: &sled::Db, model: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>| {
            let stored: Vec<(Vec<u8>, Vec<u8>)> = db
                .iter()
                .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                .collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> =
                model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            stored == expected
        };
        for round in 0..3 {
            let db = open_sled(dir.path(), DEFAULT_PAGE_CACHE_BYTES).unwrap();
            assert!(
                reads_back(&db, &model),
                "round {round}: the reopened tree differs"
            );
            for _ in 0..40 {
                let mut batch = sled::Batch::default();
                for _ in 0..400 {
                    let r = next();
                    let key = format!("{}/{:016x}", ["d", "x", "i"][(r % 3) as usize], r >> 8);
                    let value =
                        vec![(r >> 3) as u8; if r % 3 == 0 { 1200 } else { (r % 90) as usize }];
                    batch.insert(key.as_bytes(), value.clone());
                    model.insert(key.into_bytes(), value);
                }
                // Empty some stretches so leaves merge as well as split.
                if round > 0 {
                    let from = format!("i/{:x}", next() % 16);
                    let gone: Vec<Vec<u8>> = model
                        .range(from.into_bytes()..)
                        .take(100)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in gone {
                        batch.remove(key.as_slice());
                        model.remove(&key);
                    }
                }
                db.apply_batch(batch).unwrap();
            }
            db.flush().unwrap();
        }
        let db = open_sled(dir.path(), DEFAULT_PAGE_CACHE_BYTES).unwrap();
        assert!(reads_back(&db, &model), "the last reopened tree differs");
        assert!(model.len() > 30_000);
    }

    #[test]
    fn a_counter_is_written_with_the_change_that_uses_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        assert_eq!(store.next_counter("n").unwrap(), 1);
        assert_eq!(store.next_counter("n").unwrap(), 2);
        store.create("d", &author(), &ops()).unwrap();
        // Handed out but never used by a write: may be handed out again after a restart.
        assert_eq!(store.next_counter("n").unwrap(), 3);
        drop(store);
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        assert_eq!(store.next_counter("n").unwrap(), 3);
        set(&store, "e", "x", "1");
        drop(store);
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        assert_eq!(store.next_counter("n").unwrap(), 4);
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::domain::record::{ChangeAuthor, RecordOp};

    pub struct NoIndex;
    impl Projector for NoIndex {
        fn project(&self, _: &str, _: &Record) -> Projection {
            Projection::default()
        }
    }

    pub fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        (dir, store)
    }

    pub fn author() -> ChangeAuthor {
        ChangeAuthor {
            user: "u".into(),
            role: "clerk".into(),
            action: "test".into(),
        }
    }

    /// The whole document as stored, to send to another store.
    pub fn raw(store: &Store, doc: &str) -> Vec<u8> {
        store.raw_document(doc).unwrap().unwrap()
    }

    pub fn heads(store: &Store, doc: &str) -> Vec<ChangeHash> {
        store.doc_meta(doc).unwrap().unwrap().change_hashes()
    }

    /// What `from` has of `doc` that `to` lacks.
    pub fn changes_for_peer(from: &Store, to: &Store, doc: &str) -> Vec<u8> {
        from.changes_for(doc, &heads(to, doc)).unwrap().unwrap()
    }

    /// Makes `doc` a document too large to be saved whole on every change: its later changes
    /// are stored as chunks.
    pub fn make_large(store: &Store, doc: &str) {
        let mut ops = vec![RecordOp::SetKind("t".into())];
        ops.extend((0..=SAVE_WHOLE_MAX_OPS).map(|i| RecordOp::field(&format!("f{i}"), "x")));
        store
            .update(doc, &author(), |_| Ok::<_, ()>(ops))
            .expect("update");
    }

    pub fn chunk_count(store: &Store, doc: &str) -> usize {
        store
            .db()
            .unwrap()
            .scan_prefix(keys::chunk_prefix(doc))
            .count()
    }

    pub fn set(store: &Store, doc: &str, name: &str, value: &str) {
        let ops = vec![RecordOp::SetKind("t".into()), RecordOp::field(name, value)];
        store
            .update(doc, &author(), |_| Ok::<_, ()>(ops))
            .expect("update");
    }
}

#[cfg(test)]
mod tally_tests {
    use super::tests_support::{author, raw};
    use super::*;
    use crate::domain::record::RecordOp;
    use rust_decimal::Decimal;
    use std::sync::atomic::AtomicU32;

    /// Indexes each document's field `a` times a scale that a test changes (as an upgrade
    /// changes what is projected), and tallies the sum of those values.
    struct Scaled {
        scale: AtomicU32,
    }

    impl Projector for Scaled {
        fn project(&self, _: &str, record: &Record) -> Projection {
            let a: u32 = record.field("a").and_then(|v| v.parse().ok()).unwrap_or(0);
            let scaled = a * self.scale.load(Ordering::SeqCst);
            Projection {
                index: vec![("amt", scaled.to_string())],
                summary: Vec::new(),
            }
        }

        fn tallied(&self) -> &'static [&'static str] {
            &["amt"]
        }

        fn tally(&self, _: &str, values: &[&str]) -> Vec<Contribution> {
            values
                .iter()
                .map(|v| {
                    let amount = Decimal::from_str_exact(v).unwrap_or_default();
                    (
                        "sum".to_string(),
                        [amount, Decimal::ONE, Decimal::ZERO, Decimal::ZERO],
                    )
                })
                .collect()
        }
    }

    fn open(dir: &Path, projector: Arc<Scaled>) -> Store {
        Store::open(dir, projector, 10).unwrap()
    }

    fn sum(store: &Store) -> (Decimal, Decimal) {
        let found = store.tallies("sum", "sum\0").unwrap();
        found
            .first()
            .map_or((Decimal::ZERO, Decimal::ZERO), |(_, s)| (s[0], s[1]))
    }

    fn set_a(store: &Store, doc: &str, a: u32) {
        let ops = vec![
            RecordOp::SetKind("t".into()),
            RecordOp::field("a", a.to_string()),
        ];
        store
            .update(doc, &author(), |_| Ok::<_, ()>(ops))
            .expect("update");
    }

    #[test]
    fn tallies_follow_writes_merges_and_reprojection_as_a_rebuild_finds_them() {
        let scaled = || {
            Arc::new(Scaled {
                scale: AtomicU32::new(1),
            })
        };
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let projector_a = scaled();
        let a = open(dir_a.path(), projector_a.clone());
        let b = open(dir_b.path(), scaled());
        for (doc, value) in [("d1", 1), ("d2", 2), ("d3", 3)] {
            set_a(&a, doc, value);
        }
        // Built from the index, then kept with each write.
        assert_eq!(sum(&a), (Decimal::from(6), Decimal::from(3)));
        set_a(&a, "d2", 5);
        set_a(&a, "d4", 0);
        assert_eq!(sum(&a), (Decimal::from(9), Decimal::from(4)));

        // Built on an empty store, then kept with each merged batch.
        assert_eq!(sum(&b), (Decimal::ZERO, Decimal::ZERO));
        let docs: Vec<(String, Vec<u8>)> = ["d1", "d2", "d3", "d4"]
            .iter()
            .map(|d| (d.to_string(), raw(&a, d)))
            .collect();
        for written in b.merge_batch(&docs) {
            written.unwrap();
        }
        assert_eq!(sum(&b), sum(&a));

        // What is projected changes: reprojection moves the tallies as a rebuild finds them.
        projector_a.scale.store(10, Ordering::SeqCst);
        a.reproject_all().unwrap();
        assert_eq!(sum(&a), (Decimal::from(90), Decimal::from(4)));
        a.tallies.drop_all();
        assert_eq!(sum(&a), (Decimal::from(90), Decimal::from(4)));
    }

    #[test]
    fn documents_written_while_the_tallies_are_built_are_counted_as_they_end_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(
            dir.path(),
            Arc::new(Scaled {
                scale: AtomicU32::new(1),
            }),
        );
        set_a(&store, "d1", 1);
        set_a(&store, "d2", 2);
        // A build starts and reads the indexes; then d2 changes, d3 is new, before it ends.
        let generation = store.tallies.start().unwrap();
        let read = store.read_tallied().unwrap();
        set_a(&store, "d2", 20);
        set_a(&store, "d3", 3);
        store.finish_tally_build(generation, read).unwrap();
        assert_eq!(sum(&store), (Decimal::from(24), Decimal::from(3)));
        // Kept with each write from then on.
        set_a(&store, "d1", 0);
        assert_eq!(sum(&store), (Decimal::from(23), Decimal::from(3)));

        // A build dropped while under way (a repair) puts nothing in place.
        store.tallies.drop_all();
        let generation = store.tallies.start().unwrap();
        let read = store.read_tallied().unwrap();
        store.tallies.drop_all();
        store.finish_tally_build(generation, read).unwrap();
        assert!(!store.tallies.is_built());
        assert_eq!(sum(&store), (Decimal::from(23), Decimal::from(3)));
    }
}
