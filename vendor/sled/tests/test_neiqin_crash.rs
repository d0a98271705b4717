// neiqin: a crash test of the changes listed in vendor/sled/README.md, in the style of sled's
// tests/test_crash_recovery.rs (not part of sled's suite): this binary spawns itself as a child
// process (`NEIQIN_SLED_CRASH` names the scenario and the store), which writes to a store in a
// temp directory until the parent kills it (SIGKILL) at a random moment; the parent then
// reopens the store and checks it, and starts the next child on it. Several rounds per scenario
// (`NEIQIN_SLED_CRASH_ROUNDS`, default 15).
//
// * `batches`: the child applies numbered batches (`apply_batch`, so `Link::SetMany` records;
//   keys mostly in key order, so `Link::ChildSplit`/`Link::ParentSplit` records and splits near a
//   leaf's end; some overwrites at random and removals of ranges; small segments, so segment
//   cleaning runs) and, after a `flush()` every few batches, appends the number of the last batch
//   to an acknowledgement file. Every batch also writes its number under `~last`. After a kill,
//   the store must hold exactly the batches 1..=m applied in order, for an m at least the last
//   acknowledged batch and at least the m of the round before: a prefix of the batches, every
//   acknowledged one, no torn batch.
// * `inorder`: the child inserts keys 0, 1, 2, ... one by one (`insert`), flushing and
//   acknowledging every few keys. After a kill, the store must hold exactly the keys 0..n, for
//   an n covering every acknowledged key.
//
// Every child start also starts sled's IO threads in a fresh process (change 6), and every
// flush waits on them (change 1).

use std::collections::BTreeMap;
use std::convert::TryInto;
use std::env;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;

const ENV: &str = "NEIQIN_SLED_CRASH";
const ROUNDS_ENV: &str = "NEIQIN_SLED_CRASH_ROUNDS";
const SEGMENT_SIZE: usize = 64 * 1024;

fn main() {
    match env::var(ENV) {
        Ok(spec) => {
            let (scenario, dir) = spec.split_at(spec.find(':').expect("scenario:dir"));
            let dir = PathBuf::from(&dir[1..]);
            // a child the parent lost track of must not run for ever
            thread::spawn(|| {
                thread::sleep(Duration::from_secs(60));
                std::process::exit(3);
            });
            match scenario {
                "batches" => child_batches(&dir),
                "inorder" => child_inorder(&dir),
                _ => panic!("unknown scenario {}", scenario),
            }
        }
        Err(_) => {
            let rounds = env::var(ROUNDS_ENV).ok().and_then(|r| r.parse().ok()).unwrap_or(15);
            let started = Instant::now();
            parent("batches", rounds, verify_batches);
            println!("neiqin crash test: batches, {} rounds, ok", rounds);
            parent("inorder", rounds, verify_inorder);
            println!(
                "neiqin crash test: inorder, {} rounds, ok ({:.1} s)",
                rounds,
                started.elapsed().as_secs_f64()
            );
        }
    }
}

fn config(dir: &Path) -> sled::Config {
    sled::Config::new()
        .path(dir)
        .cache_capacity(16 * 1024 * 1024)
        .use_compression(true)
        .compression_factor(3)
        .segment_size(SEGMENT_SIZE)
        .flush_every_ms(Some(10))
}

