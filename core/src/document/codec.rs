//! JSON-shaped values <-> automerge objects.
//!
//! Records are serde structs; going through `serde_json::Value` keeps one
//! codec for every record type. Objects become automerge maps and arrays
//! become lists, so each field is its own register and merges on its own.
//! Only integers, strings, booleans and null are accepted: floats never
//! represent money here, and a float in a record is a bug or a forgery.

use automerge::{
    AutoCommit, ObjId, Prop, ReadDoc, ScalarValue, hydrate, transaction::Transactable,
};
use serde_json::Value;

/// Writes `value` at `obj[prop]`, creating nested maps and lists.
///
/// A map or list is written with automerge's `batch_create_object`: the
/// object and everything inside it go into the document in two splices of
/// its op set instead of one per field. A product with its first history
/// entry is some twenty operations, and splicing them one by one into a
/// catalogue of 50k products cost about a millisecond per product. The
/// operations are the same (same keys, values and nesting; keys in sorted
/// order, so the change is deterministic), only inserted together.
pub(crate) fn write_json(
    doc: &mut AutoCommit,
    obj: &ObjId,
    prop: impl Into<Prop>,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    let prop = prop.into();
    match value {
        Value::Object(_) | Value::Array(_) => {
            doc.batch_create_object(obj, prop, &hydrate_value(value), false)?;
        }
        other => doc.put(obj, prop, scalar(other))?,
    }
    Ok(())
}

/// Inserts `value` at `index` of the list `list` (see [`write_json`]).
pub(crate) fn insert_json(
    doc: &mut AutoCommit,
    list: &ObjId,
    index: usize,
    value: &Value,
) -> Result<(), automerge::AutomergeError> {
    match value {
        Value::Object(_) | Value::Array(_) => {
            doc.batch_create_object(list, index, &hydrate_value(value), true)?;
        }
        other => doc.insert(list, index, scalar(other))?,
    }
    Ok(())
}

/// The automerge value `write_json` writes for a JSON value.
fn hydrate_value(v: &Value) -> hydrate::Value {
    match v {
        Value::Object(map) => {
            let m: std::collections::HashMap<String, hydrate::Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), hydrate_value(v)))
                .collect();
            hydrate::Value::Map(hydrate::Map::from(m))
        }
        Value::Array(items) => hydrate::Value::List(hydrate::List::from(
            items.iter().map(hydrate_value).collect::<Vec<_>>(),
        )),
        other => hydrate::Value::Scalar(scalar(other)),
    }
}

fn scalar(v: &Value) -> ScalarValue {
    match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int(i),
            // Records hold no floats (see module docs); serialise anything else as text
            // so that reading it back fails loudly instead of rounding money.
            None => ScalarValue::Str(n.to_string().into()),
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Array(_) | Value::Object(_) => unreachable!("objects go through hydrate_value"),
    }
}

/// Reads the object `obj` back as a JSON value (conflicts resolved to
/// automerge's deterministic winner).
pub(crate) fn read_json(doc: &AutoCommit, obj: &ObjId) -> Result<Value, String> {
    let h = doc.hydrate(obj, None).map_err(|e| e.to_string())?;
    hydrated(&h)
}

fn hydrated(v: &hydrate::Value) -> Result<Value, String> {
    Ok(match v {
        hydrate::Value::Scalar(s) => match s {
            ScalarValue::Null => Value::Null,
            ScalarValue::Boolean(b) => Value::Bool(*b),
            ScalarValue::Int(i) => Value::from(*i),
            ScalarValue::Uint(u) => Value::from(*u),
            ScalarValue::Str(s) => Value::String(s.to_string()),
            ScalarValue::Timestamp(t) => Value::from(*t),
            other => return Err(format!("unsupported value {other:?}")),
        },
        hydrate::Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, mv) in m.iter() {
                out.insert(k.clone(), hydrated(&mv.value)?);
            }
            Value::Object(out)
        }
        hydrate::Value::List(l) => Value::Array(
            l.iter()
                .map(|lv| hydrated(&lv.value))
                .collect::<Result<_, _>>()?,
        ),
        hydrate::Value::Text(t) => Value::String(t.to_string()),
    })
}

