//! Keeps `web/engine/types.d.ts` honest: the hand-written TypeScript types
//! of the engine are checked against the serde forms of the Rust types, so
//! that a change on either side that is not made on the other fails here.
//!
//! - The `type` literals of `Command` and the `query` literals of `Request`
//!   are exactly the variants serde accepts (read from the error of an
//!   unknown variant).
//! - Every command, query, command part and answer row is exercised with
//!   values generated from its TypeScript declaration: all fields filled
//!   must deserialize and serialize back to the same JSON (so field names,
//!   value kinds and enum literals agree); the required fields alone must
//!   deserialize, and leaving out any of them must fail with serde's
//!   `missing field` naming it (so `?` matches `#[serde(default)]`); `null`
//!   must be accepted exactly for the fields declared `| null`.
//! - `QueryResults` gives each query the answer type `Request::run` returns.
//! - The string-literal enums match the Rust enums; the error-code unions
//!   match `CommandError::code`, `QueryError::code` and every code the
//!   facade, the worker and the client produce; `SyncStatus` matches the
//!   facade's `Status` struct (browser.rs is wasm-only, so it is read as
//!   text).
//!
//! The parser relies on the layout the `.d.ts` header describes: one
//! `export interface Name {` per object type, closed by `}` at the start of
//! a line, one `name?: type;` member per line at two spaces of indentation,
//! and `export type Name = ...;` aliases ending with `;` at a line's end.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use store_core::domain::LineKind;
use store_core::query::{self, Request};
use store_core::{
    Command, OrderStatus, Outcome, PaymentKind, ProductStatus, ReplicaIdentity, ReturnLineInput,
    SaleLine, StockLineInput, Tender,
};
use store_wasm::EngineError;

const DTS: &str = include_str!("../../web/engine/types.d.ts");
const CORE_ERROR_RS: &str = include_str!("../../core/src/error.rs");
const REQUEST_RS: &str = include_str!("../../core/src/query/request.rs");
const FACADE_ERROR_RS: &str = include_str!("../src/error.rs");
const BROWSER_RS: &str = include_str!("../src/browser.rs");
const WORKER_JS: &str = include_str!("../../web/engine/worker.js");
const CLIENT_JS: &str = include_str!("../../web/engine/client.js");

// ------------------------------------------------------------ the parser

#[derive(Debug, Clone)]
struct Member {
    name: String,
    optional: bool,
    ty: String,
}

#[derive(Debug, Clone)]
struct Interface {
    params: Vec<String>,
    members: Vec<Member>,
}

impl Interface {
    fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

#[derive(Debug)]
struct Dts {
    interfaces: BTreeMap<String, Interface>,
    aliases: BTreeMap<String, String>,
}

fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with("/**")
        || trimmed.starts_with("* ")
        || trimmed == "*"
        || trimmed.starts_with("*/")
        || trimmed.starts_with("//")
}

