//! `TestNet`: n real nodes in this process, each pulling from the others through a TCP proxy per
//! link, so a test can cut and restore links (`partition`, `heal`) with real sockets, and wait
//! for convergence (`settle`) with a timeout instead of sleeping.

use crate::harness::TestNode;
use neiqin::config::Config;
use neiqin::domain::role::Role;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A one-way link: node `from` reaches node `to`'s peer endpoint through it.
struct Link {
    from: usize,
    to: usize,
    target: Arc<Mutex<Option<SocketAddr>>>,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What crossed the links while recording was on: the bytes an eavesdropper on the LAN sees.
#[derive(Clone, Default)]
pub struct Wire {
    on: Arc<std::sync::atomic::AtomicBool>,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Wire {
    pub fn record(&self, on: bool) {
        self.on.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }
}

/// Copies one direction of a connection, keeping a copy of the bytes while `wire` records.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    wire: Wire,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if wire.on.load(std::sync::atomic::Ordering::SeqCst) {
            wire.bytes.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

async fn proxy(
    listener: TcpListener,
    target: Arc<Mutex<Option<SocketAddr>>>,
    up: watch::Receiver<bool>,
    wire: Wire,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            return;
        };
        let target = *target.lock().unwrap();
        let mut up = up.clone();
        if !*up.borrow() {
            continue; // dropped: the connection closes at once
        }
        let Some(target) = target else { continue };
        let wire = wire.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            let both = async {
                tokio::join!(
                    pump(in_read, out_write, wire.clone()),
                    pump(out_read, in_write, wire.clone())
                )
            };
            tokio::select! {
                _ = both => {}
                // A cut link kills connections in flight too.
                _ = up.wait_for(|u| !*u) => {}
            }
        });
    }
}

pub struct TestNet {
    pub nodes: Vec<TestNode>,
    links: Vec<Link>,
    /// The cluster CA every node's certificate comes from (the test plays the admin node).
    pub ca: neiqin::pki::ClusterCa,
    /// Every link's traffic, when recording.
    pub wire: Wire,
}

impl TestNet {
    /// `n` nodes, each with a certificate naming every business role.
    pub async fn start(n: usize) -> TestNet {
        TestNet::start_with_roles(&vec![Role::BUSINESS.to_vec(); n]).await
    }

    /// One node per entry, its certificate naming those roles.
    pub async fn start_with_roles(roles: &[Vec<Role>]) -> TestNet {
        let n = roles.len();
        let ca = neiqin::pki::ClusterCa::generate("测试公司").expect("cluster CA");
        let wire = Wire::default();
        // Proxies first: their addresses are each node's static peers.
        let mut links = Vec::new();
        let mut peers: Vec<Vec<String>> = vec![Vec::new(); n];
        for (from, peers_of_from) in peers.iter_mut().enumerate() {
            for to in 0..n {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                peers_of_from.push(listener.local_addr().unwrap().to_string());
                let target = Arc::new(Mutex::new(None));
                let (up, up_rx) = watch::channel(true);
                let task = tokio::spawn(proxy(listener, target.clone(), up_rx, wire.clone()));
                links.push(Link {
                    from,
                    to,
                    target,
                    up,
                    task,
                });
            }
        }
        let mut nodes = Vec::new();
        for (i, (peers, roles)) in peers.into_iter().zip(roles).enumerate() {
            let tmp = tempfile::tempdir().unwrap();
            let mut config = Config::local(tmp.path().join("data"));
            config.name = format!("node-{i}");
            config.peers = peers;
            // Links go through the proxies only; learning callers' real ports would bypass them.
            config.learn_peers = false;
            nodes.push(TestNode::start_joined(config, Some(tmp), &ca, roles).await);
        }
        for link in &links {
            let addr = nodes[link.to].node.as_ref().unwrap().peer_addr.unwrap();
            *link.target.lock().unwrap() = Some(addr);
        }
        TestNet {
            nodes,
            links,
            ca,
            wire,
        }
    }

    /// Cuts every link between nodes in different groups; nodes in no group are cut from all.
    pub fn partition(&self, groups: &[&[usize]]) {
        let group_of = |i: usize| groups.iter().position(|g| g.contains(&i));
        for link in &self.links {
            let same =
                matches!((group_of(link.from), group_of(link.to)), (Some(a), Some(b)) if a == b);
            let _ = link.up.send(same);
        }
    }

    pub fn heal(&self) {
        for link in &self.links {
            let _ = link.up.send(true);
        }
    }

    /// Every node's documents and their heads.
    pub fn state(&self, i: usize) -> BTreeMap<String, Vec<[u8; 32]>> {
        let store = &self.nodes[i].node.as_ref().unwrap().office.store;
        store
            .doc_ids(None)
            .unwrap()
            .into_iter()
            .map(|id| {
                let mut heads = store.doc_meta(&id).unwrap().unwrap().heads;
                heads.sort();
                (id, heads)
            })
            .collect()
    }

    /// Waits until every node holds the same documents with the same heads.
    pub async fn settle(&self, timeout: Duration) {
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        loop {
            let first = self.state(0);
            if (1..self.nodes.len()).all(|i| self.state(i) == first) && !first.is_empty() {
                eprintln!("settled in {:?}", started.elapsed());
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let sizes: Vec<usize> =
                    (0..self.nodes.len()).map(|i| self.state(i).len()).collect();
                panic!("nodes did not converge within {timeout:?}; document counts {sizes:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn stop(self) {
        for link in &self.links {
            link.task.abort();
        }
        for node in self.nodes {
            node.stop().await;
        }
    }
}
