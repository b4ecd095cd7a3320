//! Generators of realistic import files for tests and benchmarks, streamed to disk (never held in
//! memory), deterministic from a seed.
//!
//! [`apple_health_export`] writes an Apple Health export of a requested size, as the iPhone writes
//! it (iOS 16's broken DTD included) with the damage real exports carry, and says exactly what an
//! importer should make of it: items per datasource and skips per reason.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::apple_health::{ACTIVITY_SUMMARIES, WORKOUTS, reasons};
use crate::calendar::civil_from_days;

/// What to generate.
#[derive(Clone, Debug)]
pub struct HealthExportOptions {
    /// The size of `export.xml` to reach (a little more is written: the last elements and the end).
    pub target_bytes: u64,
    /// The same seed gives the same bytes.
    pub seed: u64,
    /// Write `export.zip` (the export, its routes and the junk a Mac adds) instead of a folder.
    pub zip: bool,
}

/// What was generated, and what an importer should make of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeneratedExport {
    /// The file to import: `…/apple_health_export/export.xml` or `…/export.zip`.
    pub path: PathBuf,
    /// The size of `export.xml`.
    pub xml_bytes: u64,
    /// Top-level `<Record>` elements written (duplicates and damaged ones included).
    pub records: u64,
    /// The items an importer should hand on, per datasource.
    pub items: BTreeMap<String, u64>,
    /// The skips an importer should count, per reason.
    pub skips: BTreeMap<String, u64>,
    /// Control characters XML forbids, put into `export.xml`.
    pub control_chars: u64,
    /// Records written twice in a row, byte for byte (both are items).
    pub duplicates: u64,
    /// Route files written.
    pub route_files: u64,
    /// Points in the route files written.
    pub route_points: u64,
}

impl GeneratedExport {
    /// All items an importer should hand on.
    pub fn total_items(&self) -> u64 {
        self.items.values().sum()
    }
}

/// A tiny linear congruential generator: deterministic across platforms and versions, which a
/// library's generator does not promise.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Who wrote a record.
struct Source {
    name: &'static str,
    /// The name with a vertical tab inside, as some exports carry it.
    name_with_control_char: &'static str,
    version: &'static str,
    /// The ` device="…"` attribute, escaped as in the file, or empty.
    device: &'static str,
}

const PHONE: Source = Source {
    name: "Alex’s iPhone",
    name_with_control_char: "Alex’s i\x0bPhone",
    version: "16.1",
    device: " device=\"&lt;&lt;HKDevice: 0x2830c1e00&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, \
             hardware:iPhone14,5, software:16.1&gt;\"",
};

const WATCH: Source = Source {
    name: "Alex’s Apple Watch",
    name_with_control_char: "Alex’s Apple\x0b Watch",
    version: "9.1",
    device: " device=\"&lt;&lt;HKDevice: 0x2830c2f80&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, \
             hardware:Watch6,2, software:9.1&gt;\"",
};

const SCALE: Source = Source {
    name: "Health Mate",
    name_with_control_char: "Health\x1f Mate",
    version: "6.2.1",
    device: "",
};

/// One quantity type: what its records look like.
struct Quantity {
    identifier: &'static str,
    datasource: &'static str,
    unit: &'static str,
    /// Share of the file.
    share: f64,
    /// Seconds between records, on average.
    every: u64,
    sources: &'static [&'static Source],
    /// Writes a value from a random number.
    value: fn(&mut Vec<u8>, &mut Lcg),
    /// Whether records carry a `<MetadataEntry>` child.
    metadata: Option<&'static str>,
}

