//! Google location history: Takeout's `Records.json`, its Semantic Location History month files
//! (one file or a folder of them), and the 2024+ Timeline export made on the phone (Android's
//! `Timeline.json` object and the iOS top-level list).
//!
//! The format is found from the content, never the name: the top-level JSON value says which
//! it is (`locations`, `timelineObjects`, `semanticSegments`/`rawSignals`, or a list of
//! segments). Every file is read as a stream with serde_json, one element of its main list at a
//! time, so a several-GB `Records.json` takes as little memory as a small one.
//!
//! What goes where (documents as defined in [`crate::location`]):
//!
//! | input | datasource | `source` |
//! |---|---|---|
//! | `Records.json` location records | `locations` | `google-records` |
//! | Semantic `placeVisit` (and its `childVisits`) | `place-visits` | `google-semantic` |
//! | Semantic `activitySegment` | `activity-segments` | `google-semantic` |
//! | Semantic `simplifiedRawPath.points` (of segments and visits) | `locations` | `google-semantic` |
//! | Timeline `visit` | `place-visits` | `google-timeline` |
//! | Timeline `activity` | `activity-segments` | `google-timeline` |
//! | Timeline `timelinePath` points, `rawSignals` positions | `locations` | `google-timeline` |
//!
//! Semantic `waypointPath.waypoints` carry no times, so they are kept in their segment's
//! `waypoints` rather than made into fixes with invented times. Not imported (counted as skipped
//! where they are records): other candidate places of a visit, parking events (the same place as
//! the segment's end), transit stops, `timelineMemory` trip summaries, raw activity records and
//! Wi-Fi scans without a position, and `userLocationProfile` (frequent places without times).

mod records;
mod semantic;
mod stream;
mod time;
mod timeline;
mod values;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::location::Series;
use crate::{ImportError, Item, ItemSink, Progress};

use stream::{Keyed, Tap, TapReader};

/// Which Google format a file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// Takeout `Records.json`: `{"locations": [...]}`.
    Records,
    /// A Takeout Semantic Location History month file: `{"timelineObjects": [...]}`.
    Semantic,
    /// The on-device Timeline export from Android: `{"semanticSegments": [...], "rawSignals":
    /// [...], ...}`.
    TimelineAndroid,
    /// The on-device Timeline export from iOS: a list of segments.
    TimelineIos,
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::Records => "Takeout Records.json",
            Variant::Semantic => "Takeout Semantic Location History",
            Variant::TimelineAndroid => "Timeline export (Android)",
            Variant::TimelineIos => "Timeline export (iOS)",
        })
    }
}

/// What an import found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Each file imported, with its format, in the order read.
    pub files: Vec<(PathBuf, Variant)>,
    /// The files of a folder that were not imported, or only up to where they broke off, with
    /// why (also counted in [`Progress::skip`] under a short reason).
    pub skipped_files: Vec<(PathBuf, String)>,
    /// Items handed to the sink, by datasource.
    pub items: BTreeMap<String, u64>,
}

/// How many elements of a list are read between two looks at `stop` (and updates of the bytes
/// read): often enough to stop within milliseconds, rarely enough to cost nothing.
const CHECK_EVERY: u64 = 1024;

/// What was expected, for the error about a file of another shape.
const EXPECTED: &str = "a Google location history file: Takeout Records.json ({\"locations\": [...]}), a \
                        Semantic Location History month ({\"timelineObjects\": [...]}) or a Timeline export \
                        from a phone ({\"semanticSegments\": [...], \"rawSignals\": [...]} from Android, a \
                        list of segments from iOS)";

/// The skip reason of a folder's file that is not Google location history.
const NOT_RECOGNISED: &str = "file not recognised as Google location history";
/// The skip reason of a folder's file whose JSON breaks off after its format was recognised.
const DAMAGED: &str = "damaged file: the rest of it skipped";

