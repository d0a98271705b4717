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

async fn proxy(
    listener: TcpListener,
    target: Arc<Mutex<Option<SocketAddr>>>,
    up: watch::Receiver<bool>,
) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let target = *target.lock().unwrap();
        let mut up = up.clone();
        if !*up.borrow() {
            continue; // dropped: the connection closes at once
        }
        let Some(target) = target else { continue };
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
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
        let key = hex_key();
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
                let task = tokio::spawn(proxy(listener, target.clone(), up_rx));
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
        for (i, peers) in peers.into_iter().enumerate() {
            let tmp = tempfile::tempdir().unwrap();
            let mut config = Config::local(tmp.path().join("data"));
            config.name = format!("node-{i}");
            config.peers = peers;
            config.cluster_key = Some(key.clone());
            // Links go through the proxies only; learning callers' real ports would bypass them.
            config.learn_peers = false;
            nodes.push(TestNode::start_with(config, Some(tmp)).await);
        }
        for (node, roles) in nodes.iter().zip(roles) {
            node.enrol(&ca, roles);
        }
        for link in &links {
            let addr = nodes[link.to].node.as_ref().unwrap().peer_addr.unwrap();
            *link.target.lock().unwrap() = Some(addr);
        }
        TestNet { nodes, links, ca }
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

pub fn hex_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}
