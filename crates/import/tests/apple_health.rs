//! The Apple Health importer against the public samples in `../shared/fixtures/apple-health` (see
//! its README for what each exercises) and against generated exports with known contents.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use databox_import::apple_health::{self, Summary, reasons};
use databox_import::testgen::{self, GeneratedExport, HealthExportOptions};
use databox_import::{ImportError, Item, ItemSink, Progress};
use serde_json::json;

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/apple-health");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} is not present (the shared fixtures sit beside the repository)",
            dir.display()
        );
        None
    }
}

/// Imports `path` into a vector.
fn import(path: &Path) -> (Vec<Item>, Summary, Progress) {
    let progress = Progress::default();
    let mut items = Vec::new();
    let summary = apple_health::import(path, &mut items, &progress, &AtomicBool::new(false))
        .unwrap_or_else(|error| panic!("importing {}: {error}", path.display()));
    assert_eq!(summary.items(), items.len() as u64);
    assert_eq!(progress.items.load(Ordering::Relaxed), items.len() as u64);
    (items, summary, progress)
}

fn count_per_datasource(items: &[Item]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item.datasource().to_owned()).or_default() += 1;
    }
    counts
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|(name, count)| (name.to_string(), *count))
        .collect()
}

fn write(path: &Path, content: &[u8]) -> PathBuf {
    fs::write(path, content).unwrap();
    path.to_path_buf()
}