const QUANTITIES: &[Quantity] = &[
    Quantity {
        identifier: "HKQuantityTypeIdentifierStepCount",
        datasource: "step-count",
        unit: "count",
        share: 0.22,
        every: 600,
        sources: &[&PHONE, &WATCH],
        value: |line, random| {
            let _ = write!(line, "{}", 8 + random.below(892));
        },
        metadata: None,
    },
    Quantity {
        identifier: "HKQuantityTypeIdentifierDistanceWalkingRunning",
        datasource: "distance-walking-running",
        unit: "km",
        share: 0.12,
        every: 600,
        sources: &[&PHONE],
        value: |line, random| {
            let _ = write!(line, "0.{:03}", 5 + random.below(900));
        },
        metadata: None,
    },
    Quantity {
        identifier: "HKQuantityTypeIdentifierActiveEnergyBurned",
        datasource: "active-energy-burned",
        unit: "kcal",
        share: 0.18,
        every: 300,
        sources: &[&WATCH],
        value: |line, random| {
            let _ = write!(line, "{}.{:03}", random.below(6), random.below(1000));
        },
        metadata: None,
    },
    Quantity {
        identifier: "HKQuantityTypeIdentifierHeartRate",
        datasource: "heart-rate",
        unit: "count/min",
        share: 0.40,
        every: 240,
        sources: &[&WATCH],
        value: |line, random| {
            let _ = write!(line, "{}", 48 + random.below(127));
        },
        metadata: Some("HKMetadataKeyHeartRateMotionContext"),
    },
    Quantity {
        identifier: "HKQuantityTypeIdentifierBodyMass",
        datasource: "body-mass",
        unit: "kg",
        share: 0.003,
        every: 7 * 86_400,
        sources: &[&SCALE],
        value: |line, random| {
            let _ = write!(line, "{}.{}", 68 + random.below(6), random.below(10));
        },
        metadata: Some("HKWasUserEntered"),
    },
];

/// 2022-01-01 00:00:00 UTC: where every series starts.
const EPOCH_START: i64 = 1_640_995_200;

/// The least of each kind, so that even a small file holds every kind.
const AT_LEAST: u64 = 3;

/// Damage, every so many records (primes, so that they rarely coincide; a record gets one kind).
const MISSING_VALUE_EVERY: u64 = 2003;
const BAD_DATE_EVERY: u64 = 2011;
const CONTROL_CHAR_EVERY: u64 = 1009;
const DUPLICATE_EVERY: u64 = 4001;

/// Writes `export.xml` (or `export.zip`) with its routes into `folder` and says what it holds.
pub fn apple_health_export(folder: &Path, options: &HealthExportOptions) -> io::Result<GeneratedExport> {
    let export_folder = folder.join("apple_health_export");
    let mut generated = GeneratedExport::default();
    let mut writer = Writer::new(options.seed);
    if options.zip {
        let path = folder.join("export.zip");
        let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, File::create(&path)?));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(options.target_bytes > u64::from(u32::MAX) / 2);
        zip.add_directory("apple_health_export/", deflated)?;
        zip.start_file("apple_health_export/export.xml", deflated)?;
        let mut xml = Counting {
            inner: &mut zip,
            written: 0,
        };
        writer.export_xml(&mut xml, options.target_bytes)?;
        generated.xml_bytes = xml.written;
        // Other XML files an export holds, and the AppleDouble shadow a Mac adds when re-zipping:
        // neither is the export.
        zip.start_file("apple_health_export/export_cda.xml", deflated)?;
        zip.write_all(
            b"<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"></ClinicalDocument>\n",
        )?;
        zip.start_file("__MACOSX/apple_health_export/._export.xml", deflated)?;
        zip.write_all(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        <HealthData")?;
        for route in &writer.routes {
            if route.written {
                zip.start_file(
                    format!("apple_health_export/workout-routes/{}", route.name),
                    deflated,
                )?;
                write_gpx(&mut zip, route)?;
            }
        }
        zip.finish()?.flush()?;
        generated.path = path;
    } else {
        fs::create_dir_all(export_folder.join("workout-routes"))?;
        let path = export_folder.join("export.xml");
        let mut xml = Counting {
            inner: BufWriter::with_capacity(1 << 20, File::create(&path)?),
            written: 0,
        };
        writer.export_xml(&mut xml, options.target_bytes)?;
        xml.flush()?;
        generated.xml_bytes = xml.written;
        for route in &writer.routes {
            if route.written {
                let file = File::create(export_folder.join("workout-routes").join(&route.name))?;
                let mut file = BufWriter::new(file);
                write_gpx(&mut file, route)?;
                file.flush()?;
            }
        }
        generated.path = path;
    }
    generated.records = writer.records;
    generated.items = writer.items;
    generated.skips = writer.skips;
    generated.control_chars = writer.control_chars;
    generated.duplicates = writer.duplicates;
    generated.route_files = writer.routes.iter().filter(|route| route.written).count() as u64;
    generated.route_points = writer
        .routes
        .iter()
        .filter(|route| route.written)
        .map(|route| route.points)
        .sum();
    Ok(generated)
}

