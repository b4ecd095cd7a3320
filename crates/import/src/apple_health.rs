//! The Apple Health importer: the `export.zip` the Health app shares, or the `export.xml` inside it,
//! with the workout routes (`workout-routes/*.gpx`) beside it.
//!
//! What becomes an item:
//! - a `<Record>` of a quantity type (`HKQuantityTypeIdentifierStepCount`): an [`Item::Numeric`] in
//!   the datasource named by [`readable_id`] (`step-count`), tagged `source`, `unit`, `end` (epoch
//!   ms, when it differs from the start) and `device` (the device's name). Its `<MetadataEntry>`
//!   children are not kept: a numeric point has only string tags, and the motion context of a heart
//!   rate is not worth a tag on every point.
//! - a `<Record>` of a category type (`HKCategoryTypeIdentifierSleepAnalysis`): an
//!   [`Item::Document`] in `sleep-analysis`, with its value, dates, source and metadata.
//! - a `<Workout>`: a document in `workouts`, with its statistics, events, metadata and routes,
//!   each route with its points `{"t", "lat", "lon", "ele"}` (from the GPX file it names, or inline
//!   `<Location>`s in older exports), at most [`MAX_ROUTE_POINTS`] per route.
//! - an `<ActivitySummary>`: a document in `activity-summaries` at that day's midnight UTC.
//!
//! `<Me>` and `<ExportDate>` are not items (the export date is in the [`Summary`]). Records inside a
//! `<Correlation>` are not imported from there: the export repeats them as top-level records.
//!
//! Real exports are damaged in known ways, and the importer goes on through each: the DTD (invalid
//! since iOS 16) is skipped, never read, so no entity is ever expanded beyond XML's predefined ones;
//! control characters XML forbids are dropped as the bytes stream in (counted in the summary);
//! an element with a missing or unreadable value or date is skipped with a reason (see [`reasons`]);
//! a file cut short gives the items before the cut, then the [`reasons::TRUNCATED`] skip and
//! [`Summary::truncated`], and the import succeeds.

mod bytes;
mod gpx;
mod text;

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};
use zip::ZipArchive;

use crate::{ImportError, Item, ItemSink, Progress, SeriesMeta};
use bytes::{CleanReader, CountingReader};
use gpx::{GpxOutcome, RoutePoint};
use text::attribute;
pub use text::readable_id;

/// The most points kept of one workout route: about 14 hours at Apple's one point per second.
/// A route is held until its workout is handed on, as JSON objects of about 0.8 KiB each
/// (serde_json's maps are B-trees), so this bounds one workout to about 40 MB: measured, 100,000
/// points took the importer to 84 MiB, too close to the import's 100 MB budget.
pub const MAX_ROUTE_POINTS: usize = 50_000;

/// The datasource of workouts.
pub const WORKOUTS: &str = "workouts";

/// The datasource of the daily activity summaries.
pub const ACTIVITY_SUMMARIES: &str = "activity-summaries";

/// The reasons given to [`Progress::skip`], each a fixed phrase.
pub mod reasons {
    /// A `<Record>` without a `type`.
    pub const NO_TYPE: &str = "record without a type";
    /// A quantity record whose `value` is missing or not a finite number.
    pub const NO_NUMERIC_VALUE: &str = "record without a numeric value";
    /// A record whose `startDate` is missing or unreadable, or whose `endDate` is unreadable.
    pub const BAD_DATE: &str = "record with a missing or unreadable date";
    /// An element whose attributes could not be read at all (for example an unquoted value).
    pub const BAD_ATTRIBUTES: &str = "element with malformed attributes";
    /// A workout whose start or end is missing or unreadable.
    pub const WORKOUT_BAD_DATE: &str = "workout with a missing or unreadable date";
    /// An activity summary without a readable `dateComponents`.
    pub const SUMMARY_BAD_DATE: &str = "activity summary without a readable date";
    /// A route whose GPX file is not in the export (the workout is kept, without its points).
    pub const ROUTE_MISSING: &str = "workout route file missing";
    /// A route whose GPX file is not valid XML (the workout is kept, without its points).
    pub const ROUTE_UNREADABLE: &str = "workout route file unreadable";
    /// A route whose file path leaves the export's folder (`..`).
    pub const ROUTE_UNSAFE_PATH: &str = "workout route with an unsafe path";
    /// A route longer than [`super::MAX_ROUTE_POINTS`]: the points beyond were dropped.
    pub const ROUTE_TOO_LONG: &str = "workout route points beyond the limit";
    /// Routes could not be read because the zip has no readable directory (it was cut short).
    pub const ROUTE_UNAVAILABLE: &str = "workout route not read: the zip's directory is missing";
    /// The file ends before `</HealthData>`: the element at the cut (if any) and the rest are lost.
    pub const TRUNCATED: &str = "file truncated: the rest of the export is missing";
    /// A top-level element of another kind (clinical records, audiograms, vision prescriptions…);
    /// the reason names it: `element not imported: ClinicalRecord`.
    pub const ELEMENT_NOT_IMPORTED: &str = "element not imported";
}

