//! The app's copy of the location shapes (`src/location.rs`) against the canonical module
//! (`crates/import/src/location.rs`): every item of the copy must read as in the canonical
//! module, whitespace aside, so that a change there is not silently missed here. Skipped with a
//! message when the canonical module is not beside the component (a component built alone).

use std::path::Path;

/// The canonical module's items up to the part a copy leaves out, without comments.
fn items(source: &str) -> Vec<String> {
    let end = source
        .find("// The one tie to the importer crate")
        .unwrap_or(source.len());
    let code: String = source[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
        .collect::<Vec<_>>()
        .join(" ");
    // One item per top-level `pub` declaration, compared with its whitespace squeezed.
    code.split(" pub ")
        .map(|item| item.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|item| item.replace(", }", " }").replace(",)", ")").replace(", ]", " ]"))
        .filter(|item| !item.is_empty())
        .collect()
}

#[test]
fn the_copy_of_the_location_shapes_matches_the_canonical_module() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let canonical = here.join("../../crates/import/src/location.rs");
    let Ok(canonical) = std::fs::read_to_string(&canonical) else {
        println!(
            "skipped: the canonical module {} is not there",
            canonical.display()
        );
        return;
    };
    let copy = std::fs::read_to_string(here.join("src/location.rs")).unwrap();
    let (canonical, copy) = (items(&canonical), items(&copy));
    for item in &canonical {
        assert!(
            copy.contains(item),
            "the canonical module has an item the copy does not have as it is; copy it again:\n{item}"
        );
    }
    assert_eq!(
        copy.len(),
        canonical.len(),
        "the copy has items the canonical module does not"
    );
}