/// A workout route to write once the export is written (a zip takes one entry at a time).
struct Route {
    name: String,
    start: i64,
    points: u64,
    seed: u64,
    /// False for the routes left out on purpose (the export names them, the folder lacks them).
    written: bool,
}

struct Writer {
    random: Lcg,
    line: Vec<u8>,
    records: u64,
    items: BTreeMap<String, u64>,
    skips: BTreeMap<String, u64>,
    control_chars: u64,
    duplicates: u64,
    routes: Vec<Route>,
}

impl Writer {
    fn new(seed: u64) -> Self {
        Self {
            random: Lcg(seed ^ 0x05ee_d0fa_991e),
            line: Vec::with_capacity(1024),
            records: 0,
            items: BTreeMap::new(),
            skips: BTreeMap::new(),
            control_chars: 0,
            duplicates: 0,
            routes: Vec::new(),
        }
    }

    fn item(&mut self, datasource: &str) {
        *self.items.entry(datasource.to_owned()).or_default() += 1;
    }

    fn skip(&mut self, reason: &str) {
        *self.skips.entry(reason.to_owned()).or_default() += 1;
    }

    fn export_xml(&mut self, out: &mut Counting<impl Write>, target: u64) -> io::Result<()> {
        out.write_all(HEADER.as_bytes())?;
        writeln!(
            out,
            " <ExportDate value=\"{}\"/>",
            AppleDate(EPOCH_START + 800 * 86_400)
        )?;
        out.write_all(ME.as_bytes())?;
        for quantity in QUANTITIES {
            let budget = out.written + (target as f64 * quantity.share) as u64;
            self.quantity_records(out, quantity, budget)?;
        }
        self.blood_pressure(out, out.written + (target as f64 * 0.002) as u64)?;
        self.sleep(out, out.written + (target as f64 * 0.03) as u64)?;
        self.stand_hours(out, out.written + (target as f64 * 0.015) as u64)?;
        // Kinds the importer does not take: counted as skips, by name.
        out.write_all(CLINICAL_RECORD.as_bytes())?;
        self.skip(&format!("{}: ClinicalRecord", reasons::ELEMENT_NOT_IMPORTED));
        self.workouts(out, out.written + (target as f64 * 0.0015) as u64)?;
        self.activity_summaries(out, out.written + (target as f64 * 0.0005) as u64)?;
        // Whatever is left of the target goes to more heart rates, so the size is met.
        if out.written < target {
            self.quantity_records(out, &QUANTITIES[3], target)?;
        }
        out.write_all(b"</HealthData>\n")
    }