fn parse(text: &str) -> Dts {
    let lines: Vec<&str> = text.lines().collect();
    let mut interfaces = BTreeMap::new();
    let mut aliases = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(head) = line.strip_prefix("export interface ") {
            let head = head
                .strip_suffix(" {")
                .unwrap_or_else(|| panic!("line {}: expected `{{` at the end", i + 1));
            let (name, params) = match head.split_once('<') {
                Some((n, p)) => (
                    n.trim().to_string(),
                    p.trim_end_matches('>')
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .collect(),
                ),
                None => (head.trim().to_string(), Vec::new()),
            };
            let mut members = Vec::new();
            i += 1;
            while lines[i] != "}" {
                let l = lines[i];
                let t = l.trim();
                i += 1;
                if t.is_empty() || is_comment(t) {
                    continue;
                }
                assert!(
                    l.starts_with("  ") && !l.starts_with("   "),
                    "line {i}: a member of {name} must be indented by two spaces: {l:?}"
                );
                let t = t
                    .strip_suffix(';')
                    .unwrap_or_else(|| panic!("line {i}: member must end with `;`: {l:?}"));
                let (lhs, ty) = t
                    .split_once(':')
                    .unwrap_or_else(|| panic!("line {i}: not a `name: type;` member: {l:?}"));
                let (name, optional) = match lhs.strip_suffix('?') {
                    Some(n) => (n.to_string(), true),
                    None => (lhs.to_string(), false),
                };
                members.push(Member {
                    name,
                    optional,
                    ty: ty.trim().to_string(),
                });
            }
            let dup = interfaces.insert(name.clone(), Interface { params, members });
            assert!(dup.is_none(), "interface {name} declared twice");
        } else if let Some(rest) = line.strip_prefix("export type ") {
            let mut body = rest.to_string();
            while !body.trim_end().ends_with(';') {
                i += 1;
                body.push('\n');
                body.push_str(lines[i]);
            }
            let (lhs, rhs) = body
                .split_once('=')
                .unwrap_or_else(|| panic!("line {}: alias without `=`", i + 1));
            let name = lhs.split('<').next().unwrap().trim().to_string();
            let rhs = rhs.trim().trim_end_matches(';').trim().to_string();
            let dup = aliases.insert(name.clone(), rhs);
            assert!(dup.is_none(), "type {name} declared twice");
        }
        i += 1;
    }
    Dts {
        interfaces,
        aliases,
    }
}

/// Splits `s` at `sep` outside brackets and string literals.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' | '{' | '<' if !quoted => depth += 1,
            ')' | ']' | '}' | '>' if !quoted => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quoted {
            parts.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    parts.push(cur.trim().to_string());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

impl Dts {
    fn interface(&self, name: &str) -> &Interface {
        self.interfaces
            .get(name)
            .unwrap_or_else(|| panic!("types.d.ts has no `export interface {name}`"))
    }

    fn alias(&self, name: &str) -> &str {
        self.aliases
            .get(name)
            .unwrap_or_else(|| panic!("types.d.ts has no `export type {name}`"))
    }

    /// The names a union alias lists (`A | B | C`).
    fn union_names(&self, alias: &str) -> Vec<String> {
        split_top(self.alias(alias), '|')
    }

    /// The string literals of a union of literals, following aliases.
    fn literals(&self, alias: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for alt in self.union_names(alias) {
            match alt.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
                Some(lit) => {
                    out.insert(lit.to_string());
                }
                None => out.extend(self.literals(&alt)),
            }
        }
        out
    }

    /// Whether `ty` admits `null` (following a lone alias name).
    fn nullable(&self, ty: &str) -> bool {
        let alts = split_top(ty, '|');
        if alts.iter().any(|a| a == "null") {
            return true;
        }
        match alts.as_slice() {
            [one] => self.aliases.get(one).is_some_and(|a| self.nullable(a)),
            _ => false,
        }
    }

    /// A JSON value of type `ty`: the first non-null alternative of a
    /// union, one element in arrays, every member of an object.
    fn sample(&self, ty: &str, env: &BTreeMap<String, Value>) -> Value {
        let alts = split_top(ty, '|');
        let ty = alts
            .iter()
            .find(|a| *a != "null")
            .unwrap_or_else(|| panic!("no non-null alternative in {ty:?}"));
        if let Some(inner) = ty.strip_suffix("[]") {
            return Value::Array(vec![self.sample(inner, env)]);
        }
        if let Some(inner) = ty.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            return self.sample(inner, env);
        }
        if let Some(lit) = ty.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            return Value::String(lit.to_string());
        }
        if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return Value::Array(
                split_top(inner, ',')
                    .iter()
                    .map(|t| self.sample(t, env))
                    .collect(),
            );
        }
        match ty.as_str() {
            "string" => return Value::String("x".into()),
            "number" => return Value::from(1),
            "boolean" => return Value::Bool(true),
            _ => {}
        }
        let (name, args) = match ty.split_once('<') {
            Some((n, a)) => (
                n.trim(),
                split_top(a.strip_suffix('>').expect("unbalanced `<`"), ','),
            ),
            None => (ty.as_str(), Vec::new()),
        };
        if name == "Record" {
            assert_eq!(args.len(), 2, "Record takes two arguments: {ty}");
            let mut m = Map::new();
            m.insert("k".into(), self.sample(&args[1], env));
            return Value::Object(m);
        }
        if let Some(v) = env.get(name) {
            return v.clone();
        }
        if let Some(i) = self.interfaces.get(name) {
            assert_eq!(i.params.len(), args.len(), "type arguments of {ty}");
            let inner: BTreeMap<String, Value> = i
                .params
                .iter()
                .zip(&args)
                .map(|(p, a)| (p.clone(), self.sample(a, env)))
                .collect();
            let mut m = Map::new();
            for mem in &i.members {
                m.insert(mem.name.clone(), self.sample(&mem.ty, &inner));
            }
            return Value::Object(m);
        }
        if let Some(body) = self.aliases.get(name) {
            assert!(args.is_empty(), "generic alias {name} in a sampled type");
            return self.sample(body, env);
        }
        panic!("cannot make a value of TypeScript type {ty:?}")
    }

    fn sample_interface(&self, name: &str) -> Map<String, Value> {
        match self.sample(name, &BTreeMap::new()) {
            Value::Object(m) => m,
            other => panic!("{name} is not an object: {other}"),
        }
    }
}