/// What an import found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The zip entry that was read, when the file was a zip.
    pub zip_entry: Option<String>,
    /// The export's `locale` (`en_US`).
    pub locale: Option<String>,
    /// When the export was made (epoch ms), from `<ExportDate>`.
    pub export_date: Option<i64>,
    /// Numeric items (quantity records).
    pub numeric: u64,
    /// Documents of category records.
    pub category_documents: u64,
    /// Workouts.
    pub workouts: u64,
    /// Activity summaries.
    pub activity_summaries: u64,
    /// Items per datasource.
    pub per_datasource: BTreeMap<String, u64>,
    /// The earliest item's timestamp (epoch ms).
    pub first: Option<i64>,
    /// The latest item's timestamp (epoch ms).
    pub last: Option<i64>,
    /// Route files read.
    pub routes_read: u64,
    /// Route points kept (GPX and inline).
    pub route_points: u64,
    /// Control characters dropped from the export (routes not counted).
    pub control_chars_removed: u64,
    /// Whether the export ended before `</HealthData>`.
    pub truncated: bool,
}

impl Summary {
    /// All items handed to the sink.
    pub fn items(&self) -> u64 {
        self.numeric + self.category_documents + self.workouts + self.activity_summaries
    }
}

/// How far into the file the `<HealthData>` root may start: the DTD is about 10 KiB.
const PROLOG_LIMIT: u64 = 4 << 20;

/// Elements between two looks at `stop` and two progress updates.
const CHECK_EVERY: u64 = 4096;