    fn quantity_records(
        &mut self,
        out: &mut Counting<impl Write>,
        quantity: &Quantity,
        budget: u64,
    ) -> io::Result<()> {
        let mut time = EPOCH_START + self.random.below(quantity.every) as i64;
        let mut written = 0u64;
        while out.written < budget || written < AT_LEAST {
            written += 1;
            self.records += 1;
            let number = self.records;
            let source = quantity.sources[(number % quantity.sources.len() as u64) as usize];
            let duration = self.random.below(quantity.every.min(600)) as i64;
            let start = time;
            let end = time + duration;
            time += (quantity.every / 2 + self.random.below(quantity.every)) as i64;

            let line = &mut self.line;
            line.clear();
            let _ = write!(line, " <Record type=\"{}\" sourceName=\"", quantity.identifier);
            if number % CONTROL_CHAR_EVERY == 7 {
                line.extend_from_slice(source.name_with_control_char.as_bytes());
                self.control_chars += 1;
            } else {
                line.extend_from_slice(source.name.as_bytes());
            }
            let _ = write!(
                line,
                "\" sourceVersion=\"{}\"{} unit=\"{}\" creationDate=\"{}\" startDate=\"",
                source.version,
                source.device,
                quantity.unit,
                AppleDate(end + 30)
            );
            let bad_date = number % BAD_DATE_EVERY == 11;
            if bad_date {
                // February has no 30th.
                line.extend_from_slice(b"2022-02-30 08:00:00 -0800");
            } else {
                let _ = write!(line, "{}", AppleDate(start));
            }
            let _ = write!(line, "\" endDate=\"{}\"", AppleDate(end));
            let missing_value = !bad_date && number % MISSING_VALUE_EVERY == 5;
            if missing_value {
                line.extend_from_slice(b" value=\"\"");
            } else {
                line.extend_from_slice(b" value=\"");
                (quantity.value)(line, &mut self.random);
                line.push(b'"');
            }
            match quantity.metadata {
                Some(key) => {
                    let _ = write!(line, ">\n  <MetadataEntry key=\"{key}\" value=\"");
                    if number % CONTROL_CHAR_EVERY == 500 {
                        // A unit separator inside a metadata value.
                        line.extend_from_slice(b"1\x1f");
                        self.control_chars += 1;
                    } else {
                        let _ = write!(line, "{}", self.random.below(2));
                    }
                    line.extend_from_slice(b"\"/>\n </Record>\n");
                }
                None => line.extend_from_slice(b"/>\n"),
            }
            out.write_all(&self.line)?;
            if bad_date {
                self.skip(reasons::BAD_DATE);
            } else if missing_value {
                self.skip(reasons::NO_NUMERIC_VALUE);
            } else {
                self.item(quantity.datasource);
                if number % DUPLICATE_EVERY == 13 {
                    // The same record twice, byte for byte, as exports merged from two phones carry.
                    out.write_all(&self.line)?;
                    self.records += 1;
                    self.duplicates += 1;
                    self.item(quantity.datasource);
                    self.control_chars += self
                        .line
                        .iter()
                        .filter(|&&byte| byte == 0x0b || byte == 0x1f)
                        .count() as u64;
                }
            }
        }
        Ok(())
    }

    /// Blood pressure: the two records at the top level, and the correlation that repeats them
    /// (the importer must take them once).
    fn blood_pressure(&mut self, out: &mut Counting<impl Write>, budget: u64) -> io::Result<()> {
        let mut time = EPOCH_START + 3600;
        let mut written = 0;
        while out.written < budget || written < AT_LEAST {
            written += 1;
            let systolic = 105 + self.random.below(30);
            let diastolic = 65 + self.random.below(20);
            let date = AppleDate(time);
            let record = |kind: &str, value: u64, indent: &str| {
                format!(
                    "{indent}<Record type=\"HKQuantityTypeIdentifierBloodPressure{kind}\" sourceName=\"Health Mate\" \
                     sourceVersion=\"6.2.1\" unit=\"mmHg\" creationDate=\"{date}\" startDate=\"{date}\" \
                     endDate=\"{date}\" value=\"{value}\"/>\n"
                )
            };
            out.write_all(record("Systolic", systolic, " ").as_bytes())?;
            out.write_all(record("Diastolic", diastolic, " ").as_bytes())?;
            write!(
                out,
                " <Correlation type=\"HKCorrelationTypeIdentifierBloodPressure\" sourceName=\"Health Mate\" \
                 sourceVersion=\"6.2.1\" creationDate=\"{date}\" startDate=\"{date}\" endDate=\"{date}\">\n  \
                 <MetadataEntry key=\"HKWasUserEntered\" value=\"0\"/>\n {} {} </Correlation>\n",
                record("Systolic", systolic, " "),
                record("Diastolic", diastolic, " ")
            )?;
            self.records += 2;
            self.item("blood-pressure-systolic");
            self.item("blood-pressure-diastolic");
            time += 86_400 * (2 + self.random.below(5) as i64);
        }
        Ok(())
    }

