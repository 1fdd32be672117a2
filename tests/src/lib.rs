//! Cross-component test support: an in-process cluster of replicas.
//!
//! A [`Cluster`] runs N [`Replica`]s in one process, each on its own real
//! SQLite file in a temporary directory, each with its own automerge actor
//! (`T1`, `T2`, ...), its own bill-number terminal code and a deterministic
//! [`SeededEnv`] (clock and record ids). Replicas may belong to different
//! branches. Nothing is shared between them except what the test moves.
//!
//! Replicas are *offline* by default: [`Cluster::exec`] runs a command on one
//! replica and nothing else sees it until changes are exchanged. Changes
//! travel in two ways:
//!
//! - **Messages.** [`Cluster::post`] / [`Cluster::broadcast`] put
//!   [`Delivery`]s (`from`, `to`, `doc_id`, encoded changes) in an outbox, the
//!   way a sync message would be computed from the receiver's last known
//!   heads. The outbox is an unordered bag: [`Cluster::deliver_random`] picks
//!   any message, may keep a copy to deliver it again later (duplication),
//!   and applies it whole, shuffled, reversed, or only one of its changes
//!   (the rest goes back into the outbox, so changes arrive out of
//!   dependency order and must wait for their dependencies).
//!   [`Cluster::drop_random`] loses a message.
//! - **Full sync.** [`Cluster::sync_all`] exchanges every missing change
//!   between every pair of replicas until nothing moves (quiescence).
//!
//! Replicas can also restart ([`Cluster::reopen`]: close the database and
//! open the file again), lose their storage ([`Cluster::wipe`]) or have
//! their clock moved ([`Cluster::advance_clock`]).
//!
//! Then [`Cluster::check_converged`] / [`Cluster::assert_converged`] compare
//! every replica: the same documents with identical heads, and an identical
//! [`Replica::projection_dump`]. [`invariants::check`] verifies the
//! accounting invariants of the projection with SQL, and [`fingerprint`]
//! digests a whole database file for "nothing changed" assertions.
//!
//! ```
//! use store_tests::{Cluster, DetRng, fixtures};
//!
//! let mut c = Cluster::new(3, 2); // T1 and T3 sell for branch B1, T2 for B2
//! c.exec_ok(0, "alice", &fixtures::channel("cash", true));
//! let p = c.exec_ok(0, "alice", &fixtures::product("RB-12", 950, 700)).id;
//! c.broadcast(0);
//! let mut rng = DetRng::new(7);
//! c.deliver_all_random(&mut rng, 0.3); // re-ordered, duplicated, split
//! c.exec_ok(1, "bob", &fixtures::receive(&p, 5_000));
//! c.sync_all();
//! c.assert_converged();
//! c.check_invariants_all().unwrap();
//! ```

#![warn(missing_docs)]

pub mod bench;
pub mod chromium;
pub mod queries;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use store_core::{
    ApplyReport, ChangeHash, Command, CommandError, DocId, Env, OpenOptions, Outcome, Replica,
    ReplicaIdentity, SeededEnv,
};

pub use store_core;

// ------------------------------------------------------------------ randomness

/// A small deterministic random generator (SplitMix64) for delivery
/// schedules and generated workloads. Same seed, same schedule.
#[derive(Debug, Clone)]
pub struct DetRng {
    state: u64,
}

impl DetRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        DetRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as i64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A [`SeededEnv`] that the cluster keeps a handle on, so it can read and
/// move a replica's clock and keep the random stream going across restarts
/// (a reopened replica must not draw the same record ids again).
#[derive(Clone)]
struct SharedEnv(Arc<Mutex<SeededEnv>>);

impl Env for SharedEnv {
    fn now_ms(&mut self) -> i64 {
        self.0.lock().expect("clock").now_ms()
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        self.0.lock().expect("clock").fill_random(buf)
    }
}

// ------------------------------------------------------------------ configuration

/// How a [`Cluster`] is built. [`Cluster::new`] uses the defaults with the
/// given replica and branch counts.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Number of replicas (terminals), at least 1.
    pub replicas: usize,
    /// Number of branches, at least 1. Replica `i` sells for branch
    /// `i % branches` (codes `B1`, `B2`, ...).
    pub branches: usize,
    /// Seeds every replica's environment and the bootstrap.
    pub seed: u64,
    /// Clock of replica 0 at start, ms since the epoch; replica `i` starts
    /// `i` seconds later so that replicas never share timestamps.
    pub start_ms: i64,
    /// How much a replica's clock advances at every reading.
    pub step_ms: i64,
    /// How replica databases are opened. The default uses WAL with
    /// `synchronous = NORMAL` (crash-safe, fast on a test machine's disk).
    pub open_options: OpenOptions,
    /// Replicas configured with the terminal code of the replica before
    /// them (`T{i}` instead of `T{i+1}`): two devices set up as the same
    /// terminal of a branch, whose bill numbers collide.
    pub same_terminal_code: Vec<usize>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            replicas: 2,
            branches: 1,
            seed: 1,
            start_ms: 1_790_000_000_000,
            step_ms: 1_000,
            open_options: OpenOptions {
                synchronous_full: false,
                ..OpenOptions::default()
            },
            same_terminal_code: Vec::new(),
        }
    }
}