/// Imports an Apple Health export (`export.zip`, told by its magic bytes, or `export.xml`): every
/// item to `sink`, every skip to `progress`, looking at `stop` every few thousand elements (then
/// [`ImportError::Stopped`]). Memory stays flat whatever the file's size: the file streams
/// through one buffer, and only one element (a workout with its routes at most) is held at a time.
pub fn import(
    path: &Path,
    sink: &mut dyn ItemSink,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<Summary, ImportError> {
    let started = Instant::now();
    let io_error = ImportError::io(path);
    let mut file = File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    progress.bytes_total.store(size, Ordering::Relaxed);
    let mut magic = [0u8; 4];
    let magic_length = read_up_to(&mut file, &mut magic).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let parser = Parser::new(path, sink, progress, stop);
    let summary = if magic_length == 4 && is_zip_magic(magic) {
        import_zip(path, file, parser)?
    } else {
        import_xml(path, file, parser)?
    };
    progress.read_to(size);
    tracing::info!(
        items = summary.items(),
        truncated = summary.truncated,
        seconds = started.elapsed().as_secs_f64(),
        "Apple Health export imported"
    );
    Ok(summary)
}

fn is_zip_magic(magic: [u8; 4]) -> bool {
    // Local file header, empty archive, spanned archive.
    magic[..2] == *b"PK" && matches!(magic[2..], [3, 4] | [5, 6] | [7, 8])
}

fn read_up_to(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn not_an_export(path: &Path) -> ImportError {
    ImportError::Format(format!(
        "{} is not an Apple Health export: no <HealthData> element found",
        path.display()
    ))
}

fn import_xml(path: &Path, file: File, mut parser: Parser<'_>) -> Result<Summary, ImportError> {
    let (file, position) = CountingReader::new(file);
    let mut source = CleanReader::new(file);
    let found = source
        .skip_to(b"<HealthData", PROLOG_LIMIT)
        .map_err(|error| parser.io_error(error))?;
    if !found {
        return Err(not_an_export(path));
    }
    let folder = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    parser.routes = RouteFiles::Folder(folder);
    parser.run(source, position)
}

/// An entry that may be the export: an `.xml` file (the name is localised: `Export.xml`,
/// `exportar.xml`), not macOS's AppleDouble shadow of one.
fn is_export_candidate(name: &str, is_dir: bool) -> bool {
    let file_name = name.rsplit('/').next().unwrap_or(name);
    !is_dir
        && name.to_ascii_lowercase().ends_with(".xml")
        && !name.starts_with("__MACOSX/")
        && !file_name.starts_with("._")
}

/// The folder of a zip entry, with its trailing `/` (empty at the root).
fn entry_folder(name: &str) -> String {
    name.rsplit_once('/')
        .map_or_else(String::new, |(folder, _)| format!("{folder}/"))
}

fn import_zip(path: &Path, file: File, mut parser: Parser<'_>) -> Result<Summary, ImportError> {
    let (file, position) = CountingReader::new(file);
    let mut archive = match ZipArchive::new(BufReader::with_capacity(256 * 1024, file)) {
        Ok(archive) => archive,
        Err(cause) => return import_zip_without_directory(path, parser, &cause),
    };
    // The biggest `.xml` holding `<HealthData>` is the export (others: `export_cda.xml`, …).
    let mut candidates: Vec<(usize, String, u64)> = (0..archive.len())
        .filter_map(|index| {
            let entry = archive.by_index_data(index).ok()?;
            let name = entry.name().ok()?.into_owned();
            is_export_candidate(&name, entry.is_dir()).then(|| (index, name, entry.size()))
        })
        .collect();
    candidates.sort_by_key(|(_, _, size)| std::cmp::Reverse(*size));
    for (index, name, _) in candidates {
        let entry = archive
            .by_index(index)
            .map_err(|error| ImportError::Format(format!("reading {name} in the zip: {error}")))?;
        let mut source = CleanReader::new(entry);
        if source
            .skip_to(b"<HealthData", PROLOG_LIMIT)
            .map_err(|error| parser.io_error(error))?
        {
            parser.summary.zip_entry = Some(name.clone());
            parser.routes = RouteFiles::Zip {
                path: path.to_path_buf(),
                folder: entry_folder(&name),
                archive: None,
            };
            return parser.run(source, position);
        }
    }
    Err(not_an_export(path))
}

/// A zip whose central directory cannot be read (most often: the file was cut short) is read
/// entry by entry from its local headers, so a cut-off export still gives what it holds. Routes
/// are then out of reach: looking one up needs the directory.
fn import_zip_without_directory(
    path: &Path,
    mut parser: Parser<'_>,
    cause: &zip::result::ZipError,
) -> Result<Summary, ImportError> {
    let unreadable = || ImportError::Format(format!("{} is not a readable zip: {cause}", path.display()));
    let file = File::open(path).map_err(|error| parser.io_error(error))?;
    let (file, position) = CountingReader::new(file);
    let mut stream = BufReader::with_capacity(256 * 1024, file);
    loop {
        let entry = match zip::read::read_zipfile_from_stream(&mut stream) {
            Ok(Some(entry)) => entry,
            Ok(None) | Err(_) => return Err(unreadable()),
        };
        let Ok(name) = entry.name().map(Cow::into_owned) else {
            continue;
        };
        if !is_export_candidate(&name, entry.is_dir()) {
            continue;
        }
        let mut source = CleanReader::new(entry);
        if source
            .skip_to(b"<HealthData", PROLOG_LIMIT)
            .map_err(|error| parser.io_error(error))?
        {
            parser.summary.zip_entry = Some(name);
            parser.routes = RouteFiles::Unavailable;
            return parser.run(source, position);
        }
    }
}

/// Where the GPX files named by `<FileReference path="/workout-routes/…">` are.
enum RouteFiles {
    /// Beside a plain `export.xml`.
    Folder(PathBuf),
    /// In the zip, relative to the export's folder in it; the second reader of the zip is opened
    /// at the first route (the first one is busy streaming the export).
    Zip {
        path: PathBuf,
        folder: String,
        archive: Option<ZipArchive<BufReader<File>>>,
    },
    /// Nowhere to look.
    Unavailable,
}

/// What looking a route file up gave.
enum RouteLookup<T> {
    Read(T),
    Missing,
    Unavailable,
}

impl RouteFiles {
    /// Reads the route file at `relative` (checked not to leave the export's folder) with `read`.
    fn read<T>(&mut self, relative: &str, read: impl FnOnce(&mut dyn Read) -> T) -> RouteLookup<T> {
        match self {
            RouteFiles::Folder(folder) => match File::open(folder.join(relative)) {
                Ok(mut file) => RouteLookup::Read(read(&mut file)),
                Err(_) => RouteLookup::Missing,
            },
            RouteFiles::Zip {
                path,
                folder,
                archive,
            } => {
                if archive.is_none() {
                    let opened = File::open(&*path)
                        .ok()
                        .and_then(|file| ZipArchive::new(BufReader::new(file)).ok());
                    match opened {
                        Some(opened) => *archive = Some(opened),
                        None => return RouteLookup::Unavailable,
                    }
                }
                let Some(archive) = archive.as_mut() else {
                    return RouteLookup::Unavailable;
                };
                let wanted = format!("{folder}{relative}");
                let suffix = format!("/{relative}");
                // Exports renamed on a computer may have another folder name: any entry ending in the
                // route's path will do.
                let index = archive.index_for_name(&wanted).or_else(|| {
                    archive
                        .file_names()
                        .position(|name| name.is_ok_and(|name| name.ends_with(&suffix)))
                });
                match index.map(|index| archive.by_index(index)) {
                    Some(Ok(mut entry)) => RouteLookup::Read(read(&mut entry)),
                    Some(Err(_)) | None => RouteLookup::Missing,
                }
            }
            RouteFiles::Unavailable => RouteLookup::Unavailable,
        }
    }
}

/// The route path of a `<FileReference>` relative to the export's folder, if it stays inside it.
fn safe_relative_path(path: &str) -> Option<&str> {
    let relative = path.trim_start_matches('/');
    let safe = !relative.is_empty()
        && !relative.contains('\\')
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    safe.then_some(relative)
}

/// What is known about one record type, looked up once per type rather than per record.
struct RecordType {
    /// The datasource id.
    id: String,
    /// A category type: its records become documents.
    category: bool,
    /// The series metadata per unit seen (records of one type share one unit in practice).
    metas: Vec<UnitMeta>,
    /// Items handed on.
    items: u64,
}

struct UnitMeta {
    raw_unit: Vec<u8>,
    unit: Option<String>,
    meta: SeriesMeta,
}

impl RecordType {
    fn new(name: &str) -> Self {
        let mut id = readable_id(name);
        if id == WORKOUTS || id == ACTIVITY_SUMMARIES {
            id.insert_str(0, "record-");
        }
        Self {
            id,
            category: name.starts_with("HKCategoryTypeIdentifier"),
            metas: Vec::new(),
            items: 0,
        }
    }

    /// The metadata of this type's series in `raw_unit` (as written in the file).
    fn meta(&mut self, raw_unit: Option<&[u8]>) -> &UnitMeta {
        let raw_unit = raw_unit.unwrap_or_default();
        let index = match self.metas.iter().position(|meta| meta.raw_unit == raw_unit) {
            Some(index) => index,
            None => {
                let unit = (!raw_unit.is_empty()).then(|| text::text(raw_unit).into_owned());
                let words = text::words(&self.id);
                let description = match (&unit, self.category) {
                    (_, true) => format!("{words} from Apple Health"),
                    (Some(unit), false) => format!("{words} from Apple Health, in {unit}"),
                    (None, false) => format!("{words} from Apple Health"),
                };
                let meta = SeriesMeta {
                    r#type: self.id.clone(),
                    unit: if self.category { None } else { unit.clone() },
                    description,
                };
                self.metas.push(UnitMeta {
                    raw_unit: raw_unit.to_vec(),
                    unit,
                    meta,
                });
                self.metas.len() - 1
            }
        };
        &self.metas[index]
    }
}

/// Record types by their name in the file. Exports list records grouped by type, so the last type
/// looked up is checked first, without hashing.
#[derive(Default)]
struct RecordTypes {
    by_name: HashMap<Vec<u8>, usize>,
    types: Vec<RecordType>,
    last_name: Vec<u8>,
    last: Option<usize>,
}

impl RecordTypes {
    fn find(&mut self, name: &[u8]) -> usize {
        if let Some(last) = self.last
            && self.last_name == name
        {
            return last;
        }
        let index = match self.by_name.get(name) {
            Some(&index) => index,
            None => {
                self.types.push(RecordType::new(&text::text(name)));
                self.by_name.insert(name.to_vec(), self.types.len() - 1);
                self.types.len() - 1
            }
        };
        self.last_name.clear();
        self.last_name.extend_from_slice(name);
        self.last = Some(index);
        index
    }
}

/// The names of the device descriptions seen last: a person's few devices repeat theirs verbatim,
/// interleaved (the phone's and the watch's step counts alternate).
#[derive(Default)]
struct DeviceNames {
    /// (description as written, its device's name), the most recent first.
    recent: Vec<(Vec<u8>, Option<String>)>,
}

/// Enough for a phone, a watch and a few accessories.
const RECENT_DEVICES: usize = 8;

impl DeviceNames {
    fn name(&mut self, raw: &[u8]) -> Option<&str> {
        match self.recent.iter().position(|(seen, _)| seen == raw) {
            Some(0) => {}
            Some(index) => self.recent[..=index].rotate_right(1),
            None => {
                let name = text::device_name(&text::text(raw)).map(str::to_owned);
                if self.recent.len() == RECENT_DEVICES {
                    self.recent.pop();
                }
                self.recent.insert(0, (raw.to_vec(), name));
            }
        }
        self.recent[0].1.as_deref()
    }
}

/// The attributes of a `<Record>`, borrowed from the parser's buffer.
#[derive(Default)]
struct RecordAttributes<'a> {
    kind: Option<&'a [u8]>,
    unit: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    device: Option<&'a [u8]>,
    start: Option<&'a [u8]>,
    end: Option<&'a [u8]>,
}

impl<'a> RecordAttributes<'a> {
    fn read(element: &'a BytesStart<'_>) -> Option<Self> {
        let mut attributes = RecordAttributes::default();
        for pair in text::attributes(element) {
            let (key, value) = pair.ok()?;
            let slot = match key {
                b"type" => &mut attributes.kind,
                b"unit" => &mut attributes.unit,
                b"value" => &mut attributes.value,
                b"sourceName" => &mut attributes.source,
                b"device" => &mut attributes.device,
                b"startDate" => &mut attributes.start,
                b"endDate" => &mut attributes.end,
                _ => continue,
            };
            *slot = Some(value);
        }
        Some(attributes)
    }
}

/// A category record waiting for its `<MetadataEntry>` children.
struct OpenCategory {
    depth: usize,
    type_index: usize,
    timestamp: i64,
    document: Map<String, Value>,
    metadata: Map<String, Value>,
}

/// A workout waiting for its children.
struct OpenWorkout {
    depth: usize,
    timestamp: i64,
    document: Map<String, Value>,
    metadata: Map<String, Value>,
    events: Vec<Map<String, Value>>,
    statistics: Vec<Value>,
    routes: Vec<OpenRoute>,
    /// The child being read and its depth, so that its own children go to it.
    child: Option<(WorkoutChild, usize)>,
}

#[derive(Clone, Copy)]
enum WorkoutChild {
    Event(usize),
    Route(usize),
    Other,
}

struct OpenRoute {
    document: Map<String, Value>,
    metadata: Map<String, Value>,
    file: Option<String>,
    points: Vec<RoutePoint>,
}

/// What is being built from the top-level element being read.
enum Open {
    Nothing,
    Category(OpenCategory),
    Workout(Box<OpenWorkout>),
}

struct Parser<'a> {
    path: PathBuf,
    sink: &'a mut dyn ItemSink,
    progress: &'a Progress,
    stop: &'a AtomicBool,
    routes: RouteFiles,
    types: RecordTypes,
    devices: DeviceNames,
    summary: Summary,
    elements: u64,
    position: Rc<Cell<u64>>,
}