    fn sleep(&mut self, out: &mut Counting<impl Write>, budget: u64) -> io::Result<()> {
        const STAGES: [&str; 5] = [
            "HKCategoryValueSleepAnalysisInBed",
            "HKCategoryValueSleepAnalysisAsleepCore",
            "HKCategoryValueSleepAnalysisAsleepDeep",
            "HKCategoryValueSleepAnalysisAsleepREM",
            "HKCategoryValueSleepAnalysisAwake",
        ];
        let mut time = EPOCH_START + 7 * 3600;
        let mut written = 0;
        while out.written < budget || written < AT_LEAST {
            written += 1;
            let length = 300 + self.random.below(3000) as i64;
            let stage = STAGES[self.random.below(STAGES.len() as u64) as usize];
            write!(
                out,
                " <Record type=\"HKCategoryTypeIdentifierSleepAnalysis\" sourceName=\"{}\" sourceVersion=\"{}\"{} \
                 creationDate=\"{}\" startDate=\"{}\" endDate=\"{}\" value=\"{stage}\">\n  \
                 <MetadataEntry key=\"HKTimeZone\" value=\"America/Los_Angeles\"/>\n </Record>\n",
                WATCH.name,
                WATCH.version,
                WATCH.device,
                AppleDate(time + length + 3600),
                AppleDate(time),
                AppleDate(time + length),
            )?;
            self.records += 1;
            self.item("sleep-analysis");
            time += length + self.random.below(600) as i64;
        }
        Ok(())
    }

    fn stand_hours(&mut self, out: &mut Counting<impl Write>, budget: u64) -> io::Result<()> {
        let mut time = EPOCH_START + 8 * 3600;
        let mut written = 0;
        while out.written < budget || written < AT_LEAST {
            written += 1;
            let value = if self.random.below(3) == 0 {
                "Idle"
            } else {
                "Stood"
            };
            writeln!(
                out,
                " <Record type=\"HKCategoryTypeIdentifierAppleStandHour\" sourceName=\"{}\" sourceVersion=\"{}\"{} \
                 creationDate=\"{}\" startDate=\"{}\" endDate=\"{}\" value=\"HKCategoryValueAppleStandHour{value}\"/>",
                WATCH.name,
                WATCH.version,
                WATCH.device,
                AppleDate(time + 3700),
                AppleDate(time),
                AppleDate(time + 3600),
            )?;
            self.records += 1;
            self.item("apple-stand-hour");
            time += 3600;
        }
        Ok(())
    }

