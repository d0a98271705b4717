//! The LAN test: three nodes in network namespaces find each other by real mDNS, converge, are
//! cut apart, edit on both sides and converge again (`scripts/lan-test.sh`). It needs root and
//! creates namespaces, so it runs only when NEIQIN_LAN_TEST=1 (as `.ci/run` sets); mDNS never
//! runs outside the namespaces it creates.

use std::process::Command;

#[test]
fn three_nodes_on_a_namespace_lan_discover_each_other_and_converge_across_a_cut() {
    if std::env::var("NEIQIN_LAN_TEST").as_deref() != Ok("1") {
        eprintln!("LAN test not run: set NEIQIN_LAN_TEST=1 (as root) to run it");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lan-test.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("NEIQIN_BIN", env!("CARGO_BIN_EXE_neiqin"))
        .output()
        .expect("run scripts/lan-test.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "lan-test.sh failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
