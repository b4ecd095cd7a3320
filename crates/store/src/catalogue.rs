//! Hypercat 3.0 catalogues: each store describes its datasources, the box links every store's
//! catalogue from the root, and both answer Hypercat's simple search (`href`, `rel`, `val`).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::Datasource;

/// `rel` of a description.
pub const HAS_DESCRIPTION: &str = "urn:X-hypercat:rels:hasDescription:en";
/// `rel` of a content type.
pub const IS_CONTENT_TYPE: &str = "urn:X-hypercat:rels:isContentType";
/// The content type of a catalogue.
pub const CATALOGUE_TYPE: &str = "application/vnd.hypercat.catalogue+json";

/// Hypercat simple search parameters; an item matches when every given one matches.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// The item's href, exactly.
    pub href: Option<String>,
    /// A metadata relation the item has.
    pub rel: Option<String>,
    /// A metadata value the item has (with `rel`: under that relation).
    pub val: Option<String>,
}

impl Search {
    /// True if no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.href.is_none() && self.rel.is_none() && self.val.is_none()
    }

    /// Whether a Hypercat item matches.
    pub fn matches(&self, item: &Value) -> bool {
        if let Some(h) = &self.href
            && item.get("href").and_then(Value::as_str) != Some(h)
        {
            return false;
        }
        if self.rel.is_none() && self.val.is_none() {
            return true;
        }
        let empty = Vec::new();
        let meta = item
            .get("item-metadata")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        meta.iter().any(|m| {
            let rel_ok = self
                .rel
                .as_deref()
                .is_none_or(|r| m.get("rel").and_then(Value::as_str) == Some(r));
            let val_ok = self
                .val
                .as_deref()
                .is_none_or(|v| m.get("val").and_then(Value::as_str) == Some(v));
            rel_ok && val_ok
        })
    }
}

fn triple(rel: &str, val: impl Into<Value>) -> Value {
    json!({ "rel": rel, "val": val.into() })
}

/// The Hypercat item of one datasource; `store_url` is the store's API base.
pub fn datasource_item(store_url: &str, store_id: &str, ds: &Datasource) -> Value {
    let m = &ds.meta;
    let kind_path = if m.kind == crate::DatasourceKind::KeyValue {
        "kv"
    } else {
        "ts"
    };
    let mut meta = vec![
        triple(HAS_DESCRIPTION, m.description.clone()),
        triple("urn:X-databox:rels:hasType", m.data_type.clone()),
        triple("urn:X-databox:rels:hasDatasourceid", ds.id.clone()),
        triple("urn:X-databox:rels:hasStoreType", m.kind.as_str()),
        triple("urn:X-databox:rels:hasStore", store_id),
        triple(
            "urn:X-databox:rels:isActuator",
            if m.actuator { "true" } else { "false" },
        ),
    ];
    if let Some(u) = &m.unit {
        meta.push(triple("urn:X-databox:rels:hasUnit", u.clone()));
    }
    if let Some(l) = &m.location {
        meta.push(triple("urn:X-databox:rels:hasLocation", l.clone()));
    }
    if let Some(v) = &m.vendor {
        meta.push(triple("urn:X-databox:rels:hasVendor", v.clone()));
    }
    json!({ "href": format!("{store_url}/{kind_path}/{}", ds.id), "item-metadata": meta })
}

/// A catalogue document with a description and items.
pub fn catalogue(description: &str, items: Vec<Value>) -> Value {
    json!({
        "catalogue-metadata": [triple(IS_CONTENT_TYPE, CATALOGUE_TYPE), triple(HAS_DESCRIPTION, description)],
        "items": items,
    })
}

/// The item linking a store's catalogue from the root catalogue.
pub fn store_item(store_url: &str, store_id: &str, description: &str) -> Value {
    json!({
        "href": format!("{store_url}/cat"),
        "item-metadata": [
            triple(IS_CONTENT_TYPE, CATALOGUE_TYPE),
            triple(HAS_DESCRIPTION, if description.is_empty() { format!("Databox store {store_id}") } else { description.to_owned() }),
            triple("urn:X-databox:rels:hasStore", store_id),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DatasourceKind, DatasourceMeta};

    fn item() -> Value {
        let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
        meta.data_type = "temperature".into();
        meta.unit = Some("celsius".into());
        datasource_item(
            "http://box/api/v1/stores/home",
            "home",
            &Datasource {
                id: "t1".into(),
                meta,
                retention: None,
            },
        )
    }

    #[test]
    fn item_carries_the_databox_relations() {
        let i = item();
        assert_eq!(i["href"], "http://box/api/v1/stores/home/ts/t1");
        let s = i.to_string();
        for rel in [
            "hasDescription:en",
            "hasType",
            "hasDatasourceid",
            "hasStoreType",
            "isActuator",
            "hasUnit",
        ] {
            assert!(s.contains(rel), "{rel} missing from {s}");
        }
        assert!(!s.contains("hasLocation"));
    }

    #[test]
    fn simple_search_matches_rel_val_and_href() {
        let i = item();
        let s = |href: Option<&str>, rel: Option<&str>, val: Option<&str>| Search {
            href: href.map(Into::into),
            rel: rel.map(Into::into),
            val: val.map(Into::into),
        };
        assert!(s(None, Some("urn:X-databox:rels:hasType"), Some("temperature")).matches(&i));
        assert!(!s(None, Some("urn:X-databox:rels:hasUnit"), Some("temperature")).matches(&i));
        assert!(s(None, None, Some("celsius")).matches(&i));
        assert!(s(Some("http://box/api/v1/stores/home/ts/t1"), None, None).matches(&i));
        assert!(
            !s(
                Some("http://box/other"),
                Some("urn:X-databox:rels:hasType"),
                Some("temperature")
            )
            .matches(&i)
        );
    }
}
