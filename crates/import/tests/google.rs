//! The Google location history importers against the published samples in
//! `/work/shared/fixtures` (or `$DATABOX_FIXTURES`), inputs built here from the published
//! formats where no sample exists, a generated 50 MB `Records.json` for memory, and random
//! records for round trips.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use databox_import::google::{self, Summary, Variant};
use databox_import::location::{ActivitySegment, Fix, PlaceVisit};
use databox_import::{ImportError, Item, ItemSink, Progress};
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// The shared fixtures folder, or `None` (with a message saying so) when it is not there, so
/// that the tests that need it pass vacuously on a machine without it.
fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("DATABOX_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/fixtures"));
    if dir.join("google-takeout").is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: no fixtures at {} (set DATABOX_FIXTURES to run this test)",
            dir.display()
        );
        None
    }
}

/// What one import gave.
struct Run {
    result: Result<Summary, ImportError>,
    items: Vec<Item>,
    progress: Progress,
}

impl Run {
    fn summary(&self) -> &Summary {
        self.result.as_ref().expect("import succeeds")
    }

    fn skipped(&self) -> BTreeMap<String, u64> {
        self.progress.skipped()
    }

    /// The documents of `datasource` with their timestamps.
    fn docs(&self, datasource: &str) -> Vec<(i64, Value)> {
        self.items
            .iter()
            .filter(|item| item.datasource() == datasource)
            .map(|item| match item {
                Item::Document { timestamp, data, .. } => (*timestamp, data.clone()),
                Item::Numeric { .. } => panic!("a numeric item from the Google importer"),
            })
            .collect()
    }

    fn fixes(&self) -> Vec<(i64, Fix)> {
        self.docs("locations")
            .into_iter()
            .map(|(t, d)| (t, serde_json::from_value(d).unwrap()))
            .collect()
    }

    fn visits(&self) -> Vec<(i64, PlaceVisit)> {
        self.docs("place-visits")
            .into_iter()
            .map(|(t, d)| (t, serde_json::from_value(d).unwrap()))
            .collect()
    }

    fn segments(&self) -> Vec<(i64, ActivitySegment)> {
        self.docs("activity-segments")
            .into_iter()
            .map(|(t, d)| (t, serde_json::from_value(d).unwrap()))
            .collect()
    }
}

fn run(path: &Path) -> Run {
    let mut items = Vec::new();
    let progress = Progress::default();
    let result = google::import(path, &mut items, &progress, &AtomicBool::new(false));
    if let Ok(summary) = &result {
        // The summary, the progress and the sink agree on what was handed on.
        assert_eq!(summary.items.values().sum::<u64>(), items.len() as u64);
        assert_eq!(progress.items.load(Ordering::Relaxed), items.len() as u64);
        assert_eq!(
            progress.bytes_read.load(Ordering::Relaxed),
            progress.bytes_total.load(Ordering::Relaxed),
            "all bytes read"
        );
    }
    Run {
        result,
        items,
        progress,
    }
}

