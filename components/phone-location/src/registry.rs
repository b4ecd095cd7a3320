//! The devices the driver has heard from, kept in its key-value datasource `devices`: one record
//! per device under `device:<id>` and the list of ids under `index` (the box's key-value API has
//! no listing). A record holds what rarely changes (the apps' own names, the sources, an
//! OwnTracks card's name, problems to show the owner); counts and the last fix's time are read
//! from the series when the page is drawn, so a record is written only when something in it
//! changes, not on every push.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::records::ClientNames;

/// The key-value datasource of the registry.
pub const DEVICES: &str = "devices";
/// The key of the list of device ids.
pub const INDEX_KEY: &str = "index";

/// The key of a device's record.
pub fn record_key(device: &str) -> String {
    format!("device:{device}")
}

/// Why the driver could not open an OwnTracks encrypted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecryptProblem {
    /// The phone encrypts, but the owner has not set `owntracks_key`.
    NoKey,
    /// The message was sealed under another key than `owntracks_key`.
    WrongKey,
}

/// A run of messages from one device that could not be decrypted, until one could.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptFailures {
    /// Why.
    pub problem: DecryptProblem,
    /// The first failure of the run, epoch ms.
    pub since_ms: i64,
}

/// What the driver knows about one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The box's id of the device (`owner` for the owner's own pushes).
    pub device: String,
    /// When the driver first heard from it, epoch ms.
    pub first_seen_ms: i64,
    /// The apps it pushed with (`owntracks`, `overland`, `gpslogger`).
    #[serde(default)]
    pub sources: BTreeSet<String>,
    /// The names the app gave itself, the latest ones.
    #[serde(default)]
    pub client: ClientNames,
    /// OwnTracks' tracker id (`tid`), the initials it shows on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker_id: Option<String>,
    /// The name on the device's OwnTracks card (its picture is not kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_name: Option<String>,
    /// The `tst` of the latest OwnTracks last-will message: when the app last connected, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_will_ms: Option<i64>,
    /// Messages that could not be decrypted, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decrypt_failures: Option<DecryptFailures>,
}

/// What one request told about its device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    /// The app (`owntracks`, `overland`, `gpslogger`).
    pub source: Option<&'static str>,
    /// The names the app gave itself.
    pub client: ClientNames,
    /// OwnTracks' `tid`.
    pub tracker_id: Option<String>,
    /// An OwnTracks card's `name`.
    pub card_name: Option<String>,
    /// An OwnTracks last will's `tst`, epoch ms.
    pub last_will_ms: Option<i64>,
}

impl Seen {
    /// Takes what `later` knows over what this knows (a later message of the same body).
    pub fn merge(&mut self, later: Seen) {
        self.source = later.source.or(self.source);
        self.client = later.client.or(std::mem::take(&mut self.client));
        self.tracker_id = later.tracker_id.or(self.tracker_id.take());
        self.card_name = later.card_name.or(self.card_name.take());
        self.last_will_ms = later.last_will_ms.max(self.last_will_ms);
    }
}

/// What to do about decryption in one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptNote {
    /// Nothing was encrypted, or it was and nothing failed.
    Nothing,
    /// Something was decrypted: a run of failures, if any, is over.
    Succeeded,
    /// A message could not be decrypted.
    Failed(DecryptProblem),
}

