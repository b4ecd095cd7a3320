//! The `datastore` import: a component's reads and writes, each through the arbiter's one check
//! under the component's own principal, and each audited, exactly like an HTTP API call.

use databox_arbiter::{DataRequest, Operation};
use databox_audit::{Event, Outcome};
use databox_store::query::parse_read;
use databox_store::{
    BlobPoint, DatasourceId, DatasourceKind, KvKey, KvValue, NumericPoint, ReadOutput, StoreId,
};
use percent_encoding::percent_decode_str;

use super::HostState;
use super::bindings::databox::component::datastore::Host;
use super::bindings::databox::component::types::Error;

impl HostState {
    fn resolve(&self, name: &str) -> Result<(StoreId, DatasourceId), Error> {
        self.ctx
            .datasources
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("{name:?} is none of this component's datasources")))
    }

    fn audit(
        &self,
        op: Operation,
        store: &StoreId,
        ds: &DatasourceId,
        detail: Option<String>,
        count: Option<u64>,
        outcome: Outcome,
    ) {
        self.ctx.env.audit.record(Event {
            store: Some(store.to_string()),
            datasource: Some(ds.to_string()),
            detail,
            count,
            outcome: Some(outcome),
            ..Event::access(&self.ctx.name, op.as_str())
        });
    }

    /// The one check, audited when it refuses.
    fn check(
        &self,
        op: Operation,
        store: &StoreId,
        ds: &DatasourceId,
        read: Option<&databox_store::ReadQuery>,
    ) -> Result<databox_arbiter::Access, Error> {
        let list = [ds.clone()];
        let req = DataRequest {
            operation: op,
            store,
            datasources: &list,
            read,
        };
        self.ctx
            .env
            .arbiter
            .authorize(&self.ctx.caller, &req)
            .map_err(|d| {
                self.audit(op, store, ds, Some(d.reason.clone()), None, Outcome::Refused);
                Error::Denied(d.reason)
            })
    }

    fn store(&self, id: &StoreId) -> Result<std::sync::Arc<databox_store::Store>, Error> {
        self.ctx
            .env
            .stores
            .get(id)
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}

fn store_error(e: databox_store::StoreError) -> Error {
    if e.is_not_found() {
        Error::NotFound(e.to_string())
    } else if e.is_client_error() {
        Error::BadRequest(e.to_string())
    } else {
        Error::Unavailable(e.to_string())
    }
}

impl Host for HostState {
    fn read(&mut self, datasource: String, query: String) -> Result<String, Error> {
        let (store, ds) = self.resolve(&datasource)?;
        // One path segment each, percent-decoded, exactly as the HTTP API takes them.
        let segments = query
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8().map(|c| c.into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::BadRequest("the query is not UTF-8 after percent-decoding".into()))?;
        let mut q = parse_read(&segments).map_err(|e| Error::BadRequest(e.to_string()))?;
        let access = self.check(Operation::Read, &store, &ds, Some(&q))?;
        q.window = access.window;
        let out = self
            .store(&store)?
            .read(std::slice::from_ref(&ds), &q)
            .map_err(store_error)?;
        let rows = match &out {
            ReadOutput::Rows(r) => r.len() as u64,
            _ => 1,
        };
        let json = out.to_json().to_string();
        if json.len() > self.ctx.output_limit {
            return Err(Error::TooLarge(format!(
                "the answer is over the component's limit of {} bytes",
                self.ctx.output_limit
            )));
        }
        self.audit(
            Operation::Read,
            &store,
            &ds,
            Some(q.describe()),
            Some(rows),
            Outcome::Ok,
        );
        Ok(json)
    }