/// Writes `content` to `name` in a fresh temporary folder (kept alive by the returned guard).
fn file(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn skips(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// The record of `gtp-records-*.json` (the same record in four encodings) as a fix.
fn gtp_fix(device: Option<&str>) -> Fix {
    Fix {
        accuracy_m: Some(10.0),
        device: device.map(str::to_owned),
        ..Fix::new(35.1324213, -112.2434441, "google-records")
    }
}

// ---------------------------------------------------------------------------------------------
// Records.json

#[test]
fn records_with_timestamp_ms() {
    let Some(dir) = fixtures() else { return };
    let run = run(&dir.join("google-takeout/gtp-records-timestampMs.json"));
    assert_eq!(run.summary().files.len(), 1);
    assert_eq!(run.summary().files[0].1, Variant::Records);
    // latitudeE7 351324213 and longitudeE7 -1122434441 divided by 1e7; "1512947698030" as ms.
    assert_eq!(run.fixes(), vec![(1_512_947_698_030, gtp_fix(None))]);
    assert!(run.skipped().is_empty());
    let Item::Document { meta, .. } = &run.items[0] else {
        unreachable!()
    };
    assert_eq!(meta.r#type, "location");
}

#[test]
fn records_timestamp_equals_timestamp_ms_and_device_tags_stay_exact() {
    let Some(dir) = fixtures() else { return };
    let old = run(&dir.join("google-takeout/gtp-records-timestampMs.json")).fixes();
    let new = run(&dir.join("google-takeout/gtp-records-timestamp-deviceTag-designation.json")).fixes();
    let huge = run(&dir.join("google-takeout/gtp-records-timestamp-deviceTag-exceeds-i64.json")).fixes();
    // "2017-12-10T23:14:58.030Z" is the same instant as "1512947698030".
    assert_eq!(new, vec![(old[0].0, gtp_fix(Some("-8024144696862913506")))]);
    // Beyond i64: the digits as written, not an f64's approximation.
    assert_eq!(huge, vec![(old[0].0, gtp_fix(Some("-80241446968629135069")))]);
    let raw = run(&dir.join("google-takeout/gtp-records-timestamp-deviceTag-exceeds-i64.json"));
    assert_eq!(
        raw.docs("locations")[0].1["device"],
        json!("-80241446968629135069")
    );
}

#[test]
fn records_activity_source_and_device() {
    let Some(dir) = fixtures() else { return };
    let run = run(&dir.join("google-takeout/gtp-records-timestamp-activity-source.json"));
    let expected = Fix {
        // UNKNOWN 65 beats IN_VEHICLE 27, STILL 6, ON_BICYCLE 2.
        activity: Some("unknown".into()),
        provider: Some("wifi".into()),
        ..gtp_fix(Some("1978796627"))
    };
    // The record's own timestamp, not its activity's (14:59:59.914 vs 15:00:04.403).
    assert_eq!(run.fixes(), vec![(1_405_695_599_914, expected)]);
}

#[test]
fn a_single_record_is_not_a_records_file_but_its_fields_map() {
    let Some(dir) = fixtures() else { return };
    let path = dir.join("google-takeout/lhf-records-example-location-record.json");
    let alone = run(&path);
    let Err(ImportError::Format(message)) = &alone.result else {
        panic!("{:?}", alone.result)
    };
    assert!(
        message.contains("Records.json") && message.contains("none of their keys"),
        "{message}"
    );
    assert!(alone.items.is_empty());

    let record = std::fs::read_to_string(&path).unwrap();
    let (_dir, wrapped) = file("Records.json", &format!("{{\"locations\": [{record}]}}"));
    let expected = Fix {
        accuracy_m: Some(47.0),
        altitude_m: Some(89.0),
        speed_mps: Some(0.0),
        course_deg: Some(188.0),
        device: Some("1234567890".into()),
        provider: Some("wifi".into()),
        ..Fix::new(41.4216106, 2.1684775, "google-records")
    };
    assert_eq!(run(&wrapped).fixes(), vec![(1_642_007_904_190, expected)]);
}

#[test]
fn records_skip_reasons_are_counted_exactly() {
    let records = [
        // 1. kept
        r#"{"latitudeE7": 515000000, "longitudeE7": -1200000, "timestamp": "2020-01-01T00:00:00Z"}"#,
        // 2-4. no coordinates
        r#"{"latitudeE7": 515000000, "timestamp": "2020-01-01T00:00:01Z"}"#,
        r#"{"timestampMs": "1577836802000"}"#,
        r#"{"latitudeE7": "abc", "longitudeE7": 1, "timestampMs": "1577836803000"}"#,
        // 5. no time
        r#"{"latitudeE7": 515000000, "longitudeE7": -1200000}"#,
        // 6. a time that is not one
        r#"{"latitudeE7": 515000000, "longitudeE7": -1200000, "timestamp": "yesterday"}"#,
        // 7. kept: a bad ISO time, a good timestampMs
        r#"{"latitudeE7": 515000000, "longitudeE7": -1200000, "timestamp": "bad", "timestampMs": "1577836807000"}"#,
        // 8. 95° wraps to -334°: still out of range
        r#"{"latitudeE7": 950000000, "longitudeE7": 0, "timestampMs": "1577836808000"}"#,
        // 9. 0,0 without accuracy: a placeholder
        r#"{"latitudeE7": 0, "longitudeE7": 0, "timestampMs": "1577836809000"}"#,
        // 10. kept: 0,0 with an accuracy
        r#"{"latitudeE7": 0, "longitudeE7": 0, "accuracy": 5, "timestampMs": 1577836810000}"#,
        // 11-12. not objects
        "42",
        "null",
        // 13. kept: Sydney written as unsigned 32-bit integers (Google's wrap-around)
        r#"{"latitudeE7": 3956279099, "longitudeE7": 1512093000, "timestampMs": "1577836813000"}"#,
        // 14. kept: bad readings dropped, a numeric string taken, the oldest `activitys` key
        r#"{"latitudeE7": 10, "longitudeE7": 20, "accuracy": -1, "velocity": "3", "heading": 400,
            "timestampMs": "1577836814000",
            "activitys": [{"timestampMs": "1577836814000", "activities": [{"type": "still", "confidence": 100}]}]}"#,
    ];
    let (_dir, path) = file(
        "Records.json",
        &format!("{{\"locations\": [{}]}}", records.join(",\n")),
    );
    let run = run(&path);
    assert_eq!(
        run.skipped(),
        skips(&[
            ("location record without coordinates", 3),
            ("location record without a timestamp", 1),
            ("location record with an unparseable timestamp", 1),
            ("location record with coordinates out of range", 1),
            ("location record with coordinates 0,0 without accuracy", 1),
            ("location record that is not an object", 2),
        ])
    );
    let fixes = run.fixes();
    let times: Vec<i64> = fixes.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        [
            1_577_836_800_000,
            1_577_836_807_000,
            1_577_836_810_000,
            1_577_836_813_000,
            1_577_836_814_000
        ]
    );
    assert_eq!(fixes[0].1, Fix::new(51.5, -0.12, "google-records"));
    assert_eq!(
        fixes[2].1,
        Fix {
            accuracy_m: Some(5.0),
            ..Fix::new(0.0, 0.0, "google-records")
        }
    );
    assert!(
        close(fixes[3].1.lat, -33.8688197) && close(fixes[3].1.lon, 151.2093),
        "{:?}",
        fixes[3].1
    );
    let expected = Fix {
        speed_mps: Some(3.0),
        course_deg: Some(40.0),
        activity: Some("still".into()),
        ..Fix::new(0.000001, 0.000002, "google-records")
    };
    assert_eq!(fixes[4].1, expected);
}

#[test]
fn records_json_that_breaks_off_is_a_format_error_after_what_came_before() {
    let good = r#"{"latitudeE7": 515000000, "longitudeE7": -1200000, "timestampMs": "1577836800000"}"#;
    let (_dir, path) = file(
        "Records.json",
        &format!("{{\"locations\": [{good}, {good}, {{\"latitudeE7\": 51"),
    );
    let run = run(&path);
    let Err(ImportError::Format(message)) = &run.result else {
        panic!("{:?}", run.result)
    };
    assert!(message.contains("damaged"), "{message}");
    assert_eq!(run.items.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Semantic Location History

fn fixture_visit() -> PlaceVisit {
    PlaceVisit {
        lat: 55.5555555,
        lon: -106.6666666,
        name: Some("name".into()),
        address: Some("address".into()),
        place_id: Some("JK4E4P".into()),
        semantic_type: None,
        start_ms: 1_512_948_565_026,
        end_ms: 1_512_955_206_106,
        confidence: Some(0.6545),
        level: Some(0),
        source: "google-semantic".into(),
    }
}

#[test]
fn semantic_place_visit() {
    let Some(dir) = fixtures() else { return };
    let run = run(&dir.join("google-takeout/gtp-semantic-placeVisit.json"));
    assert_eq!(run.summary().files[0].1, Variant::Semantic);
    let visits = run.visits();
    assert_eq!(visits.len(), 1);
    let (timestamp, visit) = &visits[0];
    assert_eq!(*timestamp, 1_512_948_565_026);
    // visitConfidence 65.45 is a percentage.
    assert!(close(visit.confidence.unwrap(), 0.6545));
    assert_eq!(
        PlaceVisit {
            confidence: Some(0.6545),
            ..visit.clone()
        },
        fixture_visit()
    );
    // The other candidates (one at 91°) are not visits.
    assert_eq!(run.items.len(), 1);
    assert!(run.skipped().is_empty());
}

#[test]
fn semantic_activity_segment_with_paths() {
    let Some(dir) = fixtures() else { return };
    let run = run(&dir.join("google-takeout/gtp-semantic-placeVisit-activitySegment.json"));
    assert_eq!(run.items.len(), 3);
    assert_eq!(
        run.summary().items,
        [
            ("activity-segments".to_owned(), 1),
            ("locations".into(), 1),
            ("place-visits".into(), 1)
        ]
        .into()
    );
    let segments = run.segments();
    let (timestamp, segment) = &segments[0];
    assert_eq!(*timestamp, 1_512_956_406_106 - 20 * 60_000);
    assert_eq!(segment.end_ms, 1_512_956_406_106);
    assert_eq!(segment.activity_type, "in_passenger_vehicle");
    assert!(close(segment.confidence.unwrap(), 0.85514968640442));
    assert_eq!(segment.distance_m, Some(13071.0));
    assert_eq!(
        (segment.start_lat, segment.start_lon),
        (Some(55.5555555), Some(-106.6666666))
    );
    assert_eq!(
        (segment.end_lat, segment.end_lon),
        (Some(55.5555567), Some(-106.6666678))
    );
    // latE7/lngE7, without times: kept on the segment.
    assert_eq!(
        segment.waypoints,
        vec![
            [12.3456789, 121.0],
            [12.3456089, 121.00002],
            [12.3456289, 121.00005]
        ]
    );
    assert_eq!(segment.source, "google-semantic");
    // The one timed point of simplifiedRawPath (accuracyMeters); the parking event is not a fix.
    let expected = Fix {
        accuracy_m: Some(10.0),
        activity: Some("in_passenger_vehicle".into()),
        ..Fix::new(12.3456489, 121.000024, "google-semantic")
    };
    assert_eq!(run.fixes(), vec![(1_512_956_104_000, expected)]);
    assert!(run.skipped().is_empty());
}

/// A month file in the older shape (before 2022): `…TimestampMs`, no `activityType` but
/// `activities`, child visits, path points with `timestampMs`, and things to skip.
const SEMANTIC_2018: &str = r#"{"timelineObjects": [
  {"placeVisit": {
    "location": {"latitudeE7": 481234567, "longitudeE7": 115678901, "placeId": "ChIJmall", "name": "Mall",
                 "semanticType": "TYPE_SEARCHED_ADDRESS"},
    "duration": {"startTimestampMs": "1525165200000", "endTimestampMs": "1525172400000"},
    "placeConfidence": "HIGH_CONFIDENCE",
    "childVisits": [
      {"location": {"latitudeE7": 481234000, "longitudeE7": 115678000, "name": "Bookshop"},
       "duration": {"startTimestampMs": "1525166000000", "endTimestampMs": "1525167000000"}},
      {"location": {"name": "Nowhere"},
       "duration": {"startTimestampMs": "1525168000000", "endTimestampMs": "1525169000000"}}
    ]}},
  {"activitySegment": {
    "duration": {"startTimestampMs": "1525172400000", "endTimestampMs": "1525173000000"},
    "activities": [{"activityType": "WALKING", "probability": 12.5}, {"activityType": "CYCLING", "probability": 80.0}],
    "simplifiedRawPath": {"points": [
      {"latE7": 481300000, "lngE7": 115700000, "timestampMs": "1525172500000", "accuracyMeters": 8},
      {"latE7": 481400000, "lngE7": 115800000},
      {"lngE7": 115800000, "timestampMs": "1525172600000"}
    ]}}},
  {"activitySegment": {"duration": {"startTimestampMs": "soon"}, "activityType": "WALKING"}},
  {"somethingNew": {}}
]}"#;

#[test]
fn semantic_older_shape_children_and_skips() {
    let (_dir, path) = file("2018_MAY.json", SEMANTIC_2018);
    let run = run(&path);
    let visits = run.visits();
    assert_eq!(visits.len(), 2);
    assert_eq!(visits[0].1.name.as_deref(), Some("Mall"));
    assert_eq!(
        visits[0].1.semantic_type.as_deref(),
        Some("TYPE_SEARCHED_ADDRESS")
    );
    assert_eq!(
        (visits[0].1.start_ms, visits[0].1.end_ms, visits[0].1.level),
        (1_525_165_200_000, 1_525_172_400_000, Some(0))
    );
    assert_eq!(visits[0].1.confidence, None);
    assert_eq!(
        (visits[1].1.name.as_deref(), visits[1].1.level),
        (Some("Bookshop"), Some(1))
    );
    let segments = run.segments();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].1.activity_type, "cycling");
    assert_eq!(segments[0].1.confidence, Some(0.8));
    assert_eq!(segments[0].1.start_lat, None);
    let fixes = run.fixes();
    assert_eq!(
        fixes,
        vec![(
            1_525_172_500_000,
            Fix {
                accuracy_m: Some(8.0),
                activity: Some("cycling".into()),
                ..Fix::new(48.13, 11.57, "google-semantic")
            }
        )]
    );
    assert_eq!(
        run.skipped(),
        skips(&[
            ("place visit without coordinates", 1),
            ("path point without a timestamp", 1),
            ("path point without coordinates", 1),
            ("activity segment with an unparseable time", 1),
            ("timeline object of unknown kind", 1),
        ])
    );
}

