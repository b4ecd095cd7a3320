//! The box's one location document shape lives in its own crate, `databox-location`, shared
//! with the components that write and read locations; re-exported here for the importers.

pub use databox_location::*;

impl From<Series> for crate::SeriesMeta {
    fn from(series: Series) -> crate::SeriesMeta {
        crate::SeriesMeta {
            r#type: series.r#type.to_owned(),
            unit: None,
            description: series.description.to_owned(),
        }
    }
}