/// Imports the Google location history at `path`: one file of any of the formats, or a folder
/// (Takeout's `Location History` or `Semantic Location History`), walked in name order, whose
/// files are imported if recognised and skipped with a reason if not.
///
/// Records without coordinates or with a time that cannot be read are skipped with a reason in
/// `progress`, never fatal. A single file of an unknown shape, or not JSON, is
/// [`ImportError::Format`]; so is one whose JSON breaks off (the items before the break have
/// been handed on). `stop` is looked at every thousand or so records and ends the import with
/// [`ImportError::Stopped`]; an error of the sink ends it with that error.
///
/// The same input always gives the same items in the same order (the job runner resumes by
/// counting items), and no record is handed on twice.
pub fn import(
    path: &Path,
    sink: &mut dyn ItemSink,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<Summary, ImportError> {
    let io = ImportError::io(path);
    let meta = std::fs::metadata(path).map_err(io)?;
    let mut summary = Summary::default();
    if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files)?;
        let total = files.iter().map(|(_, size)| size).sum();
        progress.bytes_total.store(total, Ordering::Relaxed);
        let mut done = 0;
        for (file, size) in files {
            match import_file(&file, done, sink, progress, stop, &mut summary) {
                Ok(()) => {}
                Err(FileError::Unrecognised(why)) => {
                    progress.skip(NOT_RECOGNISED);
                    summary.skipped_files.push((file, why));
                }
                Err(FileError::Damaged(why)) => {
                    progress.skip(DAMAGED);
                    summary.skipped_files.push((file, why));
                }
                Err(FileError::Fatal(e)) => return Err(e),
            }
            done += size;
            progress.read_to(done);
        }
    } else {
        progress.bytes_total.store(meta.len(), Ordering::Relaxed);
        import_file(path, 0, sink, progress, stop, &mut summary).map_err(|e| match e {
            FileError::Unrecognised(why) | FileError::Damaged(why) => ImportError::Format(why),
            FileError::Fatal(e) => e,
        })?;
        progress.read_to(meta.len());
    }
    Ok(summary)
}

/// The regular files under `dir`, depth first in byte order of their names, with their sizes:
/// the same folder gives the same items in the same order, which resuming relies on. Symbolic
/// links to folders are not followed (a link back up would never end).
fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> Result<(), ImportError> {
    let io = ImportError::io;
    let mut entries = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    entries.sort();
    for path in entries {
        let link = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let meta = std::fs::metadata(&path).map_err(io(&path))?;
        if meta.is_dir() && !link.file_type().is_symlink() {
            walk(&path, out)?;
        } else if meta.is_file() {
            out.push((path, meta.len()));
        }
    }
    Ok(())
}

/// How one file's import ended, when not well.
enum FileError {
    /// Not Google location history (an unknown shape, not JSON): nothing was handed on.
    Unrecognised(String),
    /// Recognised, then the JSON broke off; the items before the break were handed on.
    Damaged(String),
    /// The import cannot go on (reading, storing, stopped).
    Fatal(ImportError),
}