impl<'a> Parser<'a> {
    fn new(path: &Path, sink: &'a mut dyn ItemSink, progress: &'a Progress, stop: &'a AtomicBool) -> Self {
        Self {
            path: path.to_path_buf(),
            sink,
            progress,
            stop,
            routes: RouteFiles::Unavailable,
            types: RecordTypes::default(),
            devices: DeviceNames::default(),
            summary: Summary::default(),
            elements: 0,
            position: Rc::new(Cell::new(0)),
        }
    }

    fn io_error(&self, source: io::Error) -> ImportError {
        ImportError::io(&self.path)(source)
    }

    fn run<R: Read>(
        mut self,
        source: CleanReader<R>,
        position: Rc<Cell<u64>>,
    ) -> Result<Summary, ImportError> {
        self.position = position;
        let mut reader = Reader::from_reader(source);
        let config = reader.config_mut();
        // Damaged files are the norm: no check that is not needed to find the records.
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.allow_dangling_amp = true;
        let mut buffer = Vec::with_capacity(4096);
        let mut depth = 0usize;
        let mut open = Open::Nothing;
        let mut root_closed = false;
        let outcome = loop {
            let event = match reader.read_event_into(&mut buffer) {
                Ok(event) => event,
                // Only well-formedness complaints: the parser can go on after them.
                Err(XmlError::IllFormed(_)) => {
                    buffer.clear();
                    continue;
                }
                Err(error) => break Err(error),
            };
            match event {
                Event::Start(element) => {
                    depth += 1;
                    self.element(&element, depth, false, &mut open)?;
                }
                Event::Empty(element) => self.element(&element, depth + 1, true, &mut open)?,
                Event::End(_) => {
                    self.close(depth, &mut open)?;
                    root_closed |= depth == 1;
                    depth = depth.saturating_sub(1);
                }
                Event::Eof => break Ok(()),
                _ => {}
            }
            buffer.clear();
        };
        self.summary.control_chars_removed = reader.get_ref().removed();
        match outcome {
            Ok(()) if root_closed => {}
            Ok(()) => self.truncated(),
            Err(error) if is_truncation(&error) => self.truncated(),
            Err(XmlError::Io(error)) => {
                return Err(self.io_error(io::Error::new(error.kind(), error.to_string())));
            }
            Err(error) => {
                return Err(ImportError::Format(format!(
                    "the export is damaged near byte {} of its XML: {error}",
                    reader.error_position()
                )));
            }
        }
        Ok(self.finish())
    }

