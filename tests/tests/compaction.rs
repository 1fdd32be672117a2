//! Documents are compacted into a snapshot every few hundred changes
//! (write path step 4). Loading from a snapshot plus the later changes must
//! give the same document: same heads, same changes to send, same
//! projection, on the replica that wrote them and on those that received
//! them, including a replica that joins after the compaction.

use store_core::{DocId, OpenOptions};
use store_tests::{Cluster, ClusterConfig, DetRng, fixtures};

/// More than the engine's snapshot interval (512 changes).
const CHANGES: usize = 530;

#[test]
fn snapshots_load_back_to_the_same_document() {
    let mut c = Cluster::with_config(ClusterConfig {
        replicas: 3,
        branches: 1,
        open_options: OpenOptions {
            synchronous_full: false,
            wal: true,
            // Two documents in memory: every other access reloads from disk.
            cache_docs: 2,
            ..OpenOptions::default()
        },
        ..ClusterConfig::default()
    });
    c.exec_ok(0, "u", &fixtures::channel("cash", true));
    let p = c.exec_ok(0, "u", &fixtures::product("SCREW", 5, 2)).id;
    c.sync_all();
    for n in 0..CHANGES {
        c.exec_ok(0, "u", &fixtures::receive(&p, 1000 + n as i64));
    }
    let journal = c
        .replica(0)
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| matches!(d, DocId::Journal { .. }))
        .unwrap();
    let snapshotted = |c: &Cluster, i: usize| -> (bool, i64) {
        c.conn(i)
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM doc_snapshots WHERE doc_id = d.doc_id),
                        (SELECT count(*) FROM doc_changes WHERE doc_id = d.doc_id AND in_snapshot = 1)
                 FROM documents d WHERE d.doc_id = ?1",
                [journal.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let (has_snapshot, in_snapshot) = snapshotted(&c, 0);
    assert!(
        has_snapshot && in_snapshot >= 512,
        "the journal was compacted"
    );

    // T2 receives everything in random pieces, T3 stays away for now.
    let heads = c.heads(0, &journal);
    let dump = c.dump(0);
    c.post(0, 1);
    let mut rng = DetRng::new(11);
    c.deliver_all_random(&mut rng, 0.1);
    c.sync_pair(0, 1);
    assert!(snapshotted(&c, 1).0, "T2 compacted what it received");

    // After a restart both load from their snapshot plus later changes.
    for i in 0..2 {
        c.reopen(i);
        assert_eq!(c.heads(i, &journal), heads, "T{}", i + 1);
        assert_eq!(c.dump(i), dump, "T{}", i + 1);
        c.check_rebuild(i).unwrap();
    }
    // More changes after the snapshot, on both sides of it.
    for n in 0..5 {
        c.exec_ok(0, "u", &fixtures::receive(&p, 7 + n));
        c.exec_ok(1, "u", &fixtures::receive(&p, 9 + n));
    }
    c.reopen(0);
    // A replica that joins now gets the whole history, snapshot or not.
    c.sync_all();
    c.assert_converged();
    let stored: i64 = c
        .conn(2)
        .query_row(
            "SELECT count(*) FROM doc_changes WHERE doc_id = ?1",
            [journal.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stored,
        CHANGES as i64 + 5 + 1,
        "every change and the genesis"
    );
    for i in 0..c.len() {
        c.reopen(i);
        c.check_rebuild(i).unwrap();
    }
    c.assert_converged();
    c.check_invariants_all().unwrap();
    let on_hand = store_core::query::Queries::new(c.conn(2))
        .stock_on_hand(&p, c.branch_of(2))
        .unwrap();
    let expected: i64 = (0..CHANGES as i64).map(|n| 1000 + n).sum::<i64>()
        + (0..5).map(|n| 7 + n + 9 + n).sum::<i64>();
    assert_eq!(on_hand, expected);
}