// ------------------------------------------------------------------ messages

/// One message in the outbox: changes of one document sent by one replica
/// to another. Indices are replica positions in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Sending replica.
    pub from: usize,
    /// Receiving replica.
    pub to: usize,
    /// Document the changes belong to.
    pub doc_id: DocId,
    /// Encoded automerge changes, in the sender's dependency order.
    pub changes: Vec<Vec<u8>>,
}

/// How [`Cluster::deliver`] hands a message to its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// All changes in one `apply_changes` call, in the sender's order.
    Whole,
    /// All changes in one call, shuffled.
    Shuffled,
    /// All changes in one call, newest first.
    Reversed,
    /// One randomly chosen change now; the others go back into the outbox as
    /// a new message, to arrive later, perhaps after other messages.
    OneChange,
}

impl DeliveryMode {
    /// Every mode, for random choice.
    pub const ALL: [DeliveryMode; 4] = [
        DeliveryMode::Whole,
        DeliveryMode::Shuffled,
        DeliveryMode::Reversed,
        DeliveryMode::OneChange,
    ];
}

/// Counters of everything the cluster moved between replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// `apply_changes` calls made.
    pub deliveries: u64,
    /// Changes handed to receivers (duplicates included).
    pub changes_sent: u64,
    /// Changes that were new to their receiver.
    pub stored: u64,
    /// Changes the receiver already had.
    pub duplicates: u64,
    /// Messages kept in the outbox to be delivered again.
    pub duplicated_messages: u64,
    /// Messages split by [`DeliveryMode::OneChange`].
    pub split_messages: u64,
    /// Messages lost on purpose.
    pub dropped_messages: u64,
    /// Every change a receiver rejected, as `"T2 <- T1 doc: reason"`.
    /// Honest replicas never produce one, so tests assert this is empty.
    pub rejected: Vec<String>,
}

// ------------------------------------------------------------------ the cluster

struct Node {
    replica: Option<Replica>,
    identity: ReplicaIdentity,
    path: PathBuf,
    env: Arc<Mutex<SeededEnv>>,
}

impl Node {
    fn replica(&self) -> &Replica {
        self.replica.as_ref().expect("replica is open")
    }
    fn replica_mut(&mut self) -> &mut Replica {
        self.replica.as_mut().expect("replica is open")
    }
}