#[test]
fn a_semantic_folder_is_walked_in_order_and_skips_what_it_does_not_know() {
    let Some(fixture_dir) = fixtures() else { return };
    let root = tempfile::tempdir().unwrap();
    let history = root.path().join("Semantic Location History");
    std::fs::create_dir_all(history.join("2017")).unwrap();
    std::fs::create_dir_all(history.join("2018")).unwrap();
    let copy =
        |from: &str, to: &Path| std::fs::copy(fixture_dir.join("google-takeout").join(from), to).unwrap();
    copy(
        "gtp-semantic-placeVisit.json",
        &history.join("2017/2017_NOVEMBER.json"),
    );
    copy(
        "gtp-semantic-placeVisit-activitySegment.json",
        &history.join("2017/2017_DECEMBER.json"),
    );
    std::fs::write(history.join("2018/2018_MAY.json"), SEMANTIC_2018).unwrap();
    // Takeout's neighbours and the usual junk.
    std::fs::write(
        root.path().join("Settings.json"),
        r#"{"createdTime": "2020-01-01T00:00:00Z", "deviceSettings": []}"#,
    )
    .unwrap();
    std::fs::write(history.join(".DS_Store"), b"\x00\x00\x00\x01Bud1\x00\x00").unwrap();
    std::fs::write(history.join("2018/notes.txt"), "not json").unwrap();
    // A month that breaks off after its first object.
    let cut = &SEMANTIC_2018[..SEMANTIC_2018.find("{\"activitySegment\"").unwrap()];
    std::fs::write(history.join("2018/2018_JUNE.json"), cut).unwrap();

    let first = run(root.path());
    let summary = first.summary();
    let names: Vec<String> = summary
        .files
        .iter()
        .map(|(p, v)| format!("{}={v:?}", p.strip_prefix(root.path()).unwrap().display()))
        .collect();
    // Byte order: "2017_DECEMBER" < "2017_NOVEMBER"; "Semantic…" < "Settings.json".
    assert_eq!(
        names,
        [
            "Semantic Location History/2017/2017_DECEMBER.json=Semantic",
            "Semantic Location History/2017/2017_NOVEMBER.json=Semantic",
            "Semantic Location History/2018/2018_MAY.json=Semantic",
        ]
    );
    let skipped: Vec<String> = summary
        .skipped_files
        .iter()
        .map(|(p, _)| p.strip_prefix(root.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        skipped,
        [
            "Semantic Location History/.DS_Store",
            "Semantic Location History/2018/2018_JUNE.json",
            "Semantic Location History/2018/notes.txt",
            "Settings.json",
        ]
    );
    assert!(
        summary.skipped_files[1].1.contains("damaged"),
        "{}",
        summary.skipped_files[1].1
    );
    let mut expected_skips = skips(&[
        ("file not recognised as Google location history", 3),
        ("damaged file: the rest of it skipped", 1),
    ]);
    // 2018_MAY's own skips, and 2018_JUNE's before it broke off: its first object is whole,
    // with the mall's child visit without coordinates.
    expected_skips.extend(skips(&[
        ("place visit without coordinates", 2),
        ("path point without a timestamp", 1),
        ("path point without coordinates", 1),
        ("activity segment with an unparseable time", 1),
        ("timeline object of unknown kind", 1),
    ]));
    assert_eq!(first.skipped(), expected_skips);
    // 3 (December) + 1 (November) + 4 (May) + 2 (June, before the break).
    assert_eq!(first.items.len(), 10);
    assert_eq!(
        summary.items,
        [
            ("activity-segments".to_owned(), 2),
            ("locations".into(), 2),
            ("place-visits".into(), 6)
        ]
        .into()
    );
    let total: u64 = walk_sizes(root.path());
    assert_eq!(first.progress.bytes_total.load(Ordering::Relaxed), total);
    // The same folder gives the same items in the same order (resuming relies on it).
    assert_eq!(run(root.path()).items, first.items);
}

fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk_sizes(&path)
            } else {
                std::fs::metadata(&path).unwrap().len()
            }
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// The on-device Timeline export