    fn truncated(&mut self) {
        self.summary.truncated = true;
        self.progress.skip(reasons::TRUNCATED);
    }

    fn finish(mut self) -> Summary {
        for record_type in &self.types.types {
            if record_type.items > 0 {
                *self
                    .summary
                    .per_datasource
                    .entry(record_type.id.clone())
                    .or_default() += record_type.items;
            }
        }
        if self.summary.workouts > 0 {
            self.summary
                .per_datasource
                .insert(WORKOUTS.to_owned(), self.summary.workouts);
        }
        if self.summary.activity_summaries > 0 {
            self.summary
                .per_datasource
                .insert(ACTIVITY_SUMMARIES.to_owned(), self.summary.activity_summaries);
        }
        self.summary
    }

    /// Every few thousand elements: shows progress and honours `stop`.
    fn tick(&mut self) -> Result<(), ImportError> {
        self.elements += 1;
        if self.elements.is_multiple_of(CHECK_EVERY) {
            self.progress.read_to(self.position.get());
            if self.stop.load(Ordering::Relaxed) {
                return Err(ImportError::Stopped);
            }
        }
        Ok(())
    }

    fn emit(&mut self, item: Item) -> Result<(), ImportError> {
        let timestamp = item.timestamp();
        self.sink.item(item)?;
        self.progress.count_item();
        self.summary.first = Some(self.summary.first.map_or(timestamp, |first| first.min(timestamp)));
        self.summary.last = Some(self.summary.last.map_or(timestamp, |last| last.max(timestamp)));
        Ok(())
    }

    /// An element starts (`empty`: and ends) at `depth` (the root is at 1).
    fn element(
        &mut self,
        element: &BytesStart<'_>,
        depth: usize,
        empty: bool,
        open: &mut Open,
    ) -> Result<(), ImportError> {
        match depth {
            1 => {
                if let Some(locale) = attribute(element, b"locale") {
                    self.summary.locale = Some(text::text(locale).into_owned());
                }
                Ok(())
            }
            2 => {
                self.tick()?;
                match element.name().as_ref() {
                    b"Record" => self.record(element, depth, empty, open),
                    b"Workout" => self.workout(element, depth, empty, open),
                    b"ActivitySummary" => self.activity_summary(element),
                    b"ExportDate" => {
                        self.summary.export_date = attribute(element, b"value").and_then(text::apple_date);
                        Ok(())
                    }
                    // Correlations repeat records that are also at the top level.
                    b"Me" | b"Correlation" => Ok(()),
                    other => {
                        self.progress.skip(&format!(
                            "{}: {}",
                            reasons::ELEMENT_NOT_IMPORTED,
                            element_name(other)
                        ));
                        Ok(())
                    }
                }
            }
            _ => {
                match open {
                    Open::Nothing => {}
                    Open::Category(category) => {
                        if depth == category.depth + 1 && element.name().as_ref() == b"MetadataEntry" {
                            add_metadata(element, &mut category.metadata);
                        }
                    }
                    Open::Workout(workout) => self.workout_child(element, depth, empty, workout),
                }
                Ok(())
            }
        }
    }

