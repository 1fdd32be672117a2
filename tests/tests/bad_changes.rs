//! Invariant 6.6, sync: malformed or forged changes, and changes by an actor
//! that may not write a document, are rejected one by one and reported in
//! `ApplyReport::rejected`; the valid changes of the same batch still apply,
//! and nothing else changes.

use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT, ReadDoc, transaction::Transactable};
use store_core::{DocId, MAX_CHANGE_BYTES};
use store_tests::{Cluster, fixtures};

const U: &str = "clerk";

fn journal_of(c: &Cluster, i: usize) -> DocId {
    let me = c.identity(i).replica_id.clone();
    c.replica(i)
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| matches!(d, DocId::Journal { terminal, .. } if *terminal == me))
        .expect("the replica has a journal")
}

fn actor(bytes: &[u8]) -> ActorId {
    Change::from_bytes(bytes.to_vec())
        .unwrap()
        .actor_id()
        .clone()
}

fn genesis_actor() -> ActorId {
    ActorId::from(b"genesis".as_slice())
}

/// A change by the reserved genesis actor that is not the real genesis.
fn forged_genesis_from_scratch(collection: &str) -> Vec<u8> {
    let mut doc = AutoCommit::new().with_actor(genesis_actor());
    doc.put_object(ROOT, collection, ObjType::Map).unwrap();
    doc.put(ROOT, "owned", true).unwrap();
    doc.commit();
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

/// A genesis-actor change built on top of the real genesis that replaces a
/// collection with an empty one (it would wipe every record in it).
fn forged_genesis_on_top(real_genesis: &[u8], collection: &str) -> Vec<u8> {
    let mut doc = AutoCommit::new();
    doc.apply_changes([Change::from_bytes(real_genesis.to_vec()).unwrap()])
        .unwrap();
    doc.set_actor(genesis_actor());
    doc.put_object(ROOT, collection, ObjType::Map).unwrap();
    doc.commit();
    let c = doc.get_last_local_change().unwrap();
    assert_eq!(c.seq(), 2);
    c.raw_bytes().to_vec()
}

/// T1 and T2 in one branch, both with a journal; T2's latest sale unseen by T1.
fn setup() -> Cluster {
    let mut c = Cluster::new(2, 1);
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    let p = c.exec_ok(0, U, &fixtures::product("ROD-6", 300, 200)).id;
    c.exec_ok(0, U, &fixtures::receive(&p, 50_000));
    c.sync_all();
    c.exec_ok(1, U, &fixtures::receive(&p, 50_000));
    c.exec_ok(1, U, &fixtures::cash_sale(&p, 1000, 300));
    c.exec_ok(1, U, &fixtures::cash_sale(&p, 2000, 600));
    c
}

fn doc_change_count(c: &Cluster, i: usize) -> i64 {
    c.conn(i)
        .query_row("SELECT count(*) FROM doc_changes", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn garbage_forgeries_and_wrong_actors_change_nothing() {
    let mut c = setup();
    let j1 = journal_of(&c, 0);
    let j2 = journal_of(&c, 1);
    let t1_all = c.replica_mut(0).changes_since(&j1, &[]).unwrap();
    let t2_all = c.replica_mut(1).changes_since(&j2, &[]).unwrap();
    let t2_change = t2_all
        .iter()
        .find(|b| store_core::document::replica_of_actor(&actor(b)).as_deref() == Some("T2"))
        .unwrap()
        .clone();
    let t1_genesis = t1_all
        .iter()
        .find(|b| actor(b) == genesis_actor())
        .unwrap()
        .clone();
    let mut truncated = t2_change.clone();
    truncated.truncate(truncated.len() - 3);
    let mut flipped = t2_change.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;

    let before = c.fingerprint(0);
    let batch = vec![
        b"definitely not an automerge change".to_vec(),
        Vec::new(),
        truncated,
        flipped,
        // A valid change of T2's journal presented as a change of T1's
        // journal: only T1 may write there.
        t2_change.clone(),
        forged_genesis_from_scratch("invoices"),
        forged_genesis_on_top(&t1_genesis, "invoices"),
        vec![0u8; MAX_CHANGE_BYTES + 1],
    ];
    let n = batch.len();
    let report = c.replica_mut(0).apply_changes(&j1, batch).unwrap();
    let rejected: Vec<usize> = report.rejected.iter().map(|(i, _)| *i).collect();
    assert_eq!(rejected, (0..n).collect::<Vec<_>>(), "{report:#?}");
    assert_eq!(report.stored, 0);
    let reason = |i: usize| report.rejected[i].1.as_str();
    assert!(reason(0).contains("malformed"), "{}", reason(0));
    assert!(reason(4).contains("may not write"), "{}", reason(4));
    assert!(reason(5).contains("forged genesis"), "{}", reason(5));
    assert!(reason(6).contains("forged genesis"), "{}", reason(6));
    assert!(reason(7).contains("over the limit"), "{}", reason(7));
    assert_eq!(c.fingerprint(0), before, "T1 unchanged");

    // Forged genesis changes are refused in shared documents too.
    let catalog_genesis = c
        .replica_mut(0)
        .changes_since(&DocId::Catalog, &[])
        .unwrap()
        .into_iter()
        .find(|b| actor(b) == genesis_actor())
        .unwrap();
    let report = c
        .replica_mut(0)
        .apply_changes(
            &DocId::Catalog,
            vec![
                forged_genesis_on_top(&catalog_genesis, "products"),
                forged_genesis_from_scratch("products"),
                // The real genesis again is just a duplicate, not an error.
                catalog_genesis.clone(),
            ],
        )
        .unwrap();
    assert_eq!(
        report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(c.fingerprint(0), before, "T1 still unchanged");

    // After all that, an honest sync still converges.
    c.sync_all();
    c.assert_converged();
    assert!(c.stats().rejected.is_empty());
    c.check_invariants_all().unwrap();
}

#[test]
fn valid_changes_in_a_batch_with_bad_ones_still_apply() {
    let mut c = setup();
    let j1 = journal_of(&c, 0);
    let j2 = journal_of(&c, 1);
    // What T1 lacks of T2's journal: its receipt and two sales (the
    // genesis T1 may or may not have: the journal is new to T1).
    let mut valid = c.missing_changes(1, 0, &j2);
    assert!(valid.len() >= 3, "{}", valid.len());
    // Deliver them newest first, so they also wait for each other.
    valid.reverse();
    let t1_change = c
        .replica_mut(0)
        .changes_since(&j1, &[])
        .unwrap()
        .into_iter()
        .find(|b| store_core::document::replica_of_actor(&actor(b)).as_deref() == Some("T1"))
        .unwrap();
    let t2_genesis = valid
        .iter()
        .find(|b| actor(b) == genesis_actor())
        .cloned()
        .unwrap();

    let mut batch = vec![b"junk".to_vec()];
    let mut bad = vec![0];
    for (k, v) in valid.iter().enumerate() {
        batch.push(v.clone());
        if k == 0 {
            batch.push(forged_genesis_on_top(&t2_genesis, "payments"));
            bad.push(batch.len() - 1);
            // T1's own journal change presented as a change of T2's journal.
            batch.push(t1_change.clone());
            bad.push(batch.len() - 1);
        }
    }
    batch.push(vec![7u8; 40]);
    bad.push(batch.len() - 1);

    let changes_before = doc_change_count(&c, 0);
    let report = c.replica_mut(0).apply_changes(&j2, batch).unwrap();
    assert_eq!(
        report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        bad,
        "{report:#?}"
    );
    assert_eq!(report.stored, valid.len(), "{report:#?}");
    assert_eq!(report.waiting, 0);
    assert_eq!(
        doc_change_count(&c, 0),
        changes_before + valid.len() as i64,
        "exactly the valid changes were stored"
    );
    // T1 now has T2's journal exactly as T2 has it.
    assert_eq!(c.heads(0, &j2), c.heads(1, &j2));
    let sales: i64 = c
        .conn(0)
        .query_row(
            "SELECT count(*) FROM invoices WHERE terminal_id = 'T2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sales, 2);
    let rejected_records: i64 = c
        .conn(0)
        .query_row("SELECT count(*) FROM rejected_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rejected_records, 0);
    c.check_invariants(0).unwrap();

    c.sync_all();
    c.assert_converged();
    for i in 0..c.len() {
        c.check_rebuild(i).unwrap();
    }
}

#[test]
fn a_bad_change_does_not_block_the_ones_queued_behind_it() {
    // Changes arrive one per message, out of order, with a bad message in
    // between: the dependent change waits, the bad one is refused, and the
    // missing dependency releases the waiting change.
    let mut c = setup();
    let j2 = journal_of(&c, 1);
    let valid = c.missing_changes(1, 0, &j2);
    let n = valid.len();
    assert!(n >= 3);
    let last = valid[n - 1].clone();
    let r = c
        .replica_mut(0)
        .apply_changes(&j2, vec![last.clone()])
        .unwrap();
    assert_eq!((r.stored, r.waiting), (0, 1), "{r:?}");
    let r = c
        .replica_mut(0)
        .apply_changes(&j2, vec![b"bad".to_vec()])
        .unwrap();
    assert_eq!(r.rejected.len(), 1);
    let r = c
        .replica_mut(0)
        .apply_changes(&j2, valid[..n - 1].to_vec())
        .unwrap();
    assert_eq!(r.stored, n, "the waiting change was released too: {r:?}");
    assert_eq!(r.waiting, 0);
    // Delivering it again is a no-op by hash.
    let r = c.replica_mut(0).apply_changes(&j2, vec![last]).unwrap();
    assert_eq!((r.stored, r.duplicates), (0, 1));
    c.sync_all();
    c.assert_converged();
}

/// A change by `by`'s own actor on top of the catalogue, built outside the
/// engine (a compromised or broken terminal): `f` writes whatever it likes.
fn forged_by(c: &mut Cluster, by: usize, f: impl Fn(&mut AutoCommit)) -> Vec<u8> {
    let all = c
        .replica_mut(by)
        .changes_since(&DocId::Catalog, &[])
        .unwrap();
    let mut doc = AutoCommit::new();
    doc.apply_changes(all.into_iter().map(|b| Change::from_bytes(b).unwrap()))
        .unwrap();
    doc.set_actor(c.replica(by).actor().clone());
    f(&mut doc);
    doc.commit();
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

#[test]
fn a_legitimate_writer_cannot_replace_or_add_collections() {
    // T2 may write the catalogue, but no command ever writes a document's
    // root: replacing the products collection would hide every product
    // (and leave the projection with rows a rebuild would not have), and
    // a new root collection is nothing the projection knows.
    let mut c = Cluster::new(2, 1);
    let p = c.exec_ok(0, U, &fixtures::product("KEEP", 10, 5)).id;
    c.sync_all();
    let before = c.fingerprint(0);
    let forged = vec![
        forged_by(&mut c, 1, |d| {
            d.put_object(ROOT, "products", ObjType::Map).unwrap();
        }),
        forged_by(&mut c, 1, |d| {
            d.delete(ROOT, "channels").unwrap();
        }),
        forged_by(&mut c, 1, |d| {
            let m = d.put_object(ROOT, "evil", ObjType::Map).unwrap();
            let r = d.put_object(&m, "r1", ObjType::Map).unwrap();
            d.put(&r, "x", 1).unwrap();
        }),
        forged_by(&mut c, 1, |d| {
            d.put(ROOT, "products", "gone").unwrap();
        }),
    ];
    let report = c
        .replica_mut(0)
        .apply_changes(&DocId::Catalog, forged)
        .unwrap();
    assert_eq!(
        report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3],
        "{report:#?}"
    );
    assert!(report.rejected[0].1.contains("root"), "{report:?}");
    assert_eq!(c.fingerprint(0), before);
    c.check_rebuild(0).unwrap();
    // The product is still there, and T2's honest edits still get through.
    c.exec_ok(
        1,
        U,
        &store_core::Command::UpdateProduct {
            product_id: p.clone(),
            name: Some("Kept".into()),
            category: None,
            price: None,
            cost: None,
            min_stock: None,
            status: None,
            barcode: None,
        },
    );
    c.sync_all();
    c.assert_converged();
    let name: String = c
        .conn(0)
        .query_row("SELECT name FROM products WHERE id = ?1", [&p], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(name, "Kept");
    assert!(c.stats().rejected.is_empty());
}

#[test]
fn a_change_the_document_refuses_keeps_only_itself_out() {
    // A frame is applied as one batch, and automerge refuses a batch as a
    // whole when one change of it reuses an actor's sequence number with
    // other content (a terminal restored from an old backup, or a forgery).
    // Only that change is refused; the rest of its frame still applies.
    let mut c = Cluster::new(2, 1);
    let p = c.exec_ok(1, U, &fixtures::product("SEQ", 10, 5)).id;
    c.sync_all();
    // T2's next catalogue change, as a broken T2 would make it...
    let forged = forged_by(&mut c, 1, |d| {
        let (_, products) = d.get(ROOT, "products").unwrap().unwrap();
        let (_, rec) = d.get(&products, &p).unwrap().unwrap();
        d.put(&rec, "name", "Forged").unwrap();
    });
    // ...and the real ones, the first of which takes the same sequence number.
    c.exec_ok(1, U, &fixtures::product("SEQ-2", 20, 5));
    c.exec_ok(1, U, &fixtures::product("SEQ-3", 30, 5));
    let real = c.missing_changes(1, 0, &DocId::Catalog);
    assert_eq!(real.len(), 2);
    let first = Change::from_bytes(real[0].clone()).unwrap();
    let fake = Change::from_bytes(forged.clone()).unwrap();
    assert_eq!(
        (first.actor_id(), first.seq()),
        (fake.actor_id(), fake.seq())
    );
    c.replica_mut(0)
        .apply_changes(&DocId::Catalog, vec![real[0].clone()])
        .unwrap();

    let report = c
        .replica_mut(0)
        .apply_changes(&DocId::Catalog, vec![forged, real[1].clone()])
        .unwrap();
    assert_eq!(
        report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0],
        "{report:#?}"
    );
    assert_eq!(report.stored, 1, "{report:#?}");
    assert_eq!(c.heads(0, &DocId::Catalog), c.heads(1, &DocId::Catalog));
    let names: Vec<String> = c
        .conn(0)
        .prepare("SELECT name FROM products ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!names.iter().any(|n| n == "Forged"), "{names:?}");
    assert_eq!(names.len(), 3, "{names:?}");
    c.check_invariants(0).unwrap();
}