    fn workouts(&mut self, out: &mut Counting<impl Write>, budget: u64) -> io::Result<()> {
        const KINDS: [(&str, bool); 4] = [
            ("HKWorkoutActivityTypeRunning", true),
            ("HKWorkoutActivityTypeWalking", true),
            ("HKWorkoutActivityTypeCycling", true),
            ("HKWorkoutActivityTypeYoga", false),
        ];
        let mut number = 0u64;
        while out.written < budget || number < AT_LEAST + 1 {
            let day = EPOCH_START + number as i64 * 86_400;
            number += 1;
            let start = day + 15 * 3600 + self.random.below(3 * 3600) as i64;
            let minutes = 20 + self.random.below(60) as i64;
            let end = start + minutes * 60;
            let (kind, with_route) = KINDS[(number % KINDS.len() as u64) as usize];
            let bad_date = number % 50 == 7;
            let start_text = if bad_date {
                "2022-01-01 99:00:00 -0800".to_owned()
            } else {
                AppleDate(start).to_string()
            };
            write!(
                out,
                " <Workout workoutActivityType=\"{kind}\" duration=\"{minutes}.5\" durationUnit=\"min\" \
                 sourceName=\"{}\" sourceVersion=\"{}\"{} creationDate=\"{}\" startDate=\"{start_text}\" \
                 endDate=\"{}\">\n  <MetadataEntry key=\"HKIndoorWorkout\" value=\"0\"/>\n  \
                 <MetadataEntry key=\"HKTimeZone\" value=\"America/Los_Angeles\"/>\n  \
                 <WorkoutEvent type=\"HKWorkoutEventTypePause\" date=\"{}\"/>\n  \
                 <WorkoutEvent type=\"HKWorkoutEventTypeResume\" date=\"{}\"/>\n  \
                 <WorkoutStatistics type=\"HKQuantityTypeIdentifierActiveEnergyBurned\" startDate=\"{}\" \
                 endDate=\"{}\" sum=\"{}.{}\" unit=\"kcal\"/>\n  \
                 <WorkoutStatistics type=\"HKQuantityTypeIdentifierHeartRate\" startDate=\"{}\" endDate=\"{}\" \
                 average=\"{}\" minimum=\"{}\" maximum=\"{}\" unit=\"count/min\"/>\n",
                WATCH.name,
                WATCH.version,
                WATCH.device,
                AppleDate(end + 60),
                AppleDate(end),
                AppleDate(start + 300),
                AppleDate(start + 360),
                AppleDate(start),
                AppleDate(end),
                minutes * 9,
                self.random.below(10),
                AppleDate(start),
                AppleDate(end),
                120 + self.random.below(30),
                90 + self.random.below(20),
                155 + self.random.below(30),
            )?;
            if with_route {
                let name = route_name(start);
                // Every so often the export names a route whose file is not there.
                let written = number % 25 != 2;
                write!(
                    out,
                    "  <WorkoutRoute sourceName=\"{}\" sourceVersion=\"{}\" creationDate=\"{}\" startDate=\"{}\" \
                     endDate=\"{}\">\n   <MetadataEntry key=\"HKMetadataKeySyncVersion\" value=\"2\"/>\n   \
                     <FileReference path=\"/workout-routes/{name}\"/>\n  </WorkoutRoute>\n",
                    PHONE.name,
                    PHONE.version,
                    AppleDate(end + 120),
                    AppleDate(start),
                    AppleDate(end),
                )?;
                if !bad_date {
                    if written {
                        self.routes.push(Route {
                            name,
                            start,
                            points: (minutes as u64 * 60 / 5).min(120 + self.random.below(360)),
                            seed: self.random.next(),
                            written,
                        });
                    } else {
                        self.skip(reasons::ROUTE_MISSING);
                    }
                }
            }
            out.write_all(b" </Workout>\n")?;
            if bad_date {
                self.skip(reasons::WORKOUT_BAD_DATE);
            } else {
                self.item(WORKOUTS);
            }
        }
        Ok(())
    }

    fn activity_summaries(&mut self, out: &mut Counting<impl Write>, budget: u64) -> io::Result<()> {
        let mut day = EPOCH_START;
        let mut written = 0;
        while out.written < budget || written < AT_LEAST {
            written += 1;
            let date = AppleDate(day).to_string();
            writeln!(
                out,
                " <ActivitySummary dateComponents=\"{}\" activeEnergyBurned=\"{}.{}\" activeEnergyBurnedGoal=\"600\" \
                 activeEnergyBurnedUnit=\"kcal\" appleMoveTime=\"0\" appleMoveTimeGoal=\"0\" \
                 appleExerciseTime=\"{}\" appleExerciseTimeGoal=\"30\" appleStandHours=\"{}\" \
                 appleStandHoursGoal=\"12\"/>",
                &date[..10],
                200 + self.random.below(600),
                self.random.below(1000),
                self.random.below(90),
                6 + self.random.below(10),
            )?;
            self.item(ACTIVITY_SUMMARIES);
            day += 86_400;
        }
        Ok(())
    }
}

/// Apple's route file name: `route_2022-01-03_3.15pm.gpx` (local time).
fn route_name(start: i64) -> String {
    let local = start + offset_seconds(start);
    let (year, month, day) = civil_from_days(local.div_euclid(86_400));
    let seconds = local.rem_euclid(86_400);
    let (hour, minute) = (seconds / 3600, seconds % 3600 / 60);
    let (hour12, half) = match hour {
        0 => (12, "am"),
        1..=11 => (hour, "am"),
        12 => (12, "pm"),
        _ => (hour - 12, "pm"),
    };
    format!("route_{year:04}-{month:02}-{day:02}_{hour12}.{minute:02}{half}.gpx")
}