    /// An element ends at `depth`.
    fn close(&mut self, depth: usize, open: &mut Open) -> Result<(), ImportError> {
        match open {
            Open::Category(category) if category.depth == depth => {
                let Open::Category(category) = std::mem::replace(open, Open::Nothing) else {
                    unreachable!("matched above")
                };
                self.emit_category(category)
            }
            Open::Workout(workout) if workout.depth == depth => {
                let Open::Workout(workout) = std::mem::replace(open, Open::Nothing) else {
                    unreachable!("matched above")
                };
                self.emit_workout(*workout)
            }
            Open::Workout(workout) => {
                if workout.child.is_some_and(|(_, child_depth)| child_depth == depth) {
                    workout.child = None;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn record(
        &mut self,
        element: &BytesStart<'_>,
        depth: usize,
        empty: bool,
        open: &mut Open,
    ) -> Result<(), ImportError> {
        let Some(attributes) = RecordAttributes::read(element) else {
            self.progress.skip(reasons::BAD_ATTRIBUTES);
            return Ok(());
        };
        let Some(kind) = attributes.kind else {
            self.progress.skip(reasons::NO_TYPE);
            return Ok(());
        };
        let type_index = self.types.find(kind);
        if self.types.types[type_index].category {
            return self.category_record(element, type_index, depth, empty, open);
        }
        let Some(value) = attributes.value.and_then(text::number) else {
            self.progress.skip(reasons::NO_NUMERIC_VALUE);
            return Ok(());
        };
        let Some((start, end)) = record_dates(attributes.start, attributes.end) else {
            self.progress.skip(reasons::BAD_DATE);
            return Ok(());
        };
        let record_type = &mut self.types.types[type_index];
        record_type.items += 1;
        let datasource = record_type.id.clone();
        let unit_meta = record_type.meta(attributes.unit);
        let meta = unit_meta.meta.clone();
        let mut tags = BTreeMap::new();
        if let Some(unit) = &unit_meta.unit {
            tags.insert("unit".to_owned(), unit.clone());
        }
        if let Some(source) = attributes.source {
            tags.insert("source".to_owned(), text::text(source).into_owned());
        }
        if end != start {
            tags.insert("end".to_owned(), end.to_string());
        }
        if let Some(device) = attributes.device.and_then(|raw| self.devices.name(raw)) {
            tags.insert("device".to_owned(), device.to_owned());
        }
        self.summary.numeric += 1;
        self.emit(Item::Numeric {
            datasource,
            meta,
            timestamp: start,
            value,
            tags,
        })
    }

    fn category_record(
        &mut self,
        element: &BytesStart<'_>,
        type_index: usize,
        depth: usize,
        empty: bool,
        open: &mut Open,
    ) -> Result<(), ImportError> {
        let Some(mut document) = self.document(element, true) else {
            self.progress.skip(reasons::BAD_ATTRIBUTES);
            return Ok(());
        };
        let start = document_time(&document, "start");
        let end_unreadable = document.get("end").is_some_and(|end| !end.is_i64());
        let Some(start) = start.filter(|_| !end_unreadable) else {
            self.progress.skip(reasons::BAD_DATE);
            return Ok(());
        };
        // The datasource says which type it is.
        document.remove("type");
        let category = OpenCategory {
            depth,
            type_index,
            timestamp: start,
            document,
            metadata: Map::new(),
        };
        if empty {
            self.emit_category(category)
        } else {
            *open = Open::Category(category);
            Ok(())
        }
    }

    fn emit_category(&mut self, category: OpenCategory) -> Result<(), ImportError> {
        let OpenCategory {
            type_index,
            timestamp,
            mut document,
            metadata,
            ..
        } = category;
        if !metadata.is_empty() {
            document.insert("metadata".into(), Value::Object(metadata));
        }
        let record_type = &mut self.types.types[type_index];
        record_type.items += 1;
        let datasource = record_type.id.clone();
        let meta = record_type.meta(None).meta.clone();
        self.summary.category_documents += 1;
        self.emit(Item::Document {
            datasource,
            meta,
            timestamp,
            data: Value::Object(document),
        })
    }

    fn workout(
        &mut self,
        element: &BytesStart<'_>,
        depth: usize,
        empty: bool,
        open: &mut Open,
    ) -> Result<(), ImportError> {
        let Some(document) = self.document(element, false) else {
            self.progress.skip(reasons::BAD_ATTRIBUTES);
            return Ok(());
        };
        let (Some(start), Some(_)) = (document_time(&document, "start"), document_time(&document, "end"))
        else {
            self.progress.skip(reasons::WORKOUT_BAD_DATE);
            return Ok(());
        };
        let workout = OpenWorkout {
            depth,
            timestamp: start,
            document,
            metadata: Map::new(),
            events: Vec::new(),
            statistics: Vec::new(),
            routes: Vec::new(),
            child: None,
        };
        if empty {
            self.emit_workout(workout)
        } else {
            *open = Open::Workout(Box::new(workout));
            Ok(())
        }
    }

    fn workout_child(
        &mut self,
        element: &BytesStart<'_>,
        depth: usize,
        empty: bool,
        workout: &mut OpenWorkout,
    ) {
        let name = element.name();
        if depth == workout.depth + 1 {
            let child = match name.as_ref() {
                b"MetadataEntry" => {
                    add_metadata(element, &mut workout.metadata);
                    WorkoutChild::Other
                }
                b"WorkoutEvent" => {
                    workout
                        .events
                        .push(self.document(element, false).unwrap_or_default());
                    WorkoutChild::Event(workout.events.len() - 1)
                }
                b"WorkoutStatistics" => {
                    workout
                        .statistics
                        .push(Value::Object(self.document(element, false).unwrap_or_default()));
                    WorkoutChild::Other
                }
                b"WorkoutRoute" => {
                    workout.routes.push(OpenRoute {
                        document: self.document(element, false).unwrap_or_default(),
                        metadata: Map::new(),
                        file: None,
                        points: Vec::new(),
                    });
                    WorkoutChild::Route(workout.routes.len() - 1)
                }
                _ => WorkoutChild::Other,
            };
            if !empty {
                workout.child = Some((child, depth));
            }
            return;
        }
        let Some((child, child_depth)) = workout.child else {
            return;
        };
        if depth != child_depth + 1 {
            return;
        }
        match (child, name.as_ref()) {
            (WorkoutChild::Event(index), b"MetadataEntry") => {
                let event = &mut workout.events[index];
                let metadata = event
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(metadata) = metadata {
                    add_metadata(element, metadata);
                }
            }
            (WorkoutChild::Route(index), b"MetadataEntry") => {
                add_metadata(element, &mut workout.routes[index].metadata)
            }
            (WorkoutChild::Route(index), b"FileReference") => {
                workout.routes[index].file =
                    attribute(element, b"path").map(|raw| text::text(raw).into_owned());
            }
            (WorkoutChild::Route(index), b"Location") => {
                let route = &mut workout.routes[index];
                if route.points.len() == MAX_ROUTE_POINTS {
                    self.progress.skip(reasons::ROUTE_TOO_LONG);
                }
                if route.points.len() < MAX_ROUTE_POINTS
                    && let Some(point) = RoutePoint::from_location(element)
                {
                    route.points.push(point);
                }
            }
            _ => {}
        }
    }

    /// Reads the GPX file of `route` into its points, or says why not.
    fn read_route_file(&mut self, route: &mut OpenRoute, file: &str) {
        let Some(relative) = safe_relative_path(file) else {
            self.progress.skip(reasons::ROUTE_UNSAFE_PATH);
            return;
        };
        let points_before = route.points.len();
        let limit = MAX_ROUTE_POINTS.saturating_sub(points_before);
        match self
            .routes
            .read(relative, |reader| gpx::read_gpx(reader, limit, &mut route.points))
        {
            RouteLookup::Read(Ok(outcome)) => {
                self.summary.routes_read += 1;
                if matches!(outcome, GpxOutcome::CutAtLimit) {
                    self.progress.skip(reasons::ROUTE_TOO_LONG);
                }
            }
            RouteLookup::Read(Err(_)) => {
                route.points.truncate(points_before);
                self.progress.skip(reasons::ROUTE_UNREADABLE);
            }
            RouteLookup::Missing => self.progress.skip(reasons::ROUTE_MISSING),
            RouteLookup::Unavailable => self.progress.skip(reasons::ROUTE_UNAVAILABLE),
        }
    }

    fn emit_workout(&mut self, workout: OpenWorkout) -> Result<(), ImportError> {
        let OpenWorkout {
            timestamp,
            mut document,
            metadata,
            events,
            statistics,
            routes,
            ..
        } = workout;
        if !metadata.is_empty() {
            document.insert("metadata".into(), Value::Object(metadata));
        }
        if !statistics.is_empty() {
            document.insert("statistics".into(), Value::Array(statistics));
        }
        if !events.is_empty() {
            document.insert("events".into(), events.into_iter().map(Value::Object).collect());
        }
        if !routes.is_empty() {
            let mut route_documents = Vec::with_capacity(routes.len());
            for mut route in routes {
                if let Some(file) = route.file.take() {
                    self.read_route_file(&mut route, &file);
                    route.document.insert("file".into(), Value::String(file));
                }
                if !route.metadata.is_empty() {
                    route
                        .document
                        .insert("metadata".into(), Value::Object(route.metadata));
                }
                self.summary.route_points += route.points.len() as u64;
                let points = route.points.into_iter().map(RoutePoint::to_json).collect();
                route.document.insert("points".into(), Value::Array(points));
                route_documents.push(Value::Object(route.document));
            }
            document.insert("routes".into(), Value::Array(route_documents));
        }
        let meta = SeriesMeta {
            r#type: "workout".into(),
            unit: None,
            description: "Workouts from Apple Health, with their statistics, events and routes".into(),
        };
        self.summary.workouts += 1;
        self.emit(Item::Document {
            datasource: WORKOUTS.into(),
            meta,
            timestamp,
            data: Value::Object(document),
        })
    }

    fn activity_summary(&mut self, element: &BytesStart<'_>) -> Result<(), ImportError> {
        let Some(document) = self.document(element, false) else {
            self.progress.skip(reasons::BAD_ATTRIBUTES);
            return Ok(());
        };
        let Some(timestamp) = document
            .get("date")
            .and_then(Value::as_str)
            .and_then(|date| text::day(date.as_bytes()))
        else {
            self.progress.skip(reasons::SUMMARY_BAD_DATE);
            return Ok(());
        };
        let meta = SeriesMeta {
            r#type: "activity-summary".into(),
            unit: None,
            description: "Daily activity summaries (move, exercise and stand rings) from Apple Health".into(),
        };
        self.summary.activity_summaries += 1;
        self.emit(Item::Document {
            datasource: ACTIVITY_SUMMARIES.into(),
            meta,
            timestamp,
            data: Value::Object(document),
        })
    }

    /// An element's attributes as a document: dates as epoch ms (`start`, `end`, `created`, `date`;
    /// left as text when unreadable), the type as a readable id, the device by its name, numbers as
    /// numbers, other names in snake case. `None` if the attributes cannot be read.
    fn document(&mut self, element: &BytesStart<'_>, values_as_text: bool) -> Option<Map<String, Value>> {
        let mut document = Map::new();
        for pair in text::attributes(element) {
            let (key, raw) = pair.ok()?;
            let (key, value) = match key {
                b"startDate" => ("start".to_owned(), date_value(raw)),
                b"endDate" => ("end".to_owned(), date_value(raw)),
                b"creationDate" => ("created".to_owned(), date_value(raw)),
                b"date" => ("date".to_owned(), date_value(raw)),
                b"sourceName" => ("source".to_owned(), Value::String(text::text(raw).into_owned())),
                b"sourceVersion" => (
                    "source_version".to_owned(),
                    Value::String(text::text(raw).into_owned()),
                ),
                b"type" => ("type".to_owned(), Value::String(readable_id(&text::text(raw)))),
                b"workoutActivityType" => {
                    let activity = text::text(raw);
                    document.insert(
                        "activity_type".into(),
                        Value::String(activity.clone().into_owned()),
                    );
                    ("activity".to_owned(), Value::String(readable_id(&activity)))
                }
                b"device" => {
                    let name = self.devices.name(raw).map(str::to_owned);
                    (
                        "device".to_owned(),
                        Value::String(name.unwrap_or_else(|| text::text(raw).into_owned())),
                    )
                }
                b"dateComponents" => ("date".to_owned(), Value::String(text::text(raw).into_owned())),
                // A category's value is an identifier (`HKCategoryValueSleepAnalysisInBed`) or a
                // code: kept as written, like units.
                b"value" if values_as_text => {
                    ("value".to_owned(), Value::String(text::text(raw).into_owned()))
                }
                key if key.ends_with(b"Unit") || key == b"unit" => {
                    (text::snake_case(key), Value::String(text::text(raw).into_owned()))
                }
                key => (text::snake_case(key), text::json_value(raw)),
            };
            document.insert(key, value);
        }
        Some(document)
    }
}

/// The start and end of a record: a start is required, an end (else equal to the start) must be
/// readable if present.
fn record_dates(start: Option<&[u8]>, end: Option<&[u8]>) -> Option<(i64, i64)> {
    let start = text::apple_date(start?)?;
    let end = match end {
        Some(end) => text::apple_date(end)?,
        None => start,
    };
    Some((start, end))
}

fn date_value(raw: &[u8]) -> Value {
    text::apple_date(raw).map_or_else(|| Value::String(text::text(raw).into_owned()), Value::from)
}

fn document_time(document: &Map<String, Value>, key: &str) -> Option<i64> {
    document.get(key).and_then(Value::as_i64)
}

/// Adds a `<MetadataEntry key= value=>` to `metadata` (values stay text: `56 degF`).
fn add_metadata(element: &BytesStart<'_>, metadata: &mut Map<String, Value>) {
    if let (Some(key), Some(value)) = (attribute(element, b"key"), attribute(element, b"value")) {
        metadata.insert(
            text::text(key).into_owned(),
            Value::String(text::text(value).into_owned()),
        );
    }
}

/// An element's name for a skip reason: letters and digits only, short.
fn element_name(name: &[u8]) -> String {
    let name: String = name
        .iter()
        .filter(|byte| byte.is_ascii_alphanumeric())
        .take(40)
        .map(|&byte| char::from(byte))
        .collect();
    if name.is_empty() {
        "unnamed".to_owned()
    } else {
        name
    }
}

/// Whether the parser stopped because the input ended inside something: the file was cut.
fn is_truncation(error: &XmlError) -> bool {
    match error {
        XmlError::Syntax(syntax) => !matches!(syntax, SyntaxError::InvalidBangMarkup),
        XmlError::Io(error) => error.kind() == io::ErrorKind::UnexpectedEof,
        _ => false,
    }
}