fn import_file(
    path: &Path,
    base_bytes: u64,
    sink: &mut dyn ItemSink,
    progress: &Progress,
    stop: &AtomicBool,
    summary: &mut Summary,
) -> Result<(), FileError> {
    if stop.load(Ordering::Relaxed) {
        return Err(FileError::Fatal(ImportError::Stopped));
    }
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| FileError::Fatal(ImportError::io(path)(source)))?;
    let tap = Rc::new(Tap::default());
    // serde_json reads a reader one byte per call; the buffer makes each call a copy from memory,
    // and the tap above it sees exactly the bytes the parser took (see `stream::Tap`).
    let reader = TapReader::new(BufReader::with_capacity(1 << 16, file), tap.clone());
    let mut ctx = Ctx {
        sink,
        progress,
        stop,
        tap,
        base_bytes,
        elements: 0,
        failure: None,
        rejected: None,
        variant: None,
        items: &mut summary.items,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = Top { ctx: &mut ctx }.deserialize(&mut de).and_then(|()| de.end());
    let variant = ctx.variant;
    if let Some(why) = ctx.rejected.take() {
        return Err(FileError::Unrecognised(format!("{shown}: {why}")));
    }
    match (parsed, ctx.failure.take()) {
        (_, Some(fatal)) => Err(FileError::Fatal(fatal)),
        (Ok(()), None) => {
            // `Top` sets the variant whenever it accepts the shape.
            summary
                .files
                .push((path.to_owned(), variant.unwrap_or(Variant::Records)));
            Ok(())
        }
        (Err(e), None) if e.is_io() => Err(FileError::Fatal(ImportError::io(path)(std::io::Error::from(e)))),
        (Err(e), None) => match variant {
            None => Err(FileError::Unrecognised(format!("{shown}: not {EXPECTED}: {e}"))),
            Some(v) => Err(FileError::Damaged(format!("{shown}: {v} is damaged: {e}"))),
        },
    }
}

/// What the parsers share while reading one file.
pub(crate) struct Ctx<'a> {
    sink: &'a mut dyn ItemSink,
    progress: &'a Progress,
    stop: &'a AtomicBool,
    tap: Rc<Tap>,
    base_bytes: u64,
    elements: u64,
    /// Why the parse was interrupted, when the cause is not serde's: a visitor can only return
    /// a serde error, so it leaves the real one here and returns a placeholder.
    failure: Option<ImportError>,
    /// Why the file is not one of the formats, when that shows only after parsing began (a
    /// `locations` list of another app's records, a list that is not of segments).
    rejected: Option<String>,
    variant: Option<Variant>,
    items: &'a mut BTreeMap<String, u64>,
}

impl Ctx<'_> {
    /// Hands a document on.
    fn emit(&mut self, series: &Series, timestamp: i64, doc: &impl Serialize) -> Result<(), ImportError> {
        let data = serde_json::to_value(doc)
            .map_err(|e| ImportError::Format(format!("a document could not be encoded: {e}")))?;
        self.sink.item(Item::Document {
            datasource: series.datasource.to_owned(),
            meta: (*series).into(),
            timestamp,
            data,
        })?;
        self.progress.count_item();
        *self.items.entry(series.datasource.to_owned()).or_default() += 1;
        Ok(())
    }

    fn skip(&self, reason: &str) {
        self.progress.skip(reason);
    }

    /// Counts one element read; every [`CHECK_EVERY`] shows the bytes read and looks at `stop`.
    fn tick(&mut self) -> Result<(), ImportError> {
        self.elements += 1;
        if self.elements.is_multiple_of(CHECK_EVERY) {
            self.progress.read_to(self.base_bytes + self.tap.read());
            if self.stop.load(Ordering::Relaxed) {
                return Err(ImportError::Stopped);
            }
        }
        Ok(())
    }

    /// Keeps `e` as the cause and returns the serde error that unwinds the parse.
    fn fail<E: de::Error>(&mut self, e: ImportError) -> E {
        let placeholder = E::custom(format!("interrupted: {e}"));
        self.failure = Some(e);
        placeholder
    }

    /// Notes that the file is not one of the formats and returns the serde error that unwinds
    /// the parse.
    fn reject<E: de::Error>(&mut self, why: String) -> E {
        let placeholder = E::custom(format!("not recognised: {why}"));
        self.rejected = Some(why);
        placeholder
    }

    fn recognise(&mut self, variant: Variant) {
        self.variant.get_or_insert(variant);
    }
}

/// The main lists of the formats, each read one element at a time.
#[derive(Clone, Copy, PartialEq)]
enum List {
    /// `Records.json` `locations`.
    Records,
    /// Semantic `timelineObjects`.
    TimelineObjects,
    /// Android `semanticSegments`.
    SemanticSegments,
    /// Android `rawSignals`.
    RawSignals,
    /// The iOS export's top-level list.
    IosSegments,
}