fn write_gpx(out: &mut impl Write, route: &Route) -> io::Result<()> {
    let mut random = Lcg(route.seed);
    write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"Apple Health Export\" \
         xmlns=\"http://www.topografix.com/GPX/1/1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd\">\n  \
         <metadata>\n    <time>{}</time>\n  </metadata>\n  <trk>\n    <name>Route</name>\n    <trkseg>\n",
        IsoTime(route.start)
    )?;
    let (mut latitude, mut longitude) = (37.7749 + random.below(100) as f64 / 1000.0, -122.4194);
    for point in 0..route.points {
        latitude += (random.below(200) as f64 - 90.0) / 1_000_000.0;
        longitude += (random.below(200) as f64 - 90.0) / 1_000_000.0;
        writeln!(
            out,
            "      <trkpt lon=\"{longitude:.6}\" lat=\"{latitude:.6}\"><ele>{}.{:06}</ele><time>{}</time>\
             <extensions><speed>{}.{:06}</speed><course>{}.{:06}</course><hAcc>{}.{:06}</hAcc>\
             <vAcc>{}.{:06}</vAcc></extensions></trkpt>",
            5 + random.below(30),
            random.below(1_000_000),
            IsoTime(route.start + point as i64 * 5),
            random.below(4),
            random.below(1_000_000),
            random.below(360),
            random.below(1_000_000),
            2 + random.below(10),
            random.below(1_000_000),
            2 + random.below(8),
            random.below(1_000_000),
        )?;
    }
    out.write_all(b"    </trkseg>\n  </trk>\n</gpx>\n")
}

/// The offset of local time (US Pacific, roughly: summer time from April to October).
fn offset_seconds(utc: i64) -> i64 {
    let (_, month, _) = civil_from_days(utc.div_euclid(86_400));
    if (4..=10).contains(&month) {
        -7 * 3600
    } else {
        -8 * 3600
    }
}

/// An export date, `2022-01-03 07:15:00 -0800`, from epoch seconds.
struct AppleDate(i64);

impl std::fmt::Display for AppleDate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offset = offset_seconds(self.0);
        let local = self.0 + offset;
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let seconds = local.rem_euclid(86_400);
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.abs();
        write!(
            formatter,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60,
            offset / 3600,
            offset % 3600 / 60
        )
    }
}

/// A GPX time, `2022-01-03T15:15:00Z`, from epoch seconds.
struct IsoTime(i64);

impl std::fmt::Display for IsoTime {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (year, month, day) = civil_from_days(self.0.div_euclid(86_400));
        let seconds = self.0.rem_euclid(86_400);
        write!(
            formatter,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        )
    }
}

/// The start of an export as iOS 16 writes it: the declaration, then the internal DTD of
/// "HealthKit Export Version: 12", which is not well-formed (its `VisionPrescription` attribute
/// list is never closed, so `RightEye`/`LeftEye` end up inside it; a stray attribute line, a second
/// `MetadataEntry` declaration and lone `>` lines follow before `]>`).
const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 12 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord|Audiogram|VisionPrescription)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ATTLIST Me
  HKCharacteristicTypeIdentifierDateOfBirth         CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBiologicalSex       CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBloodType           CDATA #REQUIRED
  HKCharacteristicTypeIdentifierFitzpatrickSkinType CDATA #REQUIRED
  HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!-- Note: Any Records that appear as children of a correlation also appear as top-level records in this document. -->
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ATTLIST Correlation
  type          CDATA #REQUIRED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>
<!ATTLIST Workout
  workoutActivityType   CDATA #REQUIRED
  duration              CDATA #IMPLIED
  durationUnit          CDATA #IMPLIED
  sourceName            CDATA #REQUIRED
  sourceVersion         CDATA #IMPLIED
  device                CDATA #IMPLIED
  creationDate          CDATA #IMPLIED
  startDate             CDATA #REQUIRED
  endDate               CDATA #REQUIRED