/// N replicas in one process; see the [crate docs](crate).
///
/// Replica `i` has replica id and terminal code `T{i+1}` and sells for the
/// branch `branch_ids()[i % branches]` (code `B{k+1}`). The branches exist
/// in every replica's catalogue from the start (created by a bootstrap
/// replica `HQ`, whose catalogue changes every replica receives), so
/// transfers between branches and service orders work from the first
/// command. Methods panic with context when the *harness* cannot do its
/// job (a replica's database fails); command refusals are returned.
pub struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    branch_ids: Vec<String>,
    branch_codes: Vec<String>,
    outbox: Vec<Delivery>,
    stats: DeliveryStats,
    config: ClusterConfig,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("replicas", &self.nodes.len())
            .field("branch_ids", &self.branch_ids)
            .field("outbox", &self.outbox.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Cluster {
    /// `n_replicas` replicas spread round-robin over `n_branches` branches,
    /// with the default [`ClusterConfig`].
    pub fn new(n_replicas: usize, n_branches: usize) -> Cluster {
        Cluster::with_config(ClusterConfig {
            replicas: n_replicas,
            branches: n_branches,
            ..ClusterConfig::default()
        })
    }

    /// A cluster built from `config`.
    pub fn with_config(config: ClusterConfig) -> Cluster {
        assert!(config.replicas >= 1, "a cluster needs a replica");
        assert!(config.branches >= 1, "a cluster needs a branch");
        let dir = tempfile::Builder::new()
            .prefix("store-cluster-")
            .tempdir()
            .expect("create the cluster's temporary directory");

        // The bootstrap replica creates the branches so that their record ids
        // can be the terminals' branch ids.
        let hq_identity = ReplicaIdentity {
            replica_id: "HQ".into(),
            branch_id: "HQ".into(),
            branch_code: "HQ".into(),
            terminal_code: "HQ".into(),
        };
        let hq_env = SeededEnv::new(
            config.seed ^ 0x005e_ed0f_b007,
            config.start_ms - 60_000,
            config.step_ms,
        );
        let mut hq = Replica::open(
            dir.path().join("hq.sqlite"),
            hq_identity,
            Box::new(hq_env),
            &config.open_options,
        )
        .expect("open the bootstrap replica");
        let mut branch_ids = Vec::new();
        let mut branch_codes = Vec::new();
        for b in 0..config.branches {
            let code = format!("B{}", b + 1);
            let out = hq
                .execute(
                    "bootstrap",
                    &Command::CreateBranch {
                        code: code.clone(),
                        name: format!("Branch {}", b + 1),
                    },
                )
                .expect("create a branch");
            branch_ids.push(out.id);
            branch_codes.push(code);
        }
        let catalog = hq
            .changes_since(&DocId::Catalog, &[])
            .expect("read the bootstrap catalogue");
        drop(hq);

        let mut nodes = Vec::with_capacity(config.replicas);
        for i in 0..config.replicas {
            let b = i % config.branches;
            let identity = ReplicaIdentity {
                replica_id: format!("T{}", i + 1),
                branch_id: branch_ids[b].clone(),
                branch_code: branch_codes[b].clone(),
                terminal_code: match config.same_terminal_code.contains(&i) {
                    true => format!("T{i}"),
                    false => format!("T{}", i + 1),
                },
            };
            let env = Arc::new(Mutex::new(SeededEnv::new(
                config
                    .seed
                    .wrapping_mul(0x1000_0000_01b3)
                    .wrapping_add(i as u64 + 1),
                config.start_ms + i as i64 * 1_000,
                config.step_ms,
            )));
            let path = dir.path().join(format!("t{}.sqlite", i + 1));
            let mut replica = Replica::open(
                &path,
                identity.clone(),
                Box::new(SharedEnv(env.clone())),
                &config.open_options,
            )
            .unwrap_or_else(|e| panic!("open replica {}: {e}", identity.replica_id));
            let report = replica
                .apply_changes(&DocId::Catalog, catalog.clone())
                .expect("seed the catalogue");
            assert!(report.rejected.is_empty(), "bootstrap rejected: {report:?}");
            nodes.push(Node {
                replica: Some(replica),
                identity,
                path,
                env,
            });
        }
        Cluster {
            dir,
            nodes,
            branch_ids,
            branch_codes,
            outbox: Vec::new(),
            stats: DeliveryStats::default(),
            config,
        }
    }

    // -------------------------------------------------------------- access

    /// Number of replicas.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no replica (never true: kept for clippy).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The configuration the cluster was built with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The temporary directory holding every database file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replica `i`.
    pub fn replica(&self, i: usize) -> &Replica {
        self.nodes[i].replica()
    }

    /// Replica `i`, mutably (to call [`Replica`] methods directly).
    pub fn replica_mut(&mut self, i: usize) -> &mut Replica {
        self.nodes[i].replica_mut()
    }

    /// Replica `i`'s SQLite connection, for queries.
    pub fn conn(&self, i: usize) -> &Connection {
        self.replica(i).connection()
    }

    /// Replica `i`'s identity.
    pub fn identity(&self, i: usize) -> &ReplicaIdentity {
        &self.nodes[i].identity
    }

    /// Path of replica `i`'s database file.
    pub fn path(&self, i: usize) -> &Path {
        &self.nodes[i].path
    }

    /// Branch record ids, `B1` first.
    pub fn branch_ids(&self) -> &[String] {
        &self.branch_ids
    }

    /// Branch codes (`B1`, `B2`, ...), in the order of [`Cluster::branch_ids`].
    pub fn branch_codes(&self) -> &[String] {
        &self.branch_codes
    }

    /// The branch id replica `i` sells for.
    pub fn branch_of(&self, i: usize) -> &str {
        &self.nodes[i].identity.branch_id
    }

    /// Indices of the replicas selling for `branch_id`.
    pub fn replicas_of_branch(&self, branch_id: &str) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.branch_of(i) == branch_id)
            .collect()
    }

    /// Replica `i`'s clock (the last time it read).
    pub fn clock(&self, i: usize) -> i64 {
        self.nodes[i].env.lock().expect("clock").now
    }

    /// Moves replica `i`'s clock forward by `ms` (a day offline, a month
    /// boundary...).
    pub fn advance_clock(&mut self, i: usize, ms: i64) {
        assert!(ms >= 0, "clocks do not go back");
        self.nodes[i].env.lock().expect("clock").now += ms;
    }

    // -------------------------------------------------------------- commands

    /// Executes `cmd` as `user` on replica `i`, offline: nothing is sent.
    pub fn exec(&mut self, i: usize, user: &str, cmd: &Command) -> Result<Outcome, CommandError> {
        self.nodes[i].replica_mut().execute(user, cmd)
    }

    /// [`Cluster::exec`] that panics (with the replica and command) when
    /// the command is refused: for test setup.
    pub fn exec_ok(&mut self, i: usize, user: &str, cmd: &Command) -> Outcome {
        match self.exec(i, user, cmd) {
            Ok(o) => o,
            Err(e) => panic!(
                "{} refused {}: {e} ({cmd:?})",
                self.nodes[i].identity.replica_id,
                cmd.name()
            ),
        }
    }

    /// Closes replica `i`'s database and opens the file again, as after a
    /// crash or a reload. Its clock and random stream continue; changes
    /// that were waiting in memory for a dependency are lost, as they would
    /// be (the sender sends them again).
    pub fn reopen(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        drop(node.replica.take());
        // Whatever document changes the old instance kept in memory are gone
        // with it; the new one loads from the file.
        let replica = Replica::open(
            &node.path,
            node.identity.clone(),
            Box::new(SharedEnv(node.env.clone())),
            &self.config.open_options,
        )
        .unwrap_or_else(|e| panic!("reopen {}: {e}", node.identity.replica_id));
        node.replica = Some(replica);
    }

    /// Loses replica `i`'s database entirely (a cleared browser profile, a
    /// replaced device) and opens an empty one with the same identity. Its
    /// clock and random stream continue. The replica must get its own
    /// documents back (a sync) before it writes again, as a real terminal
    /// re-registering would.
    pub fn wipe(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        drop(node.replica.take());
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = node.path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("delete {p:?}: {e}"),
            }
        }
        self.reopen(i);
    }

    // -------------------------------------------------------------- documents

    /// Every document any replica stores.
    pub fn doc_ids(&self) -> BTreeSet<DocId> {
        let mut out = BTreeSet::new();
        for n in &self.nodes {
            out.extend(n.replica().doc_ids().expect("list documents"));
        }
        out
    }

    /// Sorted heads of `doc` on replica `i` (empty when it lacks the doc).
    pub fn heads(&mut self, i: usize, doc: &DocId) -> Vec<ChangeHash> {
        let mut h = self.nodes[i]
            .replica_mut()
            .heads(doc)
            .unwrap_or_else(|e| panic!("heads of {doc} on replica {i}: {e}"));
        h.sort();
        h
    }

    /// The changes of `doc` that `from` has and that `to` lacks, judged by
    /// `to`'s current heads (what a sync round would send).
    pub fn missing_changes(&mut self, from: usize, to: usize, doc: &DocId) -> Vec<Vec<u8>> {
        let have = self.heads(to, doc);
        self.nodes[from]
            .replica_mut()
            .changes_since(doc, &have)
            .unwrap_or_else(|e| panic!("changes of {doc} on replica {from}: {e}"))
    }

    // -------------------------------------------------------------- messages

    /// Queues one message per document for which `from` has changes that
    /// `to` lacks right now. Returns the number of messages queued.
    pub fn post(&mut self, from: usize, to: usize) -> usize {
        assert_ne!(from, to, "a replica does not message itself");
        let docs = self.nodes[from]
            .replica()
            .doc_ids()
            .expect("list documents");
        let mut n = 0;
        for doc in docs {
            let changes = self.missing_changes(from, to, &doc);
            if !changes.is_empty() {
                self.outbox.push(Delivery {
                    from,
                    to,
                    doc_id: doc,
                    changes,
                });
                n += 1;
            }
        }
        n
    }

    /// [`Cluster::post`] from `from` to every other replica.
    pub fn broadcast(&mut self, from: usize) -> usize {
        (0..self.len())
            .filter(|&to| to != from)
            .map(|to| self.post(from, to))
            .sum()
    }

    /// Queues a message as is (a test can forge or replay one).
    pub fn enqueue(&mut self, d: Delivery) {
        self.outbox.push(d);
    }

    /// Messages not delivered yet.
    pub fn outbox(&self) -> &[Delivery] {
        &self.outbox
    }

    /// Takes every undelivered message out of the outbox.
    pub fn take_outbox(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.outbox)
    }

    /// What the cluster moved so far.
    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }

    /// Hands `changes` of `doc` to replica `to` (one `apply_changes` call),
    /// counting them in [`Cluster::stats`]. Panics if the receiver's storage
    /// fails; rejected changes are recorded in the stats and the report.
    pub fn apply(
        &mut self,
        from: usize,
        to: usize,
        doc: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> ApplyReport {
        let n = changes.len() as u64;
        let report = self.nodes[to]
            .replica_mut()
            .apply_changes(doc, changes)
            .unwrap_or_else(|e| panic!("replica {to} failed to apply {doc}: {e}"));
        self.stats.deliveries += 1;
        self.stats.changes_sent += n;
        self.stats.stored += report.stored as u64;
        self.stats.duplicates += report.duplicates as u64;
        for (idx, why) in &report.rejected {
            let (f, t) = (
                &self.nodes[from].identity.replica_id,
                &self.nodes[to].identity.replica_id,
            );
            self.stats
                .rejected
                .push(format!("{t} <- {f} {doc} change #{idx}: {why}"));
        }
        report
    }

    /// Removes message `idx` from the outbox and delivers it in `mode`
    /// (`rng` chooses the order or the single change).
    pub fn deliver(&mut self, idx: usize, mode: DeliveryMode, rng: &mut DetRng) -> ApplyReport {
        let d = self.outbox.swap_remove(idx);
        self.deliver_message(d, mode, rng)
    }

    fn deliver_message(
        &mut self,
        mut d: Delivery,
        mode: DeliveryMode,
        rng: &mut DetRng,
    ) -> ApplyReport {
        match mode {
            DeliveryMode::Whole => {}
            DeliveryMode::Shuffled => rng.shuffle(&mut d.changes),
            DeliveryMode::Reversed => d.changes.reverse(),
            DeliveryMode::OneChange => {
                if d.changes.len() > 1 {
                    let one = d.changes.swap_remove(rng.below(d.changes.len()));
                    let rest = Delivery {
                        from: d.from,
                        to: d.to,
                        doc_id: d.doc_id.clone(),
                        changes: std::mem::replace(&mut d.changes, vec![one]),
                    };
                    let at = rng.below(self.outbox.len() + 1);
                    self.outbox.insert(at, rest);
                    self.stats.split_messages += 1;
                }
            }
        }
        self.apply(d.from, d.to, &d.doc_id, d.changes)
    }

    /// Delivers one random message in a random [`DeliveryMode`]; with
    /// probability `dup_prob` a copy stays in the outbox and will be
    /// delivered again. `None` when the outbox is empty.
    pub fn deliver_random(&mut self, rng: &mut DetRng, dup_prob: f64) -> Option<ApplyReport> {
        if self.outbox.is_empty() {
            return None;
        }
        let idx = rng.below(self.outbox.len());
        let d = if rng.chance(dup_prob) {
            self.stats.duplicated_messages += 1;
            self.outbox[idx].clone()
        } else {
            self.outbox.swap_remove(idx)
        };
        let mode = DeliveryMode::ALL[rng.below(DeliveryMode::ALL.len())];
        Some(self.deliver_message(d, mode, rng))
    }

    /// Delivers random messages until the outbox is empty. `dup_prob` is
    /// capped at 0.9 so that this ends.
    pub fn deliver_all_random(&mut self, rng: &mut DetRng, dup_prob: f64) -> usize {
        let mut n = 0;
        while self.deliver_random(rng, dup_prob.min(0.9)).is_some() {
            n += 1;
        }
        n
    }

    /// Loses one random message. Returns it, `None` when the outbox is empty.
    pub fn drop_random(&mut self, rng: &mut DetRng) -> Option<Delivery> {
        if self.outbox.is_empty() {
            return None;
        }
        self.stats.dropped_messages += 1;
        Some(self.outbox.swap_remove(rng.below(self.outbox.len())))
    }

    // -------------------------------------------------------------- full sync

    /// Sends `to` every change `from` has that `to` lacks, one document at a
    /// time. Returns the number of changes `to` stored.
    pub fn sync_pair(&mut self, from: usize, to: usize) -> usize {
        let docs = self.nodes[from]
            .replica()
            .doc_ids()
            .expect("list documents");
        let mut stored = 0;
        for doc in docs {
            let changes = self.missing_changes(from, to, &doc);
            if !changes.is_empty() {
                stored += self.apply(from, to, &doc, changes).stored;
            }
        }
        stored
    }

    /// Syncs every ordered pair of replicas until a whole round stores
    /// nothing. Returns the number of rounds. Undelivered messages stay in
    /// the outbox (delivering them later must change nothing).
    pub fn sync_all(&mut self) -> usize {
        for round in 1..=16 {
            let mut stored = 0;
            for from in 0..self.len() {
                for to in 0..self.len() {
                    if from != to {
                        stored += self.sync_pair(from, to);
                    }
                }
            }
            if stored == 0 {
                return round;
            }
        }
        panic!("sync_all did not reach quiescence in 16 rounds");
    }

    // -------------------------------------------------------------- checks

    /// `Ok` when every replica stores the same documents with identical
    /// heads and has an identical projection dump; otherwise what differs.
    pub fn check_converged(&mut self) -> Result<(), String> {
        let docs = self.doc_ids();
        let mut problems = Vec::new();
        for doc in &docs {
            let reference = self.heads(0, doc);
            for i in 1..self.len() {
                let h = self.heads(i, doc);
                if h != reference {
                    problems.push(format!(
                        "heads of {doc} differ: {} has {:?}, {} has {:?}",
                        self.nodes[0].identity.replica_id,
                        short_heads(&reference),
                        self.nodes[i].identity.replica_id,
                        short_heads(&h)
                    ));
                }
            }
        }
        let reference = self.dump(0);
        for i in 1..self.len() {
            let d = self.dump(i);
            if let Some(diff) = first_difference(&reference, &d) {
                problems.push(format!(
                    "projection of {} differs from {}: {diff}",
                    self.nodes[i].identity.replica_id, self.nodes[0].identity.replica_id
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Panics with the differences unless [`Cluster::check_converged`] is `Ok`.
    pub fn assert_converged(&mut self) {
        if let Err(e) = self.check_converged() {
            panic!("replicas did not converge:\n{e}");
        }
    }

    /// Replica `i`'s [`Replica::projection_dump`].
    pub fn dump(&self, i: usize) -> String {
        self.replica(i)
            .projection_dump()
            .unwrap_or_else(|e| panic!("dump replica {i}: {e}"))
    }

    /// [`invariants::check`] on replica `i`.
    pub fn check_invariants(&self, i: usize) -> Result<(), String> {
        invariants::check(self.conn(i))
            .map_err(|e| format!("{}: {e}", self.nodes[i].identity.replica_id))
    }

    /// [`invariants::check`] on every replica.
    pub fn check_invariants_all(&self) -> Result<(), String> {
        let errors: Vec<String> = (0..self.len())
            .filter_map(|i| self.check_invariants(i).err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Rebuilds replica `i`'s projection from its documents and checks that
    /// the dump is identical to the incrementally maintained one.
    pub fn check_rebuild(&mut self, i: usize) -> Result<(), String> {
        let before = self.dump(i);
        self.nodes[i]
            .replica_mut()
            .rebuild_projection()
            .map_err(|e| format!("rebuild of replica {i} failed: {e}"))?;
        let after = self.dump(i);
        match first_difference(&before, &after) {
            None => Ok(()),
            Some(d) => Err(format!(
                "rebuild of {} differs from its incremental projection: {d}",
                self.nodes[i].identity.replica_id
            )),
        }
    }

    /// [`fingerprint`] of replica `i`'s whole database.
    pub fn fingerprint(&mut self, i: usize) -> Fingerprint {
        fingerprint(self.nodes[i].replica_mut())
    }
}

fn short_heads(h: &[ChangeHash]) -> Vec<String> {
    h.iter().map(|h| h.to_string()[..12].to_string()).collect()
}

/// The first line where two dumps differ, with the table it is in, or
/// `None` when they are identical.
pub fn first_difference(a: &str, b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut table = "";
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i).copied(), lb.get(i).copied());
        if let Some(x) = x
            && x.starts_with("## ")
            && x == y.unwrap_or("")
        {
            table = x;
            continue;
        }
        if x != y {
            return Some(format!(
                "in {table}, line {}:\n  left:  {}\n  right: {}",
                i + 1,
                x.unwrap_or("<end>"),
                y.unwrap_or("<end>")
            ));
        }
    }
    Some("dumps differ in line endings only".into())
}

// ------------------------------------------------------------------ fingerprints

/// Digest of one table: its row count and a SHA-256 of every value of every
/// row, rows in a canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    /// Number of rows.
    pub rows: u64,
    /// Hex SHA-256 of the rows.
    pub sha256: String,
}

/// A digest of a whole replica database: every table of the file (documents,
/// stored changes, counters, settings, migrations, the projection, full-text
/// indexes and their shadow tables), plus the heads of every document as the
/// replica reports them. Two equal fingerprints mean the file's content is
/// the same, independently of SQLite's page layout or `data_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Table name to digest.
    pub tables: BTreeMap<String, TableDigest>,
    /// Document id to its sorted heads.
    pub heads: BTreeMap<String, Vec<String>>,
}

/// Computes the [`Fingerprint`] of `replica`'s database.
pub fn fingerprint(replica: &mut Replica) -> Fingerprint {
    let tables = table_digests(replica.connection()).expect("fingerprint the database");
    let mut heads = BTreeMap::new();
    for doc in replica.doc_ids().expect("list documents") {
        let mut h: Vec<String> = replica
            .heads(&doc)
            .expect("read heads")
            .iter()
            .map(|h| h.to_string())
            .collect();
        h.sort();
        heads.insert(doc.to_string(), h);
    }
    Fingerprint { tables, heads }
}

/// Digests of every table of the database behind `conn`.
pub fn table_digests(conn: &Connection) -> rusqlite::Result<BTreeMap<String, TableDigest>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for name in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let ncols = conn
            .prepare(&format!("SELECT * FROM {quoted}"))?
            .column_count();
        let order: Vec<String> = (1..=ncols).map(|c| c.to_string()).collect();
        let sql = if ncols == 0 {
            format!("SELECT * FROM {quoted}")
        } else {
            format!("SELECT * FROM {quoted} ORDER BY {}", order.join(", "))
        };
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(r) = rows.next()? {
            n += 1;
            for c in 0..ncols {
                match r.get_ref(c)? {
                    ValueRef::Null => h.update([0u8]),
                    ValueRef::Integer(i) => {
                        h.update([1u8]);
                        h.update(i.to_le_bytes());
                    }
                    ValueRef::Real(f) => {
                        h.update([2u8]);
                        h.update(f.to_le_bytes());
                    }
                    ValueRef::Text(t) => {
                        h.update([3u8]);
                        h.update((t.len() as u64).to_le_bytes());
                        h.update(t);
                    }
                    ValueRef::Blob(b) => {
                        h.update([4u8]);
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b);
                    }
                }
            }
        }
        let sha256 = h.finalize().iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        out.insert(name, TableDigest { rows: n, sha256 });
    }
    Ok(out)
}