// ---------------------------------------------------------- serde probes

type Rt = fn(Value) -> Result<Value, String>;

/// Deserializes `v` as `T` and serializes it back.
fn rt<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(&t).expect("serializes"))
}

/// The variants serde accepts, read from its error for an unknown one
/// (`expected `a``, `expected `a` or `b``, `expected one of `a`, `b`, ...`).
fn serde_variants<T: DeserializeOwned + std::fmt::Debug>(unknown: &str) -> BTreeSet<String> {
    let err = serde_json::from_str::<T>(unknown).expect_err("__nope__ is not a variant");
    let msg = err.to_string();
    let (_, list) = msg
        .split_once("`__nope__`, expected ")
        .unwrap_or_else(|| panic!("unexpected serde error: {msg}"));
    let list = list.split(" at line ").next().unwrap();
    let list = list.strip_prefix("one of ").unwrap_or(list);
    let names: BTreeSet<String> = list
        .split(", ")
        .flat_map(|s| s.split(" or "))
        .map(|s| {
            s.strip_prefix('`')
                .and_then(|s| s.strip_suffix('`'))
                .unwrap_or_else(|| panic!("unexpected serde error: {msg}"))
                .to_string()
        })
        .collect();
    names
}

fn diff(what: &str, dts: &BTreeSet<String>, rust: &BTreeSet<String>) -> Option<String> {
    let only_dts: Vec<_> = dts.difference(rust).collect();
    let only_rust: Vec<_> = rust.difference(dts).collect();
    (!only_dts.is_empty() || !only_rust.is_empty())
        .then(|| format!("{what}: only in types.d.ts {only_dts:?}, only in Rust {only_rust:?}"))
}

fn finish(errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "types.d.ts has drifted from the Rust types:\n- {}",
        errors.join("\n- ")
    );
}