#[test]
fn fixture_ios17_export_with_sleep_stages_and_split_attributes() {
    let Some(dir) = fixtures() else { return };
    let (items, summary, progress) = import(&dir.join("apple-health-parser-export.xml"));
    let expected = counts(&[
        ("active-energy-burned", 2),
        ("apple-exercise-time", 1),
        ("apple-stand-time", 1),
        ("heart-rate", 2),
        ("sleep-analysis", 2),
    ]);
    assert_eq!(count_per_datasource(&items), expected);
    assert_eq!(summary.per_datasource, expected);
    assert_eq!((summary.numeric, summary.category_documents), (6, 2));
    assert!(progress.skipped().is_empty(), "{:?}", progress.skipped());
    assert_eq!(summary.locale.as_deref(), Some("en_NL"));
    // 2024-06-01 08:10:05 +0200.
    assert_eq!(summary.export_date, Some(1_717_222_205_000));
    assert_eq!(summary.zip_entry, None);

    let Item::Numeric {
        datasource,
        meta,
        timestamp,
        value,
        tags,
    } = &items[0]
    else {
        panic!("a heart rate is numeric: {:?}", items[0])
    };
    assert_eq!(datasource, "heart-rate");
    assert_eq!(meta.r#type, "heart-rate");
    assert_eq!(meta.unit.as_deref(), Some("count/min"));
    assert_eq!(meta.description, "Heart rate from Apple Health, in count/min");
    // 2024-01-01 01:01:36 +0200.
    assert_eq!(*timestamp, 1_704_063_696_000);
    assert_eq!(*value, 74.0);
    assert_eq!(
        tags,
        &counts_text(&[
            ("device", "Apple Watch"),
            ("source", "Alexandre's Apple Watch"),
            ("unit", "count/min")
        ])
    );
    let Item::Numeric { tags, value, .. } = &items[2] else {
        panic!("energy is numeric")
    };
    assert_eq!(*value, 0.12);
    // 2024-01-01 01:02:58 +0200: the end differs from the start, so it is a tag.
    assert_eq!(tags.get("end").map(String::as_str), Some("1704063778000"));
    // The stand time has no device.
    let Item::Numeric { tags, .. } = &items[5] else {
        panic!("stand time is numeric")
    };
    assert!(!tags.contains_key("device"));

    let Item::Document {
        datasource,
        timestamp,
        data,
        meta,
    } = &items[6]
    else {
        panic!("a sleep stage is a document: {:?}", items[6])
    };
    assert_eq!(datasource, "sleep-analysis");
    assert_eq!(meta.unit, None);
    assert_eq!(*timestamp, 1_704_063_328_000);
    assert_eq!(
        data,
        &json!({
            "source": "Alexandre's iPhone",
            "source_version": "17.2.1",
            "created": 1_704_095_184_000i64,
            "start": 1_704_063_328_000i64,
            "end": 1_704_063_413_000i64,
            "value": "HKCategoryValueSleepAnalysisInBed",
            "metadata": {"HKTimeZone": "Europe/Amsterdam"},
        })
    );
    assert_eq!(items[7].datasource(), "sleep-analysis");
    assert_eq!(summary.first, Some(1_704_063_328_000));
    assert_eq!(summary.last, Some(1_704_153_147_000));
}

fn counts_text(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[test]
fn fixture_zip_is_found_by_magic_and_skips_the_macos_junk() {
    let Some(dir) = fixtures() else { return };
    let (from_xml, _, _) = import(&dir.join("apple-health-parser-export.xml"));
    // Named .bin: the importer must tell a zip by its bytes, not its name.
    let temp = tempfile::tempdir().unwrap();
    let renamed = temp.path().join("export.bin");
    fs::copy(dir.join("apple-health-parser-export.zip"), &renamed).unwrap();
    let (from_zip, summary, progress) = import(&renamed);
    assert_eq!(
        summary.zip_entry.as_deref(),
        Some("apple_health_export/export.xml")
    );
    assert_eq!(from_zip, from_xml);
    assert!(progress.skipped().is_empty());
    assert_eq!(progress.bytes_total.load(Ordering::Relaxed), 2243);
    assert_eq!(progress.bytes_read.load(Ordering::Relaxed), 2243);
}

#[test]
fn fixture_cyrillic_source_and_explicit_close_tags() {
    let Some(dir) = fixtures() else { return };
    let (items, summary, progress) = import(&dir.join("applehealth-testdata.xml"));
    assert_eq!(
        count_per_datasource(&items),
        counts(&[("body-mass", 1), ("height", 1)])
    );
    assert!(progress.skipped().is_empty());
    assert_eq!(summary.locale.as_deref(), Some("ru_RU"));
    // 2019-12-26 08:20:53 +0300.
    assert_eq!(summary.export_date, Some(1_577_337_653_000));
    let Item::Numeric {
        value,
        tags,
        timestamp,
        meta,
        ..
    } = &items[0]
    else {
        panic!("height is numeric")
    };
    assert_eq!(
        (*value, meta.unit.as_deref(), *timestamp),
        (168.0, Some("cm"), 1_450_694_813_000)
    );
    assert_eq!(
        tags,
        &counts_text(&[("source", "My Processing Tool"), ("unit", "cm")])
    );
    let Item::Numeric { value, tags, .. } = &items[1] else {
        panic!("body mass is numeric")
    };
    assert_eq!(*value, 65.0);
    assert_eq!(tags["source"], "Здоровье");
}

#[test]
fn fixture_old_export_with_inline_route_and_activity_summaries() {
    let Some(dir) = fixtures() else { return };
    let (items, summary, progress) = import(&dir.join("healthkit-to-sqlite-export.xml"));
    assert_eq!(
        count_per_datasource(&items),
        counts(&[
            ("activity-summaries", 2),
            ("body-mass-index", 1),
            ("heart-rate", 1),
            ("workouts", 1)
        ])
    );
    assert!(progress.skipped().is_empty());
    assert_eq!(summary.route_points, 2);
    assert_eq!(summary.routes_read, 0);

    let Item::Numeric { value, tags, .. } = &items[0] else {
        panic!("BMI is numeric")
    };
    assert_eq!(*value, 22.5312);
    // Metadata of numeric records is not kept.
    assert_eq!(tags.len(), 2);

    let workout = items.iter().find(|item| item.datasource() == "workouts").unwrap();
    let Item::Document { data, timestamp, .. } = workout else {
        panic!("a workout is a document")
    };
    // 2016-11-14 07:25:41 -0700.
    assert_eq!(*timestamp, 1_479_133_541_000);
    assert_eq!(data["activity"], "running");
    assert_eq!(data["activity_type"], "HKWorkoutActivityTypeRunning");
    assert_eq!(data["duration"], 5.19412346680959);
    assert_eq!(data["duration_unit"], "min");
    assert_eq!(data["total_distance"], 0.4971749504535062);
    assert_eq!(data["total_distance_unit"], "mi");
    assert_eq!(data["total_energy_burned_unit"], "kcal");
    // The sample's source name has a no-break space, as Apple writes it.
    assert_eq!(data["source"], "Apple\u{a0}Watch");
    assert_eq!(data["end"], 1_479_133_852_000i64);
    assert_eq!(data["metadata"]["HKWeatherTemperature"], "56 degF");
    let route = &data["routes"][0];
    assert_eq!(route["source"], "Simon’s iPhone");
    assert_eq!(
        route["points"],
        json!([
            {"t": 1_479_133_544_000i64, "lat": 37.7777, "lon": -122.426, "ele": 21.2694},
            {"t": 1_479_133_544_000i64, "lat": 37.7777, "lon": -122.426, "ele": 21.2677},
        ])
    );

    let Item::Document {
        data,
        timestamp,
        meta,
        ..
    } = &items[3]
    else {
        panic!("a summary is a document")
    };
    assert_eq!(meta.r#type, "activity-summary");
    // 2016-11-15 00:00 UTC.
    assert_eq!(*timestamp, 1_479_168_000_000);
    assert_eq!(
        data,
        &json!({
            "date": "2016-11-15",
            "active_energy_burned": 590.252,
            "active_energy_burned_goal": 630,
            "active_energy_burned_unit": "kcal",
            "apple_exercise_time": 68,
            "apple_exercise_time_goal": 30,
            "apple_stand_hours": 13,
            "apple_stand_hours_goal": 12,
        })
    );
}

/// Lays the FileReference-shaped fixture out as an export folder with its route.
fn export_folder_with_route(fixtures: &Path, into: &Path) -> PathBuf {
    let export = into.join("apple_health_export");
    fs::create_dir_all(export.join("workout-routes")).unwrap();
    fs::copy(
        fixtures.join("healthkit-to-sqlite-zip-export.xml"),
        export.join("export.xml"),
    )
    .unwrap();
    fs::copy(
        fixtures.join("healthkit-to-sqlite-route_2019-06-11_3.00pm.gpx"),
        export.join("workout-routes/route_2019-06-11_3.00pm.gpx"),
    )
    .unwrap();
    export.join("export.xml")
}

fn zip_folder(folder: &Path, prefix: &str, zip_path: &Path) {
    let mut zip = zip::ZipWriter::new(fs::File::create(zip_path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(folder)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                zip.start_file(format!("{prefix}{relative}"), options).unwrap();
                zip.write_all(&fs::read(&path).unwrap()).unwrap();
            }
        }
    }
    zip.finish().unwrap();
}

#[test]
fn fixture_route_file_reference_is_read_beside_the_xml_or_in_the_zip() {
    let Some(dir) = fixtures() else { return };
    // As published, the GPX file is not where the export says: the workout stays, its route is
    // skipped with a reason.
    let (items, summary, progress) = import(&dir.join("healthkit-to-sqlite-zip-export.xml"));
    assert_eq!(summary.workouts, 1);
    assert_eq!(progress.skipped(), counts(&[(reasons::ROUTE_MISSING, 1)]));
    let workout = items.iter().find(|item| item.datasource() == "workouts").unwrap();
    let Item::Document { data, .. } = workout else {
        panic!("a workout is a document")
    };
    assert_eq!(
        data["routes"][0]["file"],
        "/workout-routes/route_2019-06-11_3.00pm.gpx"
    );
    assert_eq!(data["routes"][0]["points"], json!([]));

    let temp = tempfile::tempdir().unwrap();
    let xml = export_folder_with_route(&dir, temp.path());
    let (from_folder, summary, progress) = import(&xml);
    assert!(progress.skipped().is_empty(), "{:?}", progress.skipped());
    assert_eq!((summary.routes_read, summary.route_points), (1, 3));
    let workout = from_folder
        .iter()
        .find(|item| item.datasource() == "workouts")
        .unwrap();
    let Item::Document { data, .. } = workout else {
        panic!("a workout is a document")
    };
    // The route's own dates (-0800) and the GPX's times are kept as they are, even where they
    // disagree with the workout's.
    assert_eq!(data["routes"][0]["start"], 1_479_133_544_000i64);
    assert_eq!(
        data["routes"][0]["points"],
        json!([
            {"t": 1_560_290_442_000i64, "lat": 37.781672, "lon": -122.396397, "ele": 4.076904},
            {"t": 1_560_290_442_000i64, "lat": 37.78167, "lon": -122.396396, "ele": 4.083609},
            {"t": 1_560_290_443_000i64, "lat": 37.78167, "lon": -122.396394, "ele": 4.085232},
        ])
    );

    // The same folder zipped, under a localised name for the XML and another top folder.
    let renamed = temp.path().join("apple_health_export/Export.xml");
    fs::rename(&xml, &renamed).unwrap();
    let zip_path = temp.path().join("export.zip");
    zip_folder(
        &temp.path().join("apple_health_export"),
        "Health Export/",
        &zip_path,
    );
    let (from_zip, summary, progress) = import(&zip_path);
    assert_eq!(summary.zip_entry.as_deref(), Some("Health Export/Export.xml"));
    assert!(progress.skipped().is_empty(), "{:?}", progress.skipped());
    assert_eq!(from_zip, from_folder);
}

fn generate(folder: &Path, megabytes: f64, zip: bool) -> GeneratedExport {
    let options = HealthExportOptions {
        target_bytes: (megabytes * 1_048_576.0) as u64,
        seed: 7,
        zip,
    };
    testgen::apple_health_export(folder, &options).unwrap()
}

#[test]
fn generated_export_gives_exactly_what_was_written() {
    let temp = tempfile::tempdir().unwrap();
    let generated = generate(temp.path(), 3.0, false);
    assert!(generated.xml_bytes >= 3 * 1_048_576);
    let (items, summary, progress) = import(&generated.path);
    assert_eq!(summary.per_datasource, generated.items);
    assert_eq!(count_per_datasource(&items), generated.items);
    assert_eq!(progress.skipped(), generated.skips);
    assert_eq!(summary.control_chars_removed, generated.control_chars);
    assert_eq!(summary.route_points, generated.route_points);
    assert_eq!(summary.routes_read, generated.route_files);
    assert_eq!(summary.locale.as_deref(), Some("en_US"));
    assert!(!summary.truncated);
    // Every kind of damage is in a file this small, so the counts above test each.
    for reason in [
        reasons::NO_NUMERIC_VALUE,
        reasons::BAD_DATE,
        reasons::ROUTE_MISSING,
    ] {
        assert!(
            generated.skips.get(reason).is_some_and(|&count| count > 0),
            "no {reason:?} generated"
        );
    }
    assert!(generated.control_chars > 0 && generated.duplicates > 0);
    for datasource in [
        "step-count",
        "heart-rate",
        "sleep-analysis",
        "workouts",
        "activity-summaries",
    ] {
        assert!(generated.items.contains_key(datasource), "{datasource}");
    }
    // Sources are clean although some had control characters in them, and devices are names.
    for item in &items {
        if let Item::Numeric { tags, .. } = item {
            assert!(
                ["Alex’s iPhone", "Alex’s Apple Watch", "Health Mate"].contains(&tags["source"].as_str()),
                "{tags:?}"
            );
            assert!(
                tags.get("device")
                    .is_none_or(|device| device == "iPhone" || device == "Apple Watch")
            );
        }
    }
    // Blood pressure is taken from the top level only, not again from its correlation.
    assert_eq!(
        generated.items["blood-pressure-systolic"],
        summary.per_datasource["blood-pressure-systolic"]
    );
}

#[test]
fn zip_and_plain_exports_give_identical_items() {
    let plain = tempfile::tempdir().unwrap();
    let zipped = tempfile::tempdir().unwrap();
    let from_plain = generate(plain.path(), 2.0, false);
    let from_zip = generate(zipped.path(), 2.0, true);
    assert_eq!(from_plain.items, from_zip.items);
    let (plain_items, plain_summary, plain_progress) = import(&from_plain.path);
    let (zip_items, zip_summary, zip_progress) = import(&from_zip.path);
    assert_eq!(
        zip_summary.zip_entry.as_deref(),
        Some("apple_health_export/export.xml")
    );
    assert_eq!(plain_items.len(), zip_items.len());
    assert!(plain_items == zip_items, "the items differ");
    assert_eq!(plain_progress.skipped(), zip_progress.skipped());
    assert_eq!(plain_summary.route_points, zip_summary.route_points);
    assert_eq!(
        zip_progress.bytes_read.load(Ordering::Relaxed),
        fs::metadata(&from_zip.path).unwrap().len()
    );
}

#[test]
fn truncated_export_keeps_everything_before_the_cut() {
    let temp = tempfile::tempdir().unwrap();
    let generated = generate(temp.path(), 1.0, false);
    let (all_items, _, _) = import(&generated.path);
    let bytes = fs::read(&generated.path).unwrap();
    let folder = generated.path.parent().unwrap();
    // Cut inside an element, and cut cleanly between two.
    let middle = bytes.len() / 2;
    let after_a_line = middle + bytes[middle..].iter().position(|&byte| byte == b'\n').unwrap() + 1;
    for cut in [middle, after_a_line] {
        let truncated = write(&folder.join("truncated.xml"), &bytes[..cut]);
        let (items, summary, progress) = import(&truncated);
        assert!(summary.truncated);
        assert_eq!(progress.skipped()[reasons::TRUNCATED], 1);
        assert!(!items.is_empty() && items.len() < all_items.len());
        assert_eq!(
            items[..],
            all_items[..items.len()],
            "the items before the cut are the same"
        );
    }

    // A zip cut short has no directory: its entries are read one after another instead.
    let zipped = generate(temp.path(), 1.0, true);
    let zip_bytes = fs::read(&zipped.path).unwrap();
    let truncated = write(&temp.path().join("cut.zip"), &zip_bytes[..zip_bytes.len() / 2]);
    let (items, summary, progress) = import(&truncated);
    assert!(summary.truncated);
    assert_eq!(
        summary.zip_entry.as_deref(),
        Some("apple_health_export/export.xml")
    );
    assert_eq!(progress.skipped()[reasons::TRUNCATED], 1);
    assert!(!items.is_empty() && items.len() < all_items.len());
    assert_eq!(items[..], all_items[..items.len()]);
}

const RECORD_TAIL: &str =
    "unit=\"count\" startDate=\"2022-01-01 10:00:00 +0000\" endDate=\"2022-01-01 10:00:00 +0000\"";

#[test]
fn control_characters_are_dropped_wherever_they_are() {
    let temp = tempfile::tempdir().unwrap();
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<HealthData locale=\"en\x0b_US\">\n\
         <Record type=\"HKQuantityTypeIdentifierStepCount\" sourceName=\"Bob\x0b’s\x1f phone\x00\" {RECORD_TAIL} value=\"1\x0c2\"/>\n\
         <Record type=\"HKCategoryTypeIdentifierMindfulSession\" sourceName=\"Calm\" {RECORD_TAIL}>\x01\n\
         <MetadataEntry key=\"note\" value=\"a\x1bb\"/></Record>\n</HealthData>\n"
    );
    let (items, summary, progress) = import(&write(&temp.path().join("export.xml"), xml.as_bytes()));
    assert!(progress.skipped().is_empty());
    assert_eq!(summary.control_chars_removed, 7);
    assert_eq!(summary.locale.as_deref(), Some("en_US"));
    let Item::Numeric { value, tags, .. } = &items[0] else {
        panic!("steps are numeric")
    };
    assert_eq!((*value, tags["source"].as_str()), (12.0, "Bob’s phone"));
    let Item::Document { datasource, data, .. } = &items[1] else {
        panic!("a category is a document")
    };
    assert_eq!(datasource, "mindful-session");
    assert_eq!(data["metadata"], json!({"note": "ab"}));
    // A category record without a value keeps none.
    assert!(data.get("value").is_none());
}

#[test]
fn damaged_records_are_skipped_with_their_reason() {
    let temp = tempfile::tempdir().unwrap();
    let steps = "type=\"HKQuantityTypeIdentifierStepCount\" sourceName=\"p\"";
    let xml = format!(
        "<HealthData locale=\"en_US\">\n\
         <Record {steps} {RECORD_TAIL} value=\"12\"/>\n\
         <Record {steps} {RECORD_TAIL}/>\n\
         <Record {steps} {RECORD_TAIL} value=\"twelve\"/>\n\
         <Record {steps} {RECORD_TAIL} value=\"NaN\"/>\n\
         <Record {steps} unit=\"count\" startDate=\"2022-01-01 10:00:00\" value=\"1\"/>\n\
         <Record {steps} unit=\"count\" endDate=\"2022-01-01 10:00:00 +0000\" value=\"1\"/>\n\
         <Record {steps} unit=\"count\" startDate=\"2022-01-01 10:00:00 +0000\" endDate=\"soon\" value=\"1\"/>\n\
         <Record sourceName=\"p\" {RECORD_TAIL} value=\"1\"/>\n\
         <Record type=\"HKCategoryTypeIdentifierSleepAnalysis\" sourceName=\"p\" startDate=\"2022-13-01 10:00:00 +0000\" \
          value=\"HKCategoryValueSleepAnalysisAwake\"/>\n\
         <Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" startDate=\"2022-01-01 10:00:00 +0000\"/>\n\
         <ActivitySummary dateComponents=\"2022-02-30\" appleStandHours=\"3\"/>\n\
         <Audiogram type=\"HKDataTypeIdentifierAudiogram\" sourceName=\"p\" {RECORD_TAIL}/>\n\
         <Record {steps} {RECORD_TAIL} value=\"13\"/>\n\
         </HealthData>\n"
    );
    let (items, _, progress) = import(&write(&temp.path().join("export.xml"), xml.as_bytes()));
    assert_eq!(items.len(), 2);
    assert_eq!(
        progress.skipped(),
        counts(&[
            (reasons::NO_NUMERIC_VALUE, 3),
            (reasons::BAD_DATE, 4),
            (reasons::NO_TYPE, 1),
            (reasons::WORKOUT_BAD_DATE, 1),
            (reasons::SUMMARY_BAD_DATE, 1),
            ("element not imported: Audiogram", 1),
        ])
    );
}

#[test]
fn the_dtd_is_skipped_and_its_entities_never_expanded() {
    let temp = tempfile::tempdir().unwrap();
    // A DTD that would blow up an expanding parser, and iOS 16's kind of unclosed declaration.
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE HealthData [\n<!ENTITY a \"aaaaaaaaaa\">\n\
         <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n<!ATTLIST VisionPrescription\n  type CDATA #REQUIRED\n\
         <!ELEMENT RightEye EMPTY>\n>\n>\n]>\n<HealthData locale=\"en_US\">\n\
         <Record type=\"HKQuantityTypeIdentifierStepCount\" sourceName=\"&b; &amp; &#x41;\" {RECORD_TAIL} value=\"5\"/>\n\
         </HealthData>\n"
    );
    let (items, _, progress) = import(&write(&temp.path().join("export.xml"), xml.as_bytes()));
    assert!(progress.skipped().is_empty());
    let Item::Numeric { tags, .. } = &items[0] else {
        panic!("steps are numeric")
    };
    assert_eq!(tags["source"], "&b; & A");
}

#[test]
fn files_that_are_not_exports_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let text = write(
        &temp.path().join("notes.xml"),
        b"<notes><note>hello</note></notes>",
    );
    let progress = Progress::default();
    let stop = AtomicBool::new(false);
    let error = apple_health::import(&text, &mut Vec::new(), &progress, &stop).unwrap_err();
    assert!(
        matches!(error, ImportError::Format(ref message) if message.contains("not an Apple Health export"))
    );

    let zip_path = temp.path().join("other.zip");
    let folder = temp.path().join("folder");
    fs::create_dir_all(&folder).unwrap();
    write(&folder.join("export.xml"), b"<notes/>");
    zip_folder(&folder, "", &zip_path);
    let error = apple_health::import(&zip_path, &mut Vec::new(), &progress, &stop).unwrap_err();
    assert!(matches!(error, ImportError::Format(_)), "{error}");

    let missing = apple_health::import(&temp.path().join("absent.zip"), &mut Vec::new(), &progress, &stop);
    assert!(matches!(missing, Err(ImportError::Io { .. })));
}