impl DeviceRecord {
    /// The record after a request at `now_ms`: `existing` (or a new one) with what the request
    /// told. The caller writes it only when it differs from `existing`.
    pub fn updated(
        existing: Option<&DeviceRecord>,
        device: &str,
        seen: &Seen,
        note: DecryptNote,
        now_ms: i64,
    ) -> Self {
        let mut r = existing.cloned().unwrap_or_else(|| DeviceRecord {
            device: device.to_owned(),
            first_seen_ms: now_ms,
            ..DeviceRecord::default()
        });
        if let Some(s) = seen.source
            && !r.sources.contains(s)
        {
            r.sources.insert(s.to_owned());
        }
        // Names are replaced only by names: a push without them keeps the ones known.
        if seen.client.user.is_some() {
            r.client.user = seen.client.user.clone();
        }
        if seen.client.device.is_some() {
            r.client.device = seen.client.device.clone();
        }
        if seen.tracker_id.is_some() {
            r.tracker_id = seen.tracker_id.clone();
        }
        if seen.card_name.is_some() {
            r.card_name = seen.card_name.clone();
        }
        if seen.last_will_ms > r.last_will_ms {
            r.last_will_ms = seen.last_will_ms;
        }
        match note {
            DecryptNote::Nothing => {}
            DecryptNote::Succeeded => r.decrypt_failures = None,
            DecryptNote::Failed(problem) => match &mut r.decrypt_failures {
                Some(f) if f.problem == problem => {}
                slot => {
                    *slot = Some(DecryptFailures {
                        problem,
                        since_ms: now_ms,
                    })
                }
            },
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(source: &'static str) -> Seen {
        Seen {
            source: Some(source),
            ..Seen::default()
        }
    }

    #[test]
    fn a_new_device_gets_a_record() {
        let r = DeviceRecord::updated(None, "anna", &seen("owntracks"), DecryptNote::Nothing, 5);
        assert_eq!(r.device, "anna");
        assert_eq!(r.first_seen_ms, 5);
        assert!(r.sources.contains("owntracks"));
        assert_eq!(record_key("anna"), "device:anna");
    }

    #[test]
    fn a_request_that_tells_nothing_new_changes_nothing() {
        let first = DeviceRecord::updated(None, "anna", &seen("overland"), DecryptNote::Nothing, 5);
        let again = DeviceRecord::updated(Some(&first), "anna", &seen("overland"), DecryptNote::Nothing, 9);
        assert_eq!(again, first);
    }

    #[test]
    fn names_are_kept_until_new_ones_come() {
        let named = Seen {
            client: ClientNames::new(Some("jj"), Some("iphone")),
            tracker_id: Some("JJ".into()),
            ..seen("owntracks")
        };
        let r = DeviceRecord::updated(None, "d", &named, DecryptNote::Nothing, 1);
        let r = DeviceRecord::updated(Some(&r), "d", &seen("gpslogger"), DecryptNote::Nothing, 2);
        assert_eq!(r.client, ClientNames::new(Some("jj"), Some("iphone")));
        assert_eq!(r.sources.len(), 2);
        let card = Seen {
            card_name: Some("Jane".into()),
            last_will_ms: Some(7000),
            ..Seen::default()
        };
        let r = DeviceRecord::updated(Some(&r), "d", &card, DecryptNote::Nothing, 3);
        assert_eq!(
            (r.card_name.as_deref(), r.last_will_ms),
            (Some("Jane"), Some(7000))
        );
    }

    #[test]
    fn a_run_of_decryption_failures_starts_once_and_ends_with_a_success() {
        let fail = DecryptNote::Failed(DecryptProblem::WrongKey);
        let r = DeviceRecord::updated(None, "d", &Seen::default(), fail, 10);
        let r = DeviceRecord::updated(Some(&r), "d", &Seen::default(), fail, 20);
        assert_eq!(r.decrypt_failures.as_ref().unwrap().since_ms, 10);
        let other = DecryptNote::Failed(DecryptProblem::NoKey);
        let r2 = DeviceRecord::updated(Some(&r), "d", &Seen::default(), other, 30);
        assert_eq!(r2.decrypt_failures.as_ref().unwrap().since_ms, 30);
        let ok = DeviceRecord::updated(Some(&r), "d", &Seen::default(), DecryptNote::Succeeded, 40);
        assert_eq!(ok.decrypt_failures, None);
    }

    #[test]
    fn seen_merges_later_over_earlier() {
        let mut a = Seen {
            client: ClientNames::new(Some("u"), None),
            last_will_ms: Some(5),
            ..seen("owntracks")
        };
        a.merge(Seen {
            client: ClientNames::new(None, Some("d")),
            last_will_ms: Some(3),
            card_name: Some("c".into()),
            ..Seen::default()
        });
        assert_eq!(a.client, ClientNames::new(Some("u"), Some("d")));
        assert_eq!(a.last_will_ms, Some(5));
        assert_eq!(a.card_name.as_deref(), Some("c"));
        assert_eq!(a.source, Some("owntracks"));
    }
}