fn open(dir: &Path) -> sled::Db {
    // the killed child's lock is gone with it, but the parent's own previous handle may hold
    // the directory's lock for a moment after it is dropped
    let started = Instant::now();
    loop {
        match config(dir).open() {
            Ok(db) => return db,
            Err(e) if started.elapsed() < Duration::from_secs(5) => {
                let _ = e;
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("could not open the store after a crash: {:?}", e),
        }
    }
}

fn acks_path(dir: &Path) -> PathBuf {
    dir.with_extension("acks")
}

/// The numbers the child acknowledged (complete lines only).
fn acks(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(acks_path(dir)).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete.lines().map(|l| l.parse().unwrap()).collect()
}

fn ack(file: &mut std::fs::File, n: u64) {
    file.write_all(format!("{}\n", n).as_bytes()).unwrap();
}

fn parent(scenario: &str, rounds: usize, verify: fn(&sled::Db, u64, &mut State)) {
    let dir = env::temp_dir().join(format!("sled-neiqin-crash-{}-{}", scenario, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(acks_path(&dir));
    let mut state = State::default();
    let mut rng = rand::thread_rng();
    for round in 0..rounds {
        let mut child = Command::new(env::current_exe().unwrap())
            .env(ENV, format!("{}:{}", scenario, dir.display()))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // sometimes while the child opens (recovers) the store, mostly while it writes
        let wait = if rng.gen_ratio(1, 5) { rng.gen_range(0, 40) } else { rng.gen_range(40, 700) };
        thread::sleep(Duration::from_millis(wait));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{} round {}: the child exited on its own: {}", scenario, round, status);
        }
        child.kill().unwrap(); // SIGKILL, by the child's pid
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "{} round {}: child {}", scenario, round, status);

        let acked = acks(&dir).into_iter().max().unwrap_or(0);
        let db = open(&dir);
        db.verify_integrity().unwrap();
        verify(&db, acked, &mut state);
        println!(
            "{} round {}: killed after {} ms, {} acknowledged, {} recovered",
            scenario, round, wait, acked, state.recovered
        );
        drop(db);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(acks_path(&dir));
}

/// What the parent knows between rounds.
#[derive(Default)]
struct State {
    /// the batch (or key count) recovered at the previous round
    recovered: u64,
    /// the batches 1..=model_upto applied in order
    model: BTreeMap<Vec<u8>, Vec<u8>>,
    model_upto: u64,
}

fn key(i: u64) -> Vec<u8> {
    let mut k = b"k/".to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

const LAST: &[u8] = b"~last";

/// The writes of batch `b` (1, 2, ...), the same in the child and the parent. Within a batch
/// the last write of a key wins, as in `sled::Batch`.
fn batch_writes(b: u64) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut x = b.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut writes = BTreeMap::new();
    let value = |b: u64, len: u64| {
        let mut v = b.to_le_bytes().to_vec();
        v.resize(8 + len as usize, (b % 251) as u8);
        v
    };
    let n = 1 + next(60);
    match next(10) {
        // new keys past the end: the tree grows in key order
        0..=6 => {
            for j in 0..n {
                writes.insert(key(b * 64 + j), Some(value(b, next(200))));
            }
        }
        // overwrites at random among the keys written so far
        7 | 8 => {
            for _ in 0..n {
                writes.insert(key(next(b * 64)), Some(value(b, next(200))));
            }
        }
        // a range removed
        _ => {
            let from = next(b * 64);
            for i in from..from + 4 * n {
                writes.insert(key(i), None);
            }
        }
    }
    writes.insert(LAST.to_vec(), Some(b.to_be_bytes().to_vec()));
    writes
}

fn child_batches(dir: &Path) {
    let db = config(dir).open().unwrap();
    let mut b = match db.get(LAST).unwrap() {
        Some(v) => u64::from_be_bytes(v[..8].try_into().unwrap()),
        None => 0,
    };
    let mut acks = OpenOptions::new().create(true).append(true).open(acks_path(dir)).unwrap();
    let mut x: u64 = std::process::id() as u64 | 1;
    loop {
        b += 1;
        let mut batch = sled::Batch::default();
        for (k, w) in batch_writes(b) {
            match w {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        db.apply_batch(batch).unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 4 == 0 {
            db.flush().unwrap();
            ack(&mut acks, b);
        }
    }
}

fn verify_batches(db: &sled::Db, acked: u64, state: &mut State) {
    let m = match db.get(LAST).unwrap() {
        Some(v) => u64::from_be_bytes(v[..8].try_into().unwrap()),
        None => 0,
    };
    assert!(m >= acked, "recovered batches 1..={}, but {} was acknowledged", m, acked);
    assert!(
        m >= state.recovered,
        "recovered batches 1..={}, but 1..={} were recovered before",
        m,
        state.recovered
    );
    while state.model_upto < m {
        state.model_upto += 1;
        for (k, w) in batch_writes(state.model_upto) {
            match w {
                Some(v) => state.model.insert(k, v),
                None => state.model.remove(&k),
            };
        }
    }
    let mut want = state.model.iter();
    for kv in db.iter() {
        let (k, v) = kv.unwrap();
        match want.next() {
            Some((wk, wv)) if wk[..] == k[..] && wv[..] == v[..] => {}
            other => panic!(
                "after batches 1..={}: found {:?} = {:?}, expected {:?} (a torn batch?)",
                m,
                k,
                &v[..v.len().min(16)],
                other.map(|(k, v)| (k, &v[..v.len().min(16)]))
            ),
        }
    }
    assert!(want.next().is_none(), "after batches 1..={}: keys missing", m);
    state.recovered = m;
}

fn child_inorder(dir: &Path) {
    let db = config(dir).open().unwrap();
    let mut n = match db.last().unwrap() {
        Some((k, _)) => u64::from_be_bytes(k[2..].try_into().unwrap()) + 1,
        None => 0,
    };
    let mut acks = OpenOptions::new().create(true).append(true).open(acks_path(dir)).unwrap();
    loop {
        db.insert(key(n), value_inorder(n)).unwrap();
        n += 1;
        if n % 13 == 0 {
            db.flush().unwrap();
            ack(&mut acks, n);
        }
    }
}

fn value_inorder(i: u64) -> Vec<u8> {
    let mut v = i.to_le_bytes().to_vec();
    v.resize(8 + (i % 97) as usize, 7);
    v
}

fn verify_inorder(db: &sled::Db, acked: u64, state: &mut State) {
    let mut n = 0;
    for kv in db.iter() {
        let (k, v) = kv.unwrap();
        assert_eq!(&k[..], &key(n)[..], "keys 0..{} then a gap or a stray key", n);
        assert_eq!(&v[..], &value_inorder(n)[..], "value of key {}", n);
        n += 1;
    }
    assert!(n >= acked, "recovered keys 0..{}, but {} were acknowledged", n, acked);
    assert!(n >= state.recovered, "recovered keys 0..{}, but 0..{} before", n, state.recovered);
    state.recovered = n;
}