>
<!ELEMENT WorkoutEvent EMPTY>
<!ATTLIST WorkoutEvent
  type         CDATA #REQUIRED
  date         CDATA #REQUIRED
  duration     CDATA #IMPLIED
  durationUnit CDATA #IMPLIED
>
<!ELEMENT WorkoutStatistics EMPTY>
<!ATTLIST WorkoutStatistics
  type      CDATA #REQUIRED
  startDate CDATA #REQUIRED
  endDate   CDATA #REQUIRED
  average   CDATA #IMPLIED
  minimum   CDATA #IMPLIED
  maximum   CDATA #IMPLIED
  sum       CDATA #IMPLIED
>
<!ELEMENT WorkoutRoute ((MetadataEntry|FileReference)*)>
<!ATTLIST WorkoutRoute
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT FileReference EMPTY>
<!ATTLIST FileReference
  path CDATA #REQUIRED
>
<!ELEMENT ActivitySummary EMPTY>
<!ATTLIST ActivitySummary
  dateComponents           CDATA #IMPLIED
  activeEnergyBurned       CDATA #IMPLIED
  activeEnergyBurnedGoal   CDATA #IMPLIED
  activeEnergyBurnedUnit   CDATA #IMPLIED
  appleMoveTime            CDATA #IMPLIED
  appleMoveTimeGoal        CDATA #IMPLIED
  appleExerciseTime        CDATA #IMPLIED
  appleExerciseTimeGoal    CDATA #IMPLIED
  appleStandHours          CDATA #IMPLIED
  appleStandHoursGoal      CDATA #IMPLIED
>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
<!ELEMENT VisionPrescription ((RightEye|LeftEye|Attachment|MetadataEntry)*)>
<!ATTLIST VisionPrescription
  type             CDATA #REQUIRED
  dateIssued       CDATA #REQUIRED
  expirationDate   CDATA #IMPLIED
  brand            CDATA #IMPLIED
<!ELEMENT RightEye EMPTY>
<!ATTLIST RightEye
  sphere           CDATA #IMPLIED
  sphereUnit       CDATA #IMPLIED
  cylinder         CDATA #IMPLIED
  axis             CDATA #IMPLIED
>
<!ELEMENT LeftEye EMPTY>
<!ATTLIST LeftEye
  sphere           CDATA #IMPLIED
  sphereUnit       CDATA #IMPLIED
  cylinder         CDATA #IMPLIED
  axis             CDATA #IMPLIED
>
  device           CDATA #IMPLIED
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
>
>
]>
<HealthData locale="en_US">
"#;

const ME: &str = " <Me HKCharacteristicTypeIdentifierDateOfBirth=\"1988-04-02\" \
                  HKCharacteristicTypeIdentifierBiologicalSex=\"HKBiologicalSexFemale\" \
                  HKCharacteristicTypeIdentifierBloodType=\"HKBloodTypeNotSet\" \
                  HKCharacteristicTypeIdentifierFitzpatrickSkinType=\"HKFitzpatrickSkinTypeNotSet\" \
                  HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse=\"None\"/>\n";

const CLINICAL_RECORD: &str = " <ClinicalRecord type=\"HKClinicalTypeIdentifierLabResultRecord\" \
                               identifier=\"a1\" sourceName=\"Clinic\" sourceURL=\"https://fhir.example/\" \
                               fhirVersion=\"4.0.1\" receivedDate=\"2022-03-01 10:00:00 -0800\" \
                               resourceFilePath=\"/clinical-records/a1.json\"/>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_in_the_export_format() {
        assert_eq!(AppleDate(1_560_290_400).to_string(), "2019-06-11 15:00:00 -0700");
        assert_eq!(AppleDate(1_640_995_200).to_string(), "2021-12-31 16:00:00 -0800");
        assert_eq!(IsoTime(1_560_290_442).to_string(), "2019-06-11T22:00:42Z");
        assert_eq!(route_name(1_560_290_400), "route_2019-06-11_3.00pm.gpx");
    }
}