/// Every concurrent value of `obj[key]` as text, winner first.
pub(crate) fn all_values(doc: &AutoCommit, obj: &ObjId, key: &str) -> Vec<String> {
    let Ok(mut values) = doc.get_all(obj, key) else {
        return Vec::new();
    };
    // `get_all` lists the values in operation order, which puts automerge's
    // winner (the value `get` and `hydrate` return, and so the value the
    // projection shows) *last*, not first. Move the winner to the front so
    // that `field_conflicts.winner` names the value the record actually has.
    if let Ok(Some((_, winner))) = doc.get(obj, key)
        && let Some(pos) = values.iter().position(|(_, id)| *id == winner)
    {
        let w = values.remove(pos);
        values.insert(0, w);
    }
    values
        .into_iter()
        .map(|(v, _)| match v {
            automerge::Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(s) => s.to_string(),
                ScalarValue::Null => "null".to_string(),
                other => other.to_string(),
            },
            automerge::Value::Object(t) => format!("<{t}>"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ROOT;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_automerge() {
        let mut doc = AutoCommit::new();
        let v = json!({"a": 1, "b": "x", "c": [1, {"d": null}], "e": true, "f": {"g": -5}});
        write_json(&mut doc, &ROOT, "rec", &v).unwrap();
        let (_, id) = doc.get(ROOT, "rec").unwrap().unwrap();
        assert_eq!(read_json(&doc, &id).unwrap(), v);
    }

    #[test]
    fn batched_objects_insert_into_lists_and_replace_keys() {
        // History entries are appended to an existing list one object at a
        // time, and an update may replace a nested object: both go through
        // `batch_create_object`.
        let mut doc = AutoCommit::new();
        write_json(
            &mut doc,
            &ROOT,
            "rec",
            &json!({"h": [{"f": "a"}], "m": {"x": 1}}),
        )
        .unwrap();
        let (_, rec) = doc.get(ROOT, "rec").unwrap().unwrap();
        let (_, h) = doc.get(&rec, "h").unwrap().unwrap();
        insert_json(&mut doc, &h, 1, &json!({"f": "b", "n": [1, 2]})).unwrap();
        insert_json(&mut doc, &h, 0, &json!("first")).unwrap();
        write_json(&mut doc, &rec, "m", &json!({"y": null})).unwrap();
        doc.commit();
        let expected =
            json!({"h": ["first", {"f": "a"}, {"f": "b", "n": [1, 2]}], "m": {"y": null}});
        assert_eq!(read_json(&doc, &rec).unwrap(), expected);
        let reloaded = AutoCommit::load(&doc.save()).unwrap();
        let (_, rec) = reloaded.get(ROOT, "rec").unwrap().unwrap();
        assert_eq!(read_json(&reloaded, &rec).unwrap(), expected);
    }

    #[test]
    fn all_values_puts_the_visible_winner_first() {
        let mut a = AutoCommit::new().with_actor(automerge::ActorId::from(b"a".as_slice()));
        a.put(ROOT, "price", 1).unwrap();
        let mut b = a
            .fork()
            .with_actor(automerge::ActorId::from(b"b".as_slice()));
        a.put(ROOT, "price", 2).unwrap();
        b.put(ROOT, "price", 3).unwrap();
        a.merge(&mut b).unwrap();
        let values = all_values(&a, &ROOT, "price");
        assert_eq!(values.len(), 2);
        let (shown, _) = a.get(ROOT, "price").unwrap().unwrap();
        assert_eq!(values[0], shown.to_string());
    }

    #[test]
    fn floats_do_not_sneak_in_as_numbers() {
        let mut doc = AutoCommit::new();
        write_json(&mut doc, &ROOT, "rec", &json!({"p": 1.5})).unwrap();
        let (_, id) = doc.get(ROOT, "rec").unwrap().unwrap();
        assert_eq!(read_json(&doc, &id).unwrap(), json!({"p": "1.5"}));
    }
}