#[test]
fn android_timeline_fixture() {
    let Some(dir) = fixtures() else { return };
    let run = run(&dir.join("google-timeline/kgeo-device-timeline-test-data.json"));
    assert_eq!(run.summary().files[0].1, Variant::TimelineAndroid);
    // 2 segments x (1 visit + 5 path points) + 2 raw positions; frequentPlaces have no times.
    assert_eq!(run.items.len(), 14);
    assert!(run.skipped().is_empty(), "{:?}", run.skipped());
    let visits = run.visits();
    assert_eq!(visits.len(), 2);
    let expected = PlaceVisit {
        lat: 40.712776,
        lon: -74.005974,
        name: None,
        address: None,
        place_id: Some("ChIJd8BlQ2BZwokRAFUEcm_qrcA".into()),
        semantic_type: Some("INFERRED_WORK".into()),
        start_ms: 1_696_147_200_000,
        end_ms: 1_696_150_800_000,
        confidence: Some(0.85),
        level: Some(1),
        source: "google-timeline".into(),
    };
    assert_eq!(visits[0], (1_696_147_200_000, expected));
    assert_eq!(visits[1].0, 1_696_233_600_000);
    let fixes = run.fixes();
    assert_eq!(fixes.len(), 12);
    assert_eq!(
        fixes[0],
        (
            1_696_148_100_000,
            Fix::new(40.712776, -74.005974, "google-timeline")
        )
    );
    // The fifth point is at 09:15, after its segment's end: kept with its own time.
    assert_eq!(fixes[4].0, 1_696_148_100_000 + 60 * 60_000);
    // Raw signals come after the segments (file order), with their activity record.
    let raw = Fix {
        accuracy_m: Some(5.0),
        altitude_m: Some(10.0),
        speed_mps: Some(1.5),
        activity: Some("walking".into()),
        provider: Some("gps".into()),
        ..Fix::new(40.712776, -74.005974, "google-timeline")
    };
    assert_eq!(fixes[10], (1_696_147_200_000, raw));
    assert_eq!(fixes[11].1.activity.as_deref(), Some("running"));
}