// ------------------------------------------------------------------ invariants

/// The accounting invariants of the projection (DESIGN.md section 6.4),
/// checked with SQL on one replica. They must hold on every replica at any
/// time, converged or not.
pub mod invariants {
    use rusqlite::Connection;

    fn violations(
        conn: &Connection,
        what: &str,
        sql: &str,
        out: &mut Vec<String>,
    ) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query([])?;
        let mut shown = 0;
        while let Some(r) = rows.next()? {
            if shown < 5 {
                let vals: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i) {
                        Ok(rusqlite::types::ValueRef::Text(t)) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        Ok(rusqlite::types::ValueRef::Integer(v)) => v.to_string(),
                        Ok(rusqlite::types::ValueRef::Null) => "NULL".into(),
                        Ok(v) => format!("{v:?}"),
                        Err(e) => e.to_string(),
                    })
                    .collect();
                out.push(format!("{what}: {}", vals.join(", ")));
            }
            shown += 1;
        }
        if shown > 5 {
            out.push(format!("{what}: ... {} more", shown - 5));
        }
        Ok(())
    }

    /// Every violated invariant, one line each (`Ok` when none):
    ///
    /// - stock: for each (product, branch), `stock_levels.qty` equals the sum
    ///   of `stock_movements.qty`, and every product/branch with movements
    ///   has a level;
    /// - balances: for each customer, `customer_balances.balance` equals
    ///   `SUM(debit - credit)` of its ledger entries (and `entries` their
    ///   count), both ways;
    /// - invoices: `paid` = invoice payments - refunds referencing it,
    ///   `returned` = sum of its returns, `voided` = it has a void, and
    ///   `remaining` = `total - paid - returned` (0 when void);
    /// - every invoice with a customer has its sale debit in the ledger and
    ///   every product line its sale movement;
    /// - bill numbers: no two invoices want the same bill number, none has a
    ///   NULL `bill_no` (all wanted numbers are unique), and a terminal never
    ///   reuses a sequence number;
    /// - unique keys (SKU, barcode, phone): each wanted value is held by
    ///   exactly one record, the one with the smallest id.
    pub fn check(conn: &Connection) -> Result<(), String> {
        let mut out = Vec::new();
        run(conn, &mut out).map_err(|e| format!("invariant query failed: {e}"))?;
        if out.is_empty() {
            Ok(())
        } else {
            Err(out.join("\n"))
        }
    }

    const MOVEMENT_SUMS: &str = "(SELECT product_id, branch_id, sum(qty) AS s FROM stock_movements GROUP BY product_id, branch_id)";
    const LEDGER_SUMS: &str = "(SELECT customer_id, sum(debit - credit) AS s, count(*) AS n FROM ledger_entries GROUP BY customer_id)";

    fn run(conn: &Connection, out: &mut Vec<String>) -> rusqlite::Result<()> {
        violations(
            conn,
            "stock level differs from the sum of movements (product, branch, level, sum)",
            &format!(
                "SELECT l.product_id, l.branch_id, l.qty, m.s FROM stock_levels l
                 LEFT JOIN {MOVEMENT_SUMS} m ON m.product_id = l.product_id AND m.branch_id = l.branch_id
                 WHERE l.qty <> coalesce(m.s, 0)
                 UNION ALL
                 SELECT m.product_id, m.branch_id, NULL, m.s FROM {MOVEMENT_SUMS} m
                 WHERE NOT EXISTS (SELECT 1 FROM stock_levels l
                                   WHERE l.product_id = m.product_id AND l.branch_id = m.branch_id)"
            ),
            out,
        )?;
        violations(
            conn,
            "balance differs from the ledger (customer, balance, entries, sum, count)",
            &format!(
                "SELECT b.customer_id, b.balance, b.entries, e.s, e.n FROM customer_balances b
                 LEFT JOIN {LEDGER_SUMS} e ON e.customer_id = b.customer_id
                 WHERE b.balance <> coalesce(e.s, 0) OR b.entries <> coalesce(e.n, 0)
                 UNION ALL
                 SELECT e.customer_id, NULL, NULL, e.s, e.n FROM {LEDGER_SUMS} e
                 WHERE NOT EXISTS (SELECT 1 FROM customer_balances b WHERE b.customer_id = e.customer_id)"
            ),
            out,
        )?;
        violations(
            conn,
            "invoice derived amounts are wrong (id, total, paid, returned, voided, remaining, \
             expected paid, expected returned, expected voided, expected remaining)",
            "WITH x AS (
                SELECT i.id, i.total, i.paid, i.returned, i.voided, i.remaining,
                    coalesce((SELECT sum(CASE p.kind WHEN 'invoice' THEN p.amount
                                                     WHEN 'refund' THEN -p.amount ELSE 0 END)
                              FROM payments p WHERE p.invoice_id = i.id), 0) AS e_paid,
                    coalesce((SELECT sum(r.total) FROM returns r WHERE r.invoice_id = i.id), 0) AS e_ret,
                    EXISTS (SELECT 1 FROM invoice_voids v WHERE v.invoice_id = i.id) AS e_void
                FROM invoices i)
             SELECT id, total, paid, returned, voided, remaining, e_paid, e_ret, e_void,
                    CASE WHEN e_void THEN 0 ELSE total - e_paid - e_ret END AS e_rem
             FROM x
             WHERE paid <> e_paid OR returned <> e_ret OR voided <> e_void
                OR remaining <> (CASE WHEN e_void THEN 0 ELSE total - e_paid - e_ret END)",
            out,
        )?;
        violations(
            conn,
            "invoice with a customer lacks its ledger debit (id)",
            "SELECT i.id FROM invoices i WHERE i.customer_id IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM ledger_entries e WHERE e.id = 'invoice:' || i.id
                 AND e.customer_id = i.customer_id AND e.debit = i.total AND e.credit = 0)
                AND i.total > 0",
            out,
        )?;
        violations(
            conn,
            "product invoice line lacks its sale movement (invoice, line)",
            "SELECT l.invoice_id, l.line_no FROM invoice_lines l WHERE l.kind = 'product' AND NOT EXISTS
                (SELECT 1 FROM stock_movements m WHERE m.id = l.invoice_id || ':' || l.line_no
                 AND m.qty = -l.qty AND m.product_id = l.product_id)",
            out,
        )?;
        violations(
            conn,
            "two invoices share a bill number (bill_no_wanted, count)",
            "SELECT bill_no_wanted, count(*) FROM invoices GROUP BY bill_no_wanted HAVING count(*) > 1",
            out,
        )?;
        violations(
            conn,
            "invoice without a bill number although nobody else wants it (id, wanted)",
            "SELECT i.id, i.bill_no_wanted FROM invoices i WHERE i.bill_no IS NULL
             AND (SELECT count(*) FROM invoices j WHERE j.bill_no_wanted = i.bill_no_wanted) = 1",
            out,
        )?;
        violations(
            conn,
            "bill number differs from the one wanted (id, bill_no, wanted)",
            "SELECT id, bill_no, bill_no_wanted FROM invoices WHERE bill_no IS NOT NULL AND bill_no <> bill_no_wanted",
            out,
        )?;
        violations(
            conn,
            "a terminal reused a sequence number (terminal, seq, count)",
            "SELECT terminal_id, seq, count(*) FROM invoices GROUP BY terminal_id, seq HAVING count(*) > 1",
            out,
        )?;
        for (table, col) in [
            ("products", "sku"),
            ("products", "barcode"),
            ("customers", "phone"),
        ] {
            violations(
                conn,
                &format!("{table}.{col} is not held by exactly the smallest id wanting it (value)"),
                &format!(
                    "SELECT {col}_wanted FROM {table} WHERE {col}_wanted IS NOT NULL GROUP BY {col}_wanted
                     HAVING count({col}) <> 1
                         OR max(CASE WHEN {col} IS NOT NULL THEN id END) <> min(id)
                         OR max(CASE WHEN {col} IS NOT NULL THEN {col} END) <> {col}_wanted"
                ),
                out,
            )?;
            violations(
                conn,
                &format!("{table}.{col} set without being wanted (id)"),
                &format!("SELECT id FROM {table} WHERE {col} IS NOT NULL AND {col}_wanted IS NULL"),
                out,
            )?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ fixtures

/// Shorthands for commands that tests write over and over.
pub mod fixtures {
    use store_core::{Command, Money, Qty, SaleLine, StockLineInput, Tender};

    /// A payment channel.
    pub fn channel(code: &str, is_cash: bool) -> Command {
        Command::SetPaymentChannel {
            code: code.into(),
            name: code.to_uppercase(),
            is_cash,
            active: true,
        }
    }

    /// An edit of a product's name and price (`None`: unchanged).
    pub fn edit_product(product_id: &str, name: Option<&str>, price: Option<Money>) -> Command {
        Command::UpdateProduct {
            product_id: product_id.into(),
            name: name.map(Into::into),
            category: None,
            price,
            cost: None,
            min_stock: None,
            status: None,
            barcode: None,
        }
    }

    /// A product sold by the piece.
    pub fn product(sku: &str, price: Money, cost: Money) -> Command {
        Command::CreateProduct {
            sku: sku.into(),
            barcode: None,
            name: format!("Product {sku}"),
            category: "steel".into(),
            grade: None,
            unit: "piece".into(),
            price,
            cost,
            min_stock: 0,
        }
    }

    /// A customer.
    pub fn customer(name: &str, phone: Option<&str>, credit_limit: Money) -> Command {
        Command::CreateCustomer {
            name: name.into(),
            phone: phone.map(Into::into),
            address: None,
            credit_limit,
            tags: Vec::new(),
        }
    }

    /// Receipt of `qty` (thousandths) of one product.
    pub fn receive(product_id: &str, qty: Qty) -> Command {
        Command::ReceiveStock {
            lines: vec![StockLineInput {
                product_id: product_id.into(),
                qty,
                unit_cost: None,
            }],
            note: "delivery".into(),
        }
    }

    /// A sale line at the catalogue price, no discount or tax.
    pub fn line(product_id: &str, qty: Qty) -> SaleLine {
        SaleLine {
            product_id: product_id.into(),
            qty,
            unit_price: None,
            discount: 0,
            tax_rate_bp: 0,
        }
    }

    /// A walk-in sale of one line paid `paid` in cash.
    pub fn cash_sale(product_id: &str, qty: Qty, paid: Money) -> Command {
        Command::Sell {
            customer_id: None,
            lines: vec![line(product_id, qty)],
            payments: vec![Tender {
                channel: "cash".into(),
                amount: paid,
            }],
            allow_negative_stock: false,
            allow_over_credit_limit: false,
        }
    }

    /// A sale of one line to a customer, on credit (nothing paid).
    pub fn credit_sale(customer_id: &str, product_id: &str, qty: Qty) -> Command {
        Command::Sell {
            customer_id: Some(customer_id.into()),
            lines: vec![line(product_id, qty)],
            payments: Vec::new(),
            allow_negative_stock: false,
            allow_over_credit_limit: false,
        }
    }
}