/// Sets the stop flag once it has seen `after` items.
struct StopAfter<'a> {
    stop: &'a AtomicBool,
    after: usize,
    seen: usize,
}

impl ItemSink for StopAfter<'_> {
    fn item(&mut self, _item: Item) -> Result<(), ImportError> {
        self.seen += 1;
        if self.seen == self.after {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[test]
fn stop_stops_within_a_few_thousand_elements() {
    let temp = tempfile::tempdir().unwrap();
    let generated = generate(temp.path(), 8.0, false);
    let stop = AtomicBool::new(false);
    let progress = Progress::default();
    let mut sink = StopAfter {
        stop: &stop,
        after: 100,
        seen: 0,
    };
    let outcome = apple_health::import(&generated.path, &mut sink, &progress, &stop);
    assert!(matches!(outcome, Err(ImportError::Stopped)), "{outcome:?}");
    assert!(sink.seen >= 100 && sink.seen <= 100 + 4096, "{}", sink.seen);
    assert!((sink.seen as u64) < generated.total_items());
    let read = progress.bytes_read.load(Ordering::Relaxed);
    assert!(read > 0 && read < generated.xml_bytes, "{read}");
}

/// Counts items without keeping them: what the memory tests measure is the parser alone.
#[derive(Default)]
struct CountingSink {
    items: u64,
}

impl ItemSink for CountingSink {
    fn item(&mut self, _item: Item) -> Result<(), ImportError> {
        self.items += 1;
        Ok(())
    }
}

const MEMORY_PROBE_FILE: &str = "DATABOX_TEST_HEALTH_MEMORY_PROBE";

/// The half of the memory tests that runs in a process of its own (the test binary again, with
/// only this test), so that no other test's memory is counted: imports the file it is given and
/// prints its peak resident memory.
#[test]
#[ignore = "run by the memory tests in a child process"]
fn memory_probe_child() {
    let Ok(path) = std::env::var(MEMORY_PROBE_FILE) else {
        eprintln!("skipped: only runs as the child of a memory test");
        return;
    };
    let mut sink = CountingSink::default();
    let summary = apple_health::import(
        Path::new(&path),
        &mut sink,
        &Progress::default(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(summary.items(), sink.items);
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .to_owned();
    println!("PROBE items={} peak={}", sink.items, peak.trim_end_matches(" kB"));
}

/// Imports `path` in a child process; returns the items it handed on and its peak memory in MiB.
fn import_in_child(path: &Path) -> (u64, f64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "memory_probe_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MEMORY_PROBE_FILE, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness prints `test memory_probe_child ... ` before the probe's own output.
    let probe = stdout
        .lines()
        .find_map(|line| line.split_once("PROBE "))
        .expect("the probe's line")
        .1;
    let fields: BTreeMap<&str, &str> = probe
        .split(' ')
        .filter_map(|field| field.split_once('='))
        .collect();
    (
        fields["items"].parse().unwrap(),
        fields["peak"].parse::<f64>().unwrap() / 1024.0,
    )
}

/// Imports a generated export of `megabytes` in a child process; returns its peak memory in MiB.
fn peak_memory_of_import(megabytes: f64, zip: bool) -> f64 {
    let temp = tempfile::tempdir().unwrap();
    let generated = generate(temp.path(), megabytes, zip);
    let (items, peak_mib) = import_in_child(&generated.path);
    assert_eq!(items, generated.total_items());
    eprintln!("{megabytes} MB export (zip: {zip}): {items} items, peak memory {peak_mib:.1} MiB");
    peak_mib
}

#[test]
fn a_route_longer_than_the_limit_is_cut_and_memory_stays_bounded() {
    let temp = tempfile::tempdir().unwrap();
    let routes = temp.path().join("workout-routes");
    fs::create_dir_all(&routes).unwrap();
    let points = apple_health::MAX_ROUTE_POINTS + 20_000;
    let mut gpx = std::io::BufWriter::new(fs::File::create(routes.join("long.gpx")).unwrap());
    gpx.write_all(b"<?xml version=\"1.0\"?><gpx version=\"1.1\"><trk><trkseg>\n")
        .unwrap();
    for point in 0..points {
        writeln!(
            gpx,
            "<trkpt lat=\"37.{point:06}\" lon=\"-122.{point:06}\"><ele>12.5</ele>\
             <time>2022-01-01T10:00:00Z</time></trkpt>"
        )
        .unwrap();
    }
    gpx.write_all(b"</trkseg></trk></gpx>\n").unwrap();
    drop(gpx);
    let xml = format!(
        "<HealthData locale=\"en_US\">\n<Workout workoutActivityType=\"HKWorkoutActivityTypeHiking\" \
         {RECORD_TAIL}>\n<WorkoutRoute sourceName=\"p\"><FileReference path=\"/workout-routes/long.gpx\"/>\
         </WorkoutRoute>\n<WorkoutRoute sourceName=\"p\"><FileReference path=\"/../../etc/passwd\"/>\
         </WorkoutRoute>\n</Workout>\n</HealthData>\n"
    );
    let export = write(&temp.path().join("export.xml"), xml.as_bytes());
    let (items, summary, progress) = import(&export);
    assert_eq!(
        progress.skipped(),
        counts(&[(reasons::ROUTE_TOO_LONG, 1), (reasons::ROUTE_UNSAFE_PATH, 1)])
    );
    assert_eq!(summary.route_points, apple_health::MAX_ROUTE_POINTS as u64);
    let Item::Document { data, .. } = &items[0] else {
        panic!("a workout is a document")
    };
    assert_eq!(data["activity"], "hiking");
    let kept = data["routes"][0]["points"].as_array().unwrap();
    assert_eq!(kept.len(), apple_health::MAX_ROUTE_POINTS);
    assert_eq!(
        kept[0],
        json!({"t": 1_641_031_200_000i64, "lat": 37.0, "lon": -122.0, "ele": 12.5})
    );
    assert_eq!(data["routes"][1]["points"], json!([]));
    drop(items);

    let (items, peak_mib) = import_in_child(&export);
    eprintln!(
        "a workout with {} route points: peak memory {peak_mib:.1} MiB",
        apple_health::MAX_ROUTE_POINTS
    );
    assert_eq!(items, 1);
    assert!(peak_mib < 100.0, "{peak_mib} MiB");
}

/// 300 MB of `export.xml` (about 750,000 items; 7 s in the debug profile) through a parser whose
/// memory must not depend on the file's size.
#[test]
fn streaming_import_of_300_mb_stays_under_100_mb_of_memory() {
    assert!(peak_memory_of_import(300.0, false) < 100.0);
}

/// Reads the export through the decompressor: the zip's own buffers must not grow either.
#[test]
fn streaming_zip_import_of_300_mb_stays_under_100_mb_of_memory() {
    assert!(peak_memory_of_import(300.0, true) < 100.0);
}