/// The Android shapes the fixture does not have: an activity segment, a trip memory, raw
/// signals of every kind.
#[test]
fn android_timeline_activities_memories_and_raw_signals() {
    let input = json!({
        "semanticSegments": [
            {"startTime": "2024-05-01T07:00:00.000+02:00", "endTime": "2024-05-01T07:40:00.000+02:00",
             "startTimeTimezoneUtcOffsetMinutes": 120, "endTimeTimezoneUtcOffsetMinutes": 120,
             "activity": {"start": {"latLng": "52.5200066°, 13.404954°"}, "end": {"latLng": "52.5162746°, 13.3777041°"},
                          "distanceMeters": 2300.5, "probability": 0.97,
                          "topCandidate": {"type": "IN_PASSENGER_VEHICLE", "probability": 0.88}}},
            {"startTime": "2024-05-01T07:00:00.000+02:00", "endTime": "2024-05-01T18:00:00.000+02:00",
             "timelineMemory": {"trip": {"distanceFromOriginKms": 120, "destinations": [{"identifier": {"placeId": "x"}}]}}},
            {"startTime": "2024-05-01T08:00:00.000+02:00", "endTime": "2024-05-01T09:00:00.000+02:00"},
            {"startTime": "2024-05-01T10:00:00.000+02:00", "endTime": "2024-05-01T09:00:00.000+02:00",
             "visit": {"hierarchyLevel": 0, "probability": 0.7,
                       "topCandidate": {"placeId": "p", "placeLocation": {"latLng": "52.5°, 13.4°"}}}},
            {"startTime": "2024-05-01T10:00:00.000+02:00", "endTime": "2024-05-01T11:00:00.000+02:00",
             "timelinePath": [{"point": "52.5°, 13.4°", "time": "2024-05-01T10:05:00.000+02:00"},
                              {"point": "52.5°, 13.4°"},
                              {"time": "2024-05-01T10:06:00.000+02:00"}]}
        ],
        "rawSignals": [
            {"position": {"LatLng": "52.52°, 13.40°", "accuracyMeters": 12, "altitudeMeters": 40.5,
                          "source": "WIFI", "timestamp": "2024-05-01T07:05:00.000+02:00"}},
            {"activityRecord": {"probableActivities": [{"type": "STILL", "confidence": 1.0}],
                                "timestamp": "2024-05-01T07:06:00.000+02:00"}},
            {"wifiScan": {"deliveryTime": "2024-05-01T07:07:00.000+02:00", "devicesRecords": []}},
            {"position": {"LatLng": "52.52°, 13.40°", "timestamp": "yesterday"}},
            {"position": {"accuracyMeters": 3, "timestamp": "2024-05-01T07:08:00.000+02:00"}},
            {"position": {"LatLng": "0°, 0°", "timestamp": "2024-05-01T07:09:00.000+02:00"}},
            {"somethingElse": {}}
        ],
        "userLocationProfile": {"frequentPlaces": [{"placeId": "p", "placeLocation": "52.5°, 13.4°", "label": "HOME"}]}
    });
    let (_dir, path) = file("Timeline.json", &input.to_string());
    let run = run(&path);
    assert_eq!(run.summary().files[0].1, Variant::TimelineAndroid);
    let start = 1_714_539_600_000; // 2024-05-01T05:00:00Z
    let expected = ActivitySegment {
        start_ms: start,
        end_ms: start + 40 * 60_000,
        activity_type: "in_passenger_vehicle".into(),
        distance_m: Some(2300.5),
        start_lat: Some(52.5200066),
        start_lon: Some(13.404954),
        end_lat: Some(52.5162746),
        end_lon: Some(13.3777041),
        confidence: Some(0.88),
        waypoints: vec![],
        source: "google-timeline".into(),
    };
    assert_eq!(run.segments(), vec![(start, expected)]);
    assert!(run.visits().is_empty());
    let fixes = run.fixes();
    assert_eq!(fixes.len(), 2);
    // File order: `json!` writes keys sorted, so `rawSignals` comes before `semanticSegments` here.
    let path_point = Fix::new(52.5, 13.4, "google-timeline");
    assert_eq!(fixes[1], (start + 3 * 3_600_000 + 5 * 60_000, path_point));
    let raw = Fix {
        accuracy_m: Some(12.0),
        altitude_m: Some(40.5),
        provider: Some("wifi".into()),
        ..Fix::new(52.52, 13.40, "google-timeline")
    };
    assert_eq!(fixes[0], (start + 5 * 60_000, raw));
    assert_eq!(
        run.skipped(),
        skips(&[
            ("timeline memory (trip summary)", 1),
            ("timeline segment of unknown kind", 1),
            ("timeline visit with an end before its start", 1),
            ("timeline path point without a timestamp", 1),
            ("timeline path point without coordinates", 1),
            ("raw activity record without a position", 1),
            ("raw wifi scan without a position", 1),
            ("raw position with an unparseable timestamp", 1),
            ("raw position without coordinates", 1),
            ("raw position with coordinates 0,0 without accuracy", 1),
            ("raw signal of unknown kind", 1),
        ])
    );
}

