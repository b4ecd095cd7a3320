//! The `data-export` import (apps only): the destination must be one the owner approved in the
//! app's manifest at install (refusals are audited here); the export service then queues it
//! durably (or holds it for review), delivers it, audits and receipts it.

use databox_audit::{Event, Outcome};
use databox_export::{ExportError, Submission, is_approved};

use super::HostState;
use super::bindings::databox::component::data_export::Host;
use super::bindings::databox::component::types::Error;

impl Host for HostState {
    fn send(&mut self, destination: String, content_type: String, body: Vec<u8>) -> Result<String, Error> {
        let approval = self
            .ctx
            .export_destinations
            .iter()
            .find(|a| is_approved(&a.destination, &destination));
        let Some(approval) = approval else {
            let mut ev = Event::access(&self.ctx.name, "export");
            ev.outcome = Some(Outcome::Refused);
            ev.detail = Some(format!("{destination} is not a destination the owner approved"));
            self.ctx.env.audit.record(ev);
            return Err(Error::Denied(format!(
                "{destination} is not a destination the owner approved for this app"
            )));
        };
        let Some(service) = &self.ctx.env.exports else {
            return Err(Error::Unavailable("this box runs no export service".into()));
        };
        let grant = format!("approved at install: {}", approval.destination);
        let submission = Submission {
            app: &self.ctx.name,
            destination: &destination,
            grant: &grant,
            content_type: &content_type,
            body: &body,
            max_bytes: approval.max_bytes,
            per_hour: approval.per_hour,
        };
        match service.submit(&submission) {
            Ok(export) => Ok(export.id),
            Err(ExportError::Refused(why)) if why.contains("limit") => Err(Error::TooLarge(why)),
            Err(ExportError::Refused(why)) => Err(Error::Denied(why)),
            Err(e) => Err(Error::Unavailable(e.to_string())),
        }
    }
}
