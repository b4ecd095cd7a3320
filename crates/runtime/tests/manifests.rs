//! Every manifest in `manifests/bad/` is refused with the message in its `.error` file, and every
//! manifest in `manifests/good/` is accepted — the fixtures are the specification of the errors.

use std::path::Path;

use databox_runtime::Manifest;

fn files(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests")
        .join(dir);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn every_bad_manifest_is_refused_with_its_message() {
    let bad = files("bad", "toml");
    assert!(bad.len() >= 15, "{}", bad.len());
    for path in bad {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = std::fs::read_to_string(path.with_extension("error")).unwrap();
        let err = Manifest::parse(&text)
            .expect_err(&format!("{} was accepted", path.display()))
            .to_string();
        assert!(
            err.contains(expected.trim()),
            "{}:\n  got:      {err}\n  expected: {}",
            path.display(),
            expected.trim()
        );
    }
}

#[test]
fn the_good_manifests_are_accepted_and_reviewed_in_plain_language() {
    for path in files("good", "toml") {
        let m = Manifest::parse(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let review = m.review();
        assert!(review.len() >= 3, "{review:?}");
    }
    let chart = Manifest::parse(
        &std::fs::read_to_string(files("good", "toml")[0].with_file_name("hourly-chart.toml")).unwrap(),
    )
    .unwrap();
    let review = chart.review().join("\n");
    assert!(
        review.contains(
            "Required: it wants to read and watch for new your temperature data, to draw an hourly chart."
        ),
        "{review}"
    );
    assert!(
        review.contains("Optional: it wants to read your humidity data (hourly statistics only)"),
        "{review}"
    );
    assert!(
        review.contains("send data out of your box to https://research.example.org/upload/"),
        "{review}"
    );
    assert!(review.contains("cannot connect to the Internet"), "{review}");
}

#[test]
#[ignore = "prints every error, for people reviewing the messages"]
fn print_errors() {
    for path in files("bad", "toml") {
        let err = Manifest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap_err();
        println!("{}: {err}\n", path.file_name().unwrap().to_string_lossy());
    }
}