/// The iOS export as published (no permissively licensed sample exists): a top-level list,
/// `geo:` positions, numbers as strings, `placeID`, local offsets, path points as minutes after
/// the segment's start.
#[test]
fn ios_timeline_variant() {
    let input = r#"[
  {
    "endTime" : "2024-03-02T09:30:00.000-04:00",
    "startTime" : "2024-03-02T08:00:00.000-04:00",
    "visit" : {
      "hierarchyLevel" : "0",
      "topCandidate" : {
        "probability" : "0.871234",
        "semanticType" : "Home",
        "placeID" : "ChIJOwg_06VPwokRYv534QaPC8g",
        "placeLocation" : "geo:40.712776,-74.005974"
      },
      "probability" : "0.930000"
    }
  },
  {
    "endTime" : "2024-03-02T10:00:00.000-04:00",
    "startTime" : "2024-03-02T09:30:00.000-04:00",
    "activity" : {
      "probability" : "0.990000",
      "end" : "geo:40.758896,-73.985130",
      "topCandidate" : {
        "type" : "walking",
        "probability" : "0.850000"
      },
      "distanceMeters" : "5512.000000",
      "start" : "geo:40.712776,-74.005974"
    }
  },
  {
    "endTime" : "2024-03-02T11:30:00.000-04:00",
    "startTime" : "2024-03-02T09:30:00.000-04:00",
    "timelinePath" : [
      { "point" : "geo:40.712776,-74.005974", "durationMinutesOffsetFromStartTime" : "0" },
      { "point" : "geo:40.730610,-73.995242", "durationMinutesOffsetFromStartTime" : "12" },
      { "point" : "geo:40.758896,-73.985130", "durationMinutesOffsetFromStartTime" : "29" },
      { "point" : "geo:", "durationMinutesOffsetFromStartTime" : "31" }
    ]
  },
  {
    "endTime" : "2024-03-02T23:00:00.000-04:00",
    "startTime" : "2024-03-02T08:00:00.000-04:00",
    "timelineMemory" : { "destinations" : [ { "identifier" : "ChIJOwg_06VPwokRYv534QaPC8g" } ], "distanceFromOriginKms" : "0" }
  },
  {
    "endTime" : "2024-03-02T12:00:00.000-04:00",
    "startTime" : "noon",
    "visit" : { "topCandidate" : { "placeLocation" : "geo:40.7,-74.0" } }
  }
]"#;
    let (_dir, path) = file("location-history.json", input);
    let run = run(&path);
    assert_eq!(run.summary().files[0].1, Variant::TimelineIos);
    let eight = 1_709_380_800_000; // 2024-03-02T08:00:00-04:00
    let half_past_nine = eight + 90 * 60_000;
    let visit = PlaceVisit {
        lat: 40.712776,
        lon: -74.005974,
        name: None,
        address: None,
        place_id: Some("ChIJOwg_06VPwokRYv534QaPC8g".into()),
        semantic_type: Some("Home".into()),
        start_ms: eight,
        end_ms: half_past_nine,
        confidence: Some(0.93),
        level: Some(0),
        source: "google-timeline".into(),
    };
    assert_eq!(run.visits(), vec![(eight, visit)]);
    let segment = ActivitySegment {
        start_ms: half_past_nine,
        end_ms: half_past_nine + 30 * 60_000,
        activity_type: "walking".into(),
        distance_m: Some(5512.0),
        start_lat: Some(40.712776),
        start_lon: Some(-74.005974),
        end_lat: Some(40.758896),
        end_lon: Some(-73.98513),
        confidence: Some(0.85),
        waypoints: vec![],
        source: "google-timeline".into(),
    };
    assert_eq!(run.segments(), vec![(half_past_nine, segment)]);
    let fixes: Vec<(i64, f64, f64)> = run.fixes().into_iter().map(|(t, f)| (t, f.lat, f.lon)).collect();
    assert_eq!(
        fixes,
        [
            (half_past_nine, 40.712776, -74.005974),
            (half_past_nine + 12 * 60_000, 40.73061, -73.995242),
            (half_past_nine + 29 * 60_000, 40.758896, -73.98513),
        ]
    );
    assert_eq!(
        run.skipped(),
        skips(&[
            ("timeline path point without coordinates", 1),
            ("timeline memory (trip summary)", 1),
            ("timeline visit with an unparseable time", 1),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Shapes that are not Google's, stopping, failing sinks

#[test]
fn unknown_shapes_are_format_errors_saying_what_was_expected() {
    let cases = [
        ("object.json", r#"{"foo": [1, 2]}"#),
        ("string.json", r#""locations""#),
        ("numbers.json", "[1, 2, 3]"),
        (
            "objects.json",
            r#"[{"_type": "location", "lat": 1, "lon": 2, "tst": 3}]"#,
        ),
        ("text.json", "timestamp,lat,lon\n1,2,3\n"),
        ("empty.json", ""),
        ("not-a-list.json", r#"{"locations": {"latitudeE7": 1}}"#),
        (
            "features.json",
            r#"{"locations": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}]}"#,
        ),
    ];
    for (name, content) in cases {
        let (_dir, path) = file(name, content);
        let run = run(&path);
        match &run.result {
            Err(ImportError::Format(message)) => {
                assert!(
                    message.contains("expected") || message.contains("a Google location history"),
                    "{name}: {message}"
                );
                assert!(message.contains(name), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(run.items.is_empty(), "{name}");
    }
}

#[test]
fn other_apps_location_lists_are_not_taken_for_records_json() {
    let Some(dir) = fixtures() else { return };
    // Overland's body is `{"locations": [GeoJSON Feature, ...]}`.
    let overland = dir.join("overland/overland-ios-readme-locations.json");
    if !overland.exists() {
        println!("SKIPPED: no {}", overland.display());
        return;
    }
    let run = run(&overland);
    let Err(ImportError::Format(message)) = &run.result else {
        panic!("{:?}", run.result)
    };
    assert!(message.contains("not a Google location record"), "{message}");
}

#[test]
fn empty_lists_are_empty_imports() {
    for (content, variant) in [
        (r#"{"locations": []}"#, Variant::Records),
        (r#"{"timelineObjects": []}"#, Variant::Semantic),
        (
            r#"{"semanticSegments": [], "rawSignals": [], "userLocationProfile": {}}"#,
            Variant::TimelineAndroid,
        ),
        ("[]", Variant::TimelineIos),
    ] {
        let (_dir, path) = file("x.json", content);
        let run = run(&path);
        assert_eq!(run.summary().files[0].1, variant, "{content}");
        assert!(run.items.is_empty());
    }
}

/// `n` good records, one per second from 2020-01-01.
fn records_file(n: usize) -> String {
    let mut out = String::from("{\"locations\": [");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            r#"{{"latitudeE7": {}, "longitudeE7": 100, "timestampMs": "{}"}}"#,
            10 + i,
            1_577_836_800_000u64 + 1000 * i as u64
        )
        .unwrap();
    }
    out.push_str("]}");
    out
}

/// A sink that raises `stop` after `after` items, or fails at item `fail_at`.
struct Tripwire<'s> {
    seen: u64,
    after: u64,
    stop: &'s AtomicBool,
    fail_at: Option<u64>,
}

impl ItemSink for Tripwire<'_> {
    fn item(&mut self, _: Item) -> Result<(), ImportError> {
        self.seen += 1;
        if Some(self.seen) == self.fail_at {
            return Err(ImportError::Format("the sink is full".into()));
        }
        if self.seen == self.after {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[test]
fn stop_ends_the_import_soon() {
    let (_dir, path) = file("Records.json", &records_file(20_000));
    let stop = AtomicBool::new(false);
    let mut sink = Tripwire {
        seen: 0,
        after: 10,
        stop: &stop,
        fail_at: None,
    };
    let result = google::import(&path, &mut sink, &Progress::default(), &stop);
    assert!(matches!(result, Err(ImportError::Stopped)), "{result:?}");
    assert!(sink.seen >= 10 && sink.seen < 10 + 2 * 1024, "{}", sink.seen);
    // Raised before the start: nothing at all.
    let mut items = Vec::new();
    let result = google::import(&path, &mut items, &Progress::default(), &AtomicBool::new(true));
    assert!(matches!(result, Err(ImportError::Stopped)));
    assert!(items.is_empty());
}

#[test]
fn a_failing_sink_ends_the_import_with_its_own_error() {
    let (dir, path) = file("Records.json", &records_file(100));
    let unused = AtomicBool::new(false);
    for target in [path.as_path(), dir.path()] {
        let mut sink = Tripwire {
            seen: 0,
            after: 0,
            stop: &unused,
            fail_at: Some(3),
        };
        let result = google::import(target, &mut sink, &Progress::default(), &AtomicBool::new(false));
        // Neither taken for a file of another format nor skipped in a folder.
        assert!(
            matches!(&result, Err(ImportError::Format(m)) if m == "the sink is full"),
            "{result:?}"
        );
        assert_eq!(sink.seen, 3);
    }
}

#[test]
fn a_missing_path_is_an_io_error() {
    let result = google::import(
        Path::new("/nonexistent/Records.json"),
        &mut Vec::new(),
        &Progress::default(),
        &AtomicBool::new(false),
    );
    assert!(matches!(result, Err(ImportError::Io { .. })), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// A large Records.json: flat memory

/// The peak resident memory of this process so far (kB), from `/proc/self/status`.
fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `large_records_json_in_flat_memory` alone in a child process: the peak memory of a
/// process is shared by every test running in it, so it has to be measured where nothing else
/// runs.
#[test]
fn a_50_mb_records_json_streams_in_flat_memory() {
    if vm_hwm_kb().is_none() {
        println!("SKIPPED: no /proc/self/status VmHWM on this system");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "large_records_json_in_flat_memory",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child ran no test: {stdout}");
}

/// Counts what it is given and keeps nothing, as a store's batched writer keeps a bounded batch.
#[derive(Default)]
struct Counter {
    items: u64,
    last_timestamp: i64,
}

impl ItemSink for Counter {
    fn item(&mut self, item: Item) -> Result<(), ImportError> {
        assert!(item.timestamp() > self.last_timestamp);
        self.last_timestamp = item.timestamp();
        self.items += 1;
        Ok(())
    }
}

#[test]
#[ignore = "run in its own process by a_50_mb_records_json_streams_in_flat_memory"]
fn large_records_json_in_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Records.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(b"{\n  \"locations\": [").unwrap();
    let mut written = 0u64;
    let mut size = 0u64;
    let mut line = String::new();
    while size < 50 << 20 {
        line.clear();
        let t = 1_400_000_000_000u64 + written * 1_000;
        if written > 0 {
            line.push(',');
        }
        // Alternating old and new shapes, with the nested activity lists real files carry.
        if written.is_multiple_of(2) {
            write!(
                line,
                r#"{{
    "latitudeE7": {}, "longitudeE7": {}, "accuracy": 14, "velocity": 3, "heading": 90, "altitude": 120,
    "activity": [{{"activity": [{{"type": "WALKING", "confidence": 80}}, {{"type": "STILL", "confidence": 20}}], "timestampMs": "{t}"}}],
    "source": "GPS", "deviceTag": -80241446968629135069, "timestampMs": "{t}"
  }}"#,
                515_000_000 + (written % 100_000) as i64,
                -1_200_000 - (written % 70_000) as i64
            )
            .unwrap();
        } else {
            let ms = t % 1000;
            let secs = (t / 1000) as i64;
            write!(
                line,
                r#"{{
    "timestamp": "{}.{ms:03}Z", "latitudeE7": {}, "longitudeE7": {}, "accuracy": 20, "deviceTag": 1978796627,
    "platformType": "ANDROID", "verticalAccuracy": 3, "source": "WIFI"
  }}"#,
                iso_seconds(secs),
                515_000_000 + (written % 100_000) as i64,
                -1_200_000 - (written % 70_000) as i64
            )
            .unwrap();
        }
        out.write_all(line.as_bytes()).unwrap();
        size += line.len() as u64;
        written += 1;
    }
    out.write_all(b"\n  ]\n}\n").unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    drop(line);
    let file_size = std::fs::metadata(&path).unwrap().len();

    let before = vm_hwm_kb().unwrap();
    let progress = Progress::default();
    let mut counter = Counter::default();
    let started = std::time::Instant::now();
    let summary = google::import(&path, &mut counter, &progress, &AtomicBool::new(false)).unwrap();
    let after = vm_hwm_kb().unwrap();
    println!(
        "{written} records, {} MB in {:.1?}; VmHWM {before} kB before, {after} kB after",
        file_size >> 20,
        started.elapsed()
    );
    assert_eq!(counter.items, written);
    assert_eq!(summary.items["locations"], written);
    assert!(progress.skipped().is_empty(), "{:?}", progress.skipped());
    assert_eq!(progress.bytes_read.load(Ordering::Relaxed), file_size);
    // Holding the records would take several times the file's 50 MB; streaming takes a few
    // buffers. 8 MB leaves room for the allocator and nothing for the file.
    assert!(
        after.saturating_sub(before) < 8 * 1024,
        "peak memory grew by {} kB",
        after - before
    );
}

// ---------------------------------------------------------------------------------------------
// Random records round-trip

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of epoch seconds (Howard Hinnant's `civil_from_days`).
fn iso_seconds(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Clone, Debug)]
struct Spec {
    lat_e7: i64,
    lon_e7: i64,
    ms: i64,
    /// 0: `timestampMs`; 1: `timestamp` with milliseconds; 2: `timestamp` with a +hh:mm offset.
    time_style: u8,
    /// Write negative coordinates as unsigned 32-bit integers, as old exports did.
    wrap: bool,
    accuracy: Option<u32>,
    altitude: Option<i32>,
    velocity: Option<u32>,
    heading: Option<u32>,
    device: Option<String>,
    activity: Option<(String, u32)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            -900_000_000i64..=900_000_000,
            -1_800_000_000i64..=1_800_000_000,
            0i64..4_102_444_800_000,
            0u8..3,
            any::<bool>(),
        ),
        (
            proptest::option::of(1u32..5000),
            proptest::option::of(-400i32..9000),
            proptest::option::of(0u32..100),
        ),
        (
            proptest::option::of(0u32..360),
            proptest::option::of(prop_oneof![
                any::<i64>().prop_map(|d| d.to_string()),
                "-?[1-9][0-9]{19,24}"
            ]),
            proptest::option::of(("[A-Z_]{1,20}", 0u32..=100)),
        ),
    )
        .prop_filter("0,0 needs an accuracy", |((lat, lon, ..), (accuracy, ..), _)| {
            *lat != 0 || *lon != 0 || accuracy.is_some()
        })
        .prop_map(
            |(
                (lat_e7, lon_e7, ms, time_style, wrap),
                (accuracy, altitude, velocity),
                (heading, device, activity),
            )| Spec {
                lat_e7,
                lon_e7,
                ms,
                time_style,
                wrap,
                accuracy,
                altitude,
                velocity,
                heading,
                device,
                activity,
            },
        )
}

impl Spec {
    fn json(&self) -> String {
        let e7 = |v: i64| if self.wrap && v < 0 { v + (1 << 32) } else { v };
        let mut out = format!(
            r#"{{"latitudeE7": {}, "longitudeE7": {}"#,
            e7(self.lat_e7),
            e7(self.lon_e7)
        );
        let (secs, millis) = (self.ms.div_euclid(1000), self.ms.rem_euclid(1000));
        match self.time_style {
            0 => write!(out, r#", "timestampMs": "{}""#, self.ms),
            1 => write!(out, r#", "timestamp": "{}.{millis:03}Z""#, iso_seconds(secs)),
            _ => write!(
                out,
                r#", "timestamp": "{}.{millis:03}+05:30""#,
                iso_seconds(secs + 5 * 3600 + 30 * 60)
            ),
        }
        .unwrap();
        if let Some(a) = self.accuracy {
            write!(out, r#", "accuracy": {a}"#).unwrap();
        }
        if let Some(a) = self.altitude {
            write!(out, r#", "altitude": {a}"#).unwrap();
        }
        if let Some(v) = self.velocity {
            write!(out, r#", "velocity": {v}"#).unwrap();
        }
        if let Some(h) = self.heading {
            write!(out, r#", "heading": {h}"#).unwrap();
        }
        if let Some(d) = &self.device {
            // Written as a JSON number, as Google does, whatever its size.
            write!(out, r#", "deviceTag": {d}"#).unwrap();
        }
        if let Some((kind, confidence)) = &self.activity {
            write!(
                out,
                r#", "activity": [{{"activity": [{{"type": "{kind}", "confidence": {confidence}}}]}}]"#
            )
            .unwrap();
        }
        out.push('}');
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_records_round_trip(specs in proptest::collection::vec(spec(), 1..40)) {
        let body = specs.iter().map(Spec::json).collect::<Vec<_>>().join(",");
        let (_dir, path) = file("Records.json", &format!("{{\"locations\": [{body}]}}"));
        let run = run(&path);
        prop_assert!(run.skipped().is_empty(), "{:?}", run.skipped());
        let fixes = run.fixes();
        prop_assert_eq!(fixes.len(), specs.len());
        for (spec, (timestamp, fix)) in specs.iter().zip(fixes) {
            prop_assert_eq!(timestamp, spec.ms);
            prop_assert!((fix.lat - spec.lat_e7 as f64 / 1e7).abs() < 1e-7, "{} vs {}", fix.lat, spec.lat_e7);
            prop_assert!((fix.lon - spec.lon_e7 as f64 / 1e7).abs() < 1e-7, "{} vs {}", fix.lon, spec.lon_e7);
            prop_assert_eq!(fix.accuracy_m, spec.accuracy.map(f64::from));
            prop_assert_eq!(fix.altitude_m, spec.altitude.map(f64::from));
            prop_assert_eq!(fix.speed_mps, spec.velocity.map(f64::from));
            prop_assert_eq!(fix.course_deg, spec.heading.map(f64::from));
            prop_assert_eq!(&fix.device, &spec.device);
            prop_assert_eq!(fix.activity, spec.activity.as_ref().map(|(kind, _)| kind.to_ascii_lowercase()));
            prop_assert_eq!(fix.source.as_str(), "google-records");
        }
    }
}