/// Checks an input type (a command, a query, a command part) against its
/// interface: full round trip, required fields, nullability.
fn check_input(dts: &Dts, iface: &str, tag: Option<&str>, rt: Rt, errors: &mut Vec<String>) {
    let i = dts.interface(iface);
    let full = dts.sample_interface(iface);
    match rt(Value::Object(full.clone())) {
        Ok(back) if back == Value::Object(full.clone()) => {}
        Ok(back) => errors.push(format!(
            "{iface}: every field filled does not survive a round trip (a field name or type differs):\n    sent     {}\n    got back {back}",
            Value::Object(full.clone())
        )),
        Err(e) => errors.push(format!("{iface}: every field filled is refused: {e}")),
    }
    let required: Vec<&Member> = i.members.iter().filter(|m| !m.optional).collect();
    let minimal: Map<String, Value> = full
        .iter()
        .filter(|(k, _)| required.iter().any(|m| &m.name == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    // Only the tag: success, or a missing field the d.ts requires.
    if let Some(tag) = tag {
        let only_tag: Map<String, Value> = minimal
            .iter()
            .filter(|(k, _)| k.as_str() == tag)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Err(e) = rt(Value::Object(only_tag)) {
            let named = e
                .split('`')
                .nth(1)
                .filter(|_| e.starts_with("missing field"));
            match named {
                Some(f) if required.iter().any(|m| m.name == f) => {}
                _ => errors.push(format!(
                    "{iface}: with no fields serde says {e:?}, which is not a missing field that types.d.ts requires"
                )),
            }
        }
    }
    if let Err(e) = rt(Value::Object(minimal.clone())) {
        errors.push(format!(
            "{iface}: the required fields alone are refused ({e}): a field marked `?` is required in Rust"
        ));
        // The checks below start from the required fields: they would only
        // repeat this error.
        return;
    }
    for m in &required {
        if Some(m.name.as_str()) == tag {
            continue;
        }
        let mut without = minimal.clone();
        without.remove(&m.name);
        match rt(Value::Object(without)) {
            Err(e) if e.contains(&format!("missing field `{}`", m.name)) => {}
            Err(e) => errors.push(format!(
                "{iface}.{}: leaving it out gives {e:?}, not a missing field",
                m.name
            )),
            Ok(_) => errors.push(format!(
                "{iface}.{}: Rust has a default for it, so it should be optional (`?`)",
                m.name
            )),
        }
    }
    for m in &i.members {
        if Some(m.name.as_str()) == tag {
            continue;
        }
        let mut with_null = minimal.clone();
        with_null.insert(m.name.clone(), Value::Null);
        let accepted = rt(Value::Object(with_null)).is_ok();
        let declared = dts.nullable(&m.ty);
        if accepted != declared {
            errors.push(format!(
                "{iface}.{}: Rust {} null but types.d.ts declares `{}`",
                m.name,
                if accepted { "accepts" } else { "refuses" },
                m.ty
            ));
        }
    }
}

/// Checks an answer type: full round trip, nullability of each field.
fn check_output(dts: &Dts, iface: &str, rt: Rt, errors: &mut Vec<String>) {
    let i = dts.interface(iface);
    let full = dts.sample_interface(iface);
    match rt(Value::Object(full.clone())) {
        Ok(back) if back == Value::Object(full.clone()) => {}
        Ok(back) => errors.push(format!(
            "{iface}: does not survive a round trip (a field name or type differs):\n    sent     {}\n    got back {back}",
            Value::Object(full.clone())
        )),
        Err(e) => {
            errors.push(format!("{iface}: refused by Rust: {e}"));
            // The null checks start from this value: they would only
            // repeat this error.
            return;
        }
    }
    for m in &i.members {
        let mut with_null = full.clone();
        with_null.insert(m.name.clone(), Value::Null);
        let accepted = rt(Value::Object(with_null)).is_ok();
        let declared = dts.nullable(&m.ty);
        if accepted != declared {
            errors.push(format!(
                "{iface}.{}: Rust {} null but types.d.ts declares `{}`",
                m.name,
                if accepted { "accepts" } else { "refuses" },
                m.ty
            ));
        }
    }
}

/// Checks a tagged union: tags against serde's variants, then each variant.
fn check_union<T: DeserializeOwned + Serialize + std::fmt::Debug>(
    union: &str,
    tag: &str,
) -> Vec<String> {
    let dts = parse(DTS);
    let mut errors = Vec::new();
    let rust = serde_variants::<T>(&format!(r#"{{"{tag}":"__nope__"}}"#));
    let mut tags = BTreeSet::new();
    for name in dts.union_names(union) {
        let i = dts.interface(&name);
        let lit = i
            .member(tag)
            .and_then(|m| m.ty.strip_prefix('"')?.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{name} has no `{tag}: \"...\"` member"));
        assert!(tags.insert(lit.to_string()), "{union}: `{lit}` twice");
        check_input(&dts, &name, Some(tag), rt::<T>, &mut errors);
    }
    errors.extend(diff(&format!("{union} `{tag}` literals"), &tags, &rust));
    errors
}

// ------------------------------------------------------------ the tables

/// Command parts: (interface, Rust type).
fn input_parts() -> Vec<(&'static str, Rt)> {
    vec![
        ("SaleLine", rt::<SaleLine> as Rt),
        ("Tender", rt::<Tender>),
        ("StockLineInput", rt::<StockLineInput>),
        ("ReturnLineInput", rt::<ReturnLineInput>),
    ]
}

/// Answer rows and other outputs: (interface, Rust type).
fn outputs() -> Vec<(&'static str, Rt)> {
    use query::*;
    vec![
        ("Outcome", rt::<Outcome> as Rt),
        ("ReplicaIdentity", rt::<ReplicaIdentity>),
        ("ProductHit", rt::<ProductHit>),
        ("CustomerHit", rt::<CustomerHit>),
        ("LowStock", rt::<LowStock>),
        ("CustomerBalance", rt::<CustomerBalance>),
        ("StatementEntry", rt::<StatementEntry>),
        ("StatementPage", rt::<StatementPage>),
        ("AgingBuckets", rt::<AgingBuckets>),
        ("CustomerAging", rt::<CustomerAging>),
        ("InvoiceSummary", rt::<InvoiceSummary>),
        ("InvoiceHeader", rt::<InvoiceHeader>),
        ("InvoiceLineRow", rt::<InvoiceLineRow>),
        ("Settlement", rt::<Settlement>),
        ("InvoiceDetail", rt::<InvoiceDetail>),
        ("SalesTotals", rt::<SalesTotals>),
        ("ReturnsTotals", rt::<ReturnsTotals>),
        ("ChannelSales", rt::<ChannelSales>),
        ("CategorySales", rt::<CategorySales>),
        ("SalesReport", rt::<SalesReport>),
        ("TopProduct", rt::<TopProduct>),
        ("ShiftChannel", rt::<ShiftChannel>),
        ("ShiftSummary", rt::<ShiftSummary>),
        ("StockRow", rt::<StockRow>),
        ("BranchStock", rt::<BranchStock>),
        ("CategoryValuation", rt::<CategoryValuation>),
        ("Valuation", rt::<Valuation>),
        ("StockCardEntry", rt::<StockCardEntry>),
        ("StockCardPage", rt::<StockCardPage>),
        ("ServiceHistoryEntry", rt::<ServiceHistoryEntry>),
        ("TechnicianWorkload", rt::<TechnicianWorkload>),
        ("ScheduledOrder", rt::<ScheduledOrder>),
        ("FieldConflict", rt::<FieldConflict>),
        ("RejectedRecord", rt::<RejectedRecord>),
        ("DuplicateKey", rt::<DuplicateKey>),
        ("NegativeStock", rt::<NegativeStock>),
        ("AlertsSummary", rt::<AlertsSummary>),
        ("PaymentChannelRow", rt::<PaymentChannelRow>),
        ("ServiceRow", rt::<ServiceRow>),
        ("TechnicianRow", rt::<TechnicianRow>),
        ("VehicleRow", rt::<VehicleRow>),
        ("OpenShift", rt::<OpenShift>),
    ]
}

/// What `Request::run` answers for each query (the methods' return types).
fn answers() -> Vec<(&'static str, Rt)> {
    use query::*;
    vec![
        ("search_products", rt::<Page<ProductHit, i64>> as Rt),
        ("product_by_barcode", rt::<Option<ProductHit>>),
        ("search_customers", rt::<Page<CustomerHit, i64>>),
        ("low_stock", rt::<Page<LowStock, TextCursor>>),
        (
            "customers_with_balance",
            rt::<Page<CustomerBalance, AmountCursor>>,
        ),
        (
            "customers_over_credit",
            rt::<Page<CustomerBalance, AmountCursor>>,
        ),
        ("customer_statement", rt::<StatementPage>),
        ("receivables_aging", rt::<AgingBuckets>),
        (
            "receivables_aging_by_customer",
            rt::<Page<CustomerAging, String>>,
        ),
        ("stock_on_hand", rt::<store_core::Qty>),
        ("invoices_by_status", rt::<Page<InvoiceSummary, TextCursor>>),
        (
            "invoices_by_branch_day",
            rt::<Page<InvoiceSummary, TextCursor>>,
        ),
        (
            "invoices_of_customer",
            rt::<Page<InvoiceSummary, TimeCursor>>,
        ),
        ("invoice_id_by_bill_no", rt::<Option<String>>),
        ("invoice", rt::<Option<InvoiceDetail>>),
        ("sales_report", rt::<SalesReport>),
        ("top_products", rt::<Vec<TopProduct>>),
        ("shift_summary", rt::<Option<ShiftSummary>>),
        ("stock_by_branch", rt::<Page<StockRow, AmountCursor>>),
        ("stock_of_product", rt::<Page<BranchStock, String>>),
        ("stock_valuation", rt::<Valuation>),
        ("stock_card", rt::<StockCardPage>),
        (
            "vehicle_history",
            rt::<Page<ServiceHistoryEntry, TextCursor>>,
        ),
        ("technician_workload", rt::<Vec<TechnicianWorkload>>),
        ("day_schedule", rt::<Page<ScheduledOrder, TextCursor>>),
        ("field_conflicts", rt::<Page<FieldConflict, Text3Cursor>>),
        ("rejected_records", rt::<Page<RejectedRecord, Text3Cursor>>),
        ("duplicate_keys", rt::<Page<DuplicateKey, Text3Cursor>>),
        ("negative_stock", rt::<Page<NegativeStock, TextCursor>>),
        ("alerts_summary", rt::<AlertsSummary>),
        ("payment_channels", rt::<Vec<PaymentChannelRow>>),
        ("services", rt::<Vec<ServiceRow>>),
        ("technicians", rt::<Vec<TechnicianRow>>),
        ("vehicles_of_customer", rt::<Vec<VehicleRow>>),
        ("open_shift", rt::<Option<OpenShift>>),
    ]
}

// ----------------------------------------------------------------- tests

#[test]
fn commands_match_serde() {
    finish(check_union::<Command>("Command", "type"));
}

#[test]
fn requests_match_serde() {
    finish(check_union::<Request>("Request", "query"));
}

#[test]
fn command_parts_match_serde() {
    let dts = parse(DTS);
    let mut errors = Vec::new();
    for (name, rt) in input_parts() {
        check_input(&dts, name, None, rt, &mut errors);
    }
    finish(errors);
}

#[test]
fn answer_rows_match_serde() {
    let dts = parse(DTS);
    let mut errors = Vec::new();
    for (name, rt) in outputs() {
        check_output(&dts, name, rt, &mut errors);
    }
    finish(errors);
}

#[test]
fn every_query_has_its_answer_type() {
    let dts = parse(DTS);
    let mut errors = Vec::new();
    let variants = serde_variants::<Request>(r#"{"query":"__nope__"}"#);
    let table: BTreeMap<&str, Rt> = answers().into_iter().collect();
    let table_names = table.keys().map(|s| s.to_string()).collect();
    errors.extend(diff(
        "queries of this test's answer table (update it with Request::run)",
        &table_names,
        &variants,
    ));
    let results = dts.interface("QueryResults");
    let declared = results.members.iter().map(|m| m.name.clone()).collect();
    errors.extend(diff("QueryResults keys", &declared, &variants));
    for m in &results.members {
        let Some(rt) = table.get(m.name.as_str()) else {
            continue;
        };
        let v = dts.sample(&m.ty, &BTreeMap::new());
        match rt(v.clone()) {
            Ok(back) if back == v => {}
            Ok(back) => errors.push(format!(
                "QueryResults.{}: `{}` does not survive a round trip:\n    sent     {v}\n    got back {back}",
                m.name, m.ty
            )),
            Err(e) => errors.push(format!("QueryResults.{}: `{}` refused: {e}", m.name, m.ty)),
        }
        if rt(Value::Null).is_ok() != dts.nullable(&m.ty) {
            errors.push(format!(
                "QueryResults.{}: nullability of `{}` differs from Rust",
                m.name, m.ty
            ));
        }
    }
    finish(errors);
}

#[test]
fn enums_match_serde() {
    let dts = parse(DTS);
    let nope = r#""__nope__""#;
    let mut errors = Vec::new();
    for (alias, rust) in [
        ("ProductStatus", serde_variants::<ProductStatus>(nope)),
        ("PaymentKind", serde_variants::<PaymentKind>(nope)),
        ("LineKind", serde_variants::<LineKind>(nope)),
        ("OrderStatus", serde_variants::<OrderStatus>(nope)),
        ("Period", serde_variants::<query::Period>(nope)),
        ("TopBy", serde_variants::<query::TopBy>(nope)),
        (
            "InvoiceStatus",
            query::INVOICE_STATUSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    ] {
        errors.extend(diff(alias, &dts.literals(alias), &rust));
    }
    finish(errors);
}

/// String literals that follow `prefix` (after optional whitespace).
fn literals_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = text[at + prefix.len()..].trim_start();
        if let Some(rest) = rest.strip_prefix('"') {
            let end = rest.find('"').expect("closed string");
            out.insert(rest[..end].to_string());
        }
    }
    out
}

/// The codes `fn code` of a Rust error type returns: the `=> "..."` arms
/// of its body.
fn codes_of_fn_code(rs: &str) -> BTreeSet<String> {
    let start = rs
        .find("pub fn code(&self) -> &'static str {")
        .expect("a `pub fn code`");
    let body = &rs[start..];
    let end = body.find("\n    }\n").expect("end of `fn code`");
    let codes = literals_after(&body[..end], "=>");
    assert!(!codes.is_empty(), "no codes found in fn code");
    codes
}

#[test]
fn error_codes_match_the_rust_and_js_sources() {
    let dts = parse(DTS);
    let mut errors = Vec::new();
    let command = codes_of_fn_code(CORE_ERROR_RS);
    errors.extend(diff(
        "CommandErrorCode vs CommandError::code",
        &dts.literals("CommandErrorCode"),
        &command,
    ));
    let query = codes_of_fn_code(REQUEST_RS);
    errors.extend(diff(
        "QueryErrorCode vs QueryError::code",
        &dts.literals("QueryErrorCode"),
        &query,
    ));

    // Codes the facade, the worker and the client produce themselves.
    let mut facade = BTreeSet::new();
    for src in [FACADE_ERROR_RS, BROWSER_RS] {
        facade.extend(literals_after(src, "EngineError::new("));
        facade.extend(literals_after(src, "Self::new("));
        facade.extend(literals_after(src, "code: "));
    }
    // error.rs maps open errors with `match` arms.
    facade.extend(literals_after(FACADE_ERROR_RS, "=>"));
    for src in [WORKER_JS, CLIENT_JS] {
        facade.extend(literals_after(src, "code: "));
    }
    assert!(
        facade.len() >= 10,
        "the scan of the facade's codes broke: {facade:?}"
    );
    let all = dts.literals("EngineErrorCode");
    let declared_facade = dts.literals("FacadeErrorCode");
    for c in command.iter().chain(&query).chain(&facade) {
        if !all.contains(c) {
            errors.push(format!("error code `{c}` is missing from EngineErrorCode"));
        }
    }
    // `locked` is the client's state for a database another tab owns,
    // listed as a reserved code; every other facade code must be produced.
    let reserved: BTreeSet<String> = ["locked".to_string()].into();
    let produced = facade.union(&reserved).cloned().collect();
    errors.extend(diff(
        "FacadeErrorCode vs the codes the facade, worker and client produce",
        &declared_facade,
        &produced,
    ));

    // The error shape: `field` is left out when there is none.
    let info = dts.interface("EngineErrorInfo");
    let plain = serde_json::to_value(EngineError::new("x", "y")).unwrap();
    let with_field = serde_json::to_value(EngineError {
        field: Some("f".into()),
        ..EngineError::new("x", "y")
    })
    .unwrap();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let required = info
        .members
        .iter()
        .filter(|m| !m.optional)
        .map(|m| m.name.clone())
        .collect();
    let every = info.members.iter().map(|m| m.name.clone()).collect();
    errors.extend(diff(
        "EngineErrorInfo required fields",
        &required,
        &keys(&plain),
    ));
    errors.extend(diff("EngineErrorInfo fields", &every, &keys(&with_field)));
    finish(errors);
}

/// The fields of `struct Status` in browser.rs (wasm-only, so read as
/// text): name and whether it is an `Option`.
fn status_fields() -> BTreeMap<String, bool> {
    let start = BROWSER_RS.find("struct Status {").expect("struct Status");
    let body = &BROWSER_RS[start..];
    let body = &body[..body.find("\n}").expect("end of struct Status")];
    body.lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(|l| {
            let (name, ty) = l.split_once(':').expect("`name: Type,`");
            (name.trim().to_string(), ty.trim().starts_with("Option<"))
        })
        .collect()
}

#[test]
fn sync_status_matches_the_facade() {
    let dts = parse(DTS);
    let mut errors = Vec::new();
    let rust = status_fields();
    let status = dts.interface("SyncStatus");
    let declared = status.members.iter().map(|m| m.name.clone()).collect();
    let rust_names = rust.keys().cloned().collect();
    errors.extend(diff(
        "SyncStatus fields vs browser.rs Status",
        &declared,
        &rust_names,
    ));
    for m in &status.members {
        if let Some(opt) = rust.get(&m.name)
            && (m.optional || *opt != dts.nullable(&m.ty))
        {
            errors.push(format!(
                "SyncStatus.{}: Rust {} an Option, types.d.ts says `{}{}: {}`",
                m.name,
                if *opt { "is" } else { "is not" },
                m.name,
                if m.optional { "?" } else { "" },
                m.ty
            ));
        }
    }
    // execute_batch answers `[{ok: Outcome} | {error: EngineError}]`.
    let one = BROWSER_RS
        .find("enum One {")
        .expect("enum One in browser.rs");
    let from = BROWSER_RS[..one]
        .rfind("#[derive(Serialize)]")
        .expect("derive of enum One");
    let to = one + BROWSER_RS[one..].find('}').expect("end of enum One");
    let head = &BROWSER_RS[from..to];
    for needle in [
        "#[serde(rename_all = \"snake_case\")]",
        "Ok(store_core::Outcome),",
        "Error(EngineError),",
    ] {
        if !head.contains(needle) {
            errors.push(format!("browser.rs `enum One` changed: no `{needle}`"));
        }
    }
    for (iface, key, ty) in [
        ("BatchOk", "ok", "Outcome"),
        ("BatchError", "error", "EngineErrorInfo<CommandErrorCode>"),
    ] {
        let i = dts.interface(iface);
        if i.members.len() != 1 || i.members[0].name != key || i.members[0].ty != ty {
            errors.push(format!("{iface} must be `{{ {key}: {ty} }}`"));
        }
    }
    finish(errors);
}

#[test]
fn every_interface_is_checked() {
    let dts = parse(DTS);
    let mut checked: BTreeSet<String> = dts
        .union_names("Command")
        .into_iter()
        .chain(dts.union_names("Request"))
        .collect();
    checked.extend(input_parts().iter().map(|(n, _)| n.to_string()));
    checked.extend(outputs().iter().map(|(n, _)| n.to_string()));
    // Checked by the other tests: Page through QueryResults' answers, the
    // rest by hand.
    for n in [
        "Page",
        "QueryResults",
        "EngineErrorInfo",
        "SyncStatus",
        "BatchOk",
        "BatchError",
    ] {
        checked.insert(n.to_string());
    }
    let declared = dts.interfaces.keys().cloned().collect();
    finish(
        diff("interfaces no test checks", &declared, &checked)
            .into_iter()
            .collect(),
    );
}
