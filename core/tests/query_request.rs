//! Requests of the query catalogue as they arrive from outside (JSON from
//! the browser or the back office): unknown fields are refused for every
//! query, including the ones that take no field.

use store_core::query::Request;

fn parse(json: &str) -> Result<Request, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn queries_without_fields_refuse_unknown_fields() {
    for name in ["alerts_summary", "payment_channels", "services"] {
        let ok = parse(&format!(r#"{{"query":"{name}"}}"#)).unwrap();
        assert_eq!(ok.name(), name);
        let err = parse(&format!(r#"{{"query":"{name}","branch_id":"B1"}}"#))
            .expect_err("an unknown field must be refused");
        assert!(err.to_string().contains("unknown field"), "{name}: {err}");
        // And they write back as they were read.
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            serde_json::json!({ "query": name })
        );
    }
}

#[test]
fn queries_with_fields_refuse_unknown_fields_too() {
    let err = parse(r#"{"query":"technicians","branch_id":"B1","colour":"red"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    assert!(parse(r#"{"query":"technicians","branch_id":"B1"}"#).is_ok());
}