/// The top-level keys that say what a file is.
enum TopKey {
    Locations,
    TimelineObjects,
    SemanticSegments,
    RawSignals,
    Other,
}

impl TopKey {
    fn of(key: &str) -> TopKey {
        match key {
            "locations" => TopKey::Locations,
            "timelineObjects" => TopKey::TimelineObjects,
            "semanticSegments" => TopKey::SemanticSegments,
            "rawSignals" => TopKey::RawSignals,
            _ => TopKey::Other,
        }
    }
}

/// The top-level value of a file.
struct Top<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut known = false;
        while let Some(key) = map.next_key_seed(Keyed(TopKey::of))? {
            let list = match key {
                TopKey::Locations => List::Records,
                TopKey::TimelineObjects => {
                    self.ctx.recognise(Variant::Semantic);
                    List::TimelineObjects
                }
                TopKey::SemanticSegments | TopKey::RawSignals => {
                    self.ctx.recognise(Variant::TimelineAndroid);
                    if matches!(key, TopKey::RawSignals) {
                        List::RawSignals
                    } else {
                        List::SemanticSegments
                    }
                }
                // `userLocationProfile` (frequent places, no times) and anything else.
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            known = true;
            map.next_value_seed(Elements {
                ctx: &mut *self.ctx,
                list,
            })?;
        }
        if !known {
            return Err(self.ctx.reject(format!(
                "not {EXPECTED}: the top-level object has none of their keys"
            )));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Elements {
            ctx: &mut *self.ctx,
            list: List::IosSegments,
        }
        .visit_seq(seq)?;
        // An empty list: an iOS export of nothing.
        self.ctx.recognise(Variant::TimelineIos);
        Ok(())
    }
}

/// One of the main lists, read and handed on element by element.
struct Elements<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    list: List,
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.list {
            List::Records => "a list of location records",
            List::TimelineObjects => "a list of timeline objects",
            List::SemanticSegments => "a list of semantic segments",
            List::RawSignals => "a list of raw signals",
            List::IosSegments => "a list of timeline segments",
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        let mut index = 0u64;
        loop {
            ctx.tick().map_err(|e| ctx.fail(e))?;
            let handled = if self.list == List::Records {
                // RecordSeed decides from the first record whether the list is Google's.
                seq.next_element_seed(records::RecordSeed {
                    ctx: &mut *ctx,
                    first: index == 0,
                })?
            } else {
                // Semantic objects, segments and signals are small: a `Value` each is simplest,
                // and the list is still never held whole.
                match seq.next_element::<serde_json::Value>()? {
                    None => None,
                    Some(value) if index == 0 && self.list == List::IosSegments => {
                        if !timeline::looks_like_segment(&value) {
                            return Err(ctx.reject(format!(
                                "not {EXPECTED}: a top-level list whose first element is not a timeline \
                                 segment (an object with startTime, endTime and visit, activity or \
                                 timelinePath)"
                            )));
                        }
                        ctx.recognise(Variant::TimelineIos);
                        Some(handle(ctx, self.list, value).map_err(|e| ctx.fail(e))?)
                    }
                    Some(value) => Some(handle(ctx, self.list, value).map_err(|e| ctx.fail(e))?),
                }
            };
            if handled.is_none() {
                break;
            }
            index += 1;
        }
        if self.list == List::Records {
            // An empty `locations` list is still a Records.json.
            ctx.recognise(Variant::Records);
        }
        Ok(())
    }
}

fn handle(ctx: &mut Ctx, list: List, value: serde_json::Value) -> Result<(), ImportError> {
    match list {
        List::Records => unreachable!("records are read by RecordSeed"),
        List::TimelineObjects => semantic::timeline_object(ctx, &value),
        List::SemanticSegments | List::IosSegments => timeline::segment(ctx, &value),
        List::RawSignals => timeline::raw_signal(ctx, &value),
    }
}