    fn write(&mut self, datasource: String, points: String) -> Result<u64, Error> {
        if points.len() > self.ctx.output_limit {
            return Err(Error::TooLarge(format!(
                "the write is over the component's limit of {} bytes",
                self.ctx.output_limit
            )));
        }
        let (store_id, ds) = self.resolve(&datasource)?;
        let store = self.store(&store_id)?;
        let op = if store.is_actuator(&ds) {
            Operation::Actuate
        } else {
            Operation::Write
        };
        self.check(op, &store_id, &ds, None)?;
        let doc: serde_json::Value = serde_json::from_str(&points)
            .map_err(|e| Error::BadRequest(format!("the points are not JSON: {e}")))?;
        let kind = store.datasource(&ds).map_err(store_error)?.meta.kind;
        let ticket = match kind {
            DatasourceKind::Numeric => {
                let pts = NumericPoint::from_json_points(&doc).map_err(store_error)?;
                store.write_numeric(&ds, pts)
            }
            DatasourceKind::Blob => {
                let points = match doc {
                    // A batch in the read format, as `POST .../batch` takes it: each document at
                    // its own time (a phone's points carry theirs), all in one transaction.
                    serde_json::Value::Array(rows) => {
                        if rows.is_empty() {
                            return Err(Error::BadRequest("the batch is empty".into()));
                        }
                        rows.iter()
                            .map(BlobPoint::from_row_json)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(store_error)?
                    }
                    doc => vec![BlobPoint {
                        timestamp: None,
                        data: doc,
                    }],
                };
                store.write_blob(&ds, points)
            }
            DatasourceKind::KeyValue => {
                return Err(Error::BadRequest(format!(
                    "{datasource} is key-value; use kv-put"
                )));
            }
        }
        .map_err(store_error)?;
        match ticket.wait().map_err(store_error)? {
            databox_store::WriteAck::Written { count, .. } => {
                self.ctx.env.audit.record_write(
                    &self.ctx.name,
                    store_id.as_str(),
                    ds.as_str(),
                    count,
                    Outcome::Ok,
                );
                Ok(count)
            }
            _ => Err(Error::Unavailable("unexpected acknowledgement of a write".into())),
        }
    }

    fn kv_get(&mut self, datasource: String, key: String) -> Result<Option<(String, Vec<u8>)>, Error> {
        let (store, ds) = self.resolve(&datasource)?;
        let key = KvKey::new(key).map_err(|e| Error::BadRequest(e.to_string()))?;
        self.check(Operation::Read, &store, &ds, None)?;
        let value = match self.store(&store)?.kv_get(&ds, &key) {
            Ok(v) => Some((v.content_type, v.bytes)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(store_error(e)),
        };
        self.audit(
            Operation::Read,
            &store,
            &ds,
            Some("key".into()),
            Some(u64::from(value.is_some())),
            Outcome::Ok,
        );
        Ok(value)
    }

    fn kv_put(
        &mut self,
        datasource: String,
        key: String,
        content_type: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        if value.len() > self.ctx.output_limit {
            return Err(Error::TooLarge(format!(
                "the value is over the component's limit of {} bytes",
                self.ctx.output_limit
            )));
        }
        let (store, ds) = self.resolve(&datasource)?;
        let key = KvKey::new(key).map_err(|e| Error::BadRequest(e.to_string()))?;
        self.check(Operation::Write, &store, &ds, None)?;
        let value = KvValue::new(Some(&content_type), value).map_err(store_error)?;
        self.store(&store)?
            .kv_put(&ds, key, value)
            .map_err(store_error)?
            .wait()
            .map_err(store_error)?;
        self.audit(
            Operation::Write,
            &store,
            &ds,
            Some("key".into()),
            Some(1),
            Outcome::Ok,
        );
        Ok(())
    }

    fn observe(&mut self, datasource: String) -> Result<(), Error> {
        let (store, ds) = self.resolve(&datasource)?;
        self.check(Operation::Observe, &store, &ds, None)?;
        let s = self.store(&store)?;
        s.datasource(&ds).map_err(store_error)?;
        self.audit(Operation::Observe, &store, &ds, None, None, Outcome::Ok);
        if !self.requests.observe.iter().any(|(n, _)| n == &datasource) {
            self.requests.observe.push((datasource, s.subscribe()));
        }
        Ok(())
    }

    fn actuate(&mut self, datasource: String, command: String) -> Result<(), Error> {
        let (store, ds) = self.resolve(&datasource)?;
        if !self.store(&store)?.is_actuator(&ds) {
            return Err(Error::BadRequest(format!(
                "{datasource} is not an actuator; use write"
            )));
        }
        self.write(datasource, command).map(|_| ())
    }
}
