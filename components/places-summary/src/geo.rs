//! Distances on the Earth: the haversine formula for what is summed, and a flat approximation
//! for the many short comparisons of stay detection (no trigonometry per pair).

/// The Earth's mean radius in metres (IUGG). The haversine on a sphere of this radius is within
/// 0.6% of the distance on the WGS84 ellipsoid everywhere (0.5% away from the tropics), far less
/// than what GPS noise and cut corners cost.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The great-circle distance in metres between two positions in degrees.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    // `min` guards asin against rounding just above 1 for antipodal points.
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Metres per degree of latitude on the sphere of [`EARTH_RADIUS_M`].
pub const M_PER_DEG: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// Whether two positions are within `radius_m` of each other, by the equirectangular
/// approximation: `cos_lat1` is the cosine of the first latitude, computed once per fix by the
/// caller. Within a few hundred metres it agrees with the haversine to well under a metre.
pub fn within(lat1: f64, lon1: f64, cos_lat1: f64, lat2: f64, lon2: f64, radius_m: f64) -> bool {
    let mut dl = lon2 - lon1;
    // Longitudes across the antimeridian are brought next to each other.
    if dl > 180.0 {
        dl -= 360.0;
    } else if dl < -180.0 {
        dl += 360.0;
    }
    let x = dl * M_PER_DEG * cos_lat1;
    let y = (lat2 - lat1) * M_PER_DEG;
    x * x + y * y <= radius_m * radius_m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of one degree of latitude along a meridian on the WGS84 ellipsoid at `lat`,
    /// from the meridional radius of curvature: the true distance the sphere approximates.
    fn wgs84_m_per_deg_lat(lat: f64) -> f64 {
        let a = 6_378_137.0_f64;
        let e2 = 0.006_694_379_990_14_f64;
        let s = lat.to_radians().sin();
        let m = a * (1.0 - e2) / (1.0 - e2 * s * s).powf(1.5);
        m * std::f64::consts::PI / 180.0
    }

    #[test]
    fn a_kilometre_along_a_meridian_is_a_kilometre_within_half_a_percent() {
        for lat in [30.0, 52.52, 70.0, -45.0] {
            let dlat = 1000.0 / wgs84_m_per_deg_lat(lat);
            let d = haversine_m(lat, 13.4, lat + dlat, 13.4);
            assert!((d - 1000.0).abs() < 5.0, "at {lat}: {d}");
        }
        // Meridians are flattest at the equator, where the sphere is furthest off.
        let d = haversine_m(0.0, 13.4, 1000.0 / wgs84_m_per_deg_lat(0.0), 13.4);
        assert!((d - 1000.0).abs() < 6.0, "at the equator: {d}");
    }

    #[test]
    fn known_distances() {
        // Berlin Hauptbahnhof to Munich Hauptbahnhof: 504 km as the crow flies.
        let d = haversine_m(52.5251, 13.3694, 48.1402, 11.5600);
        assert!((d - 504_000.0).abs() < 2_500.0, "{d}");
        assert_eq!(haversine_m(10.0, 20.0, 10.0, 20.0), 0.0);
        // A quarter of the equator.
        let q = haversine_m(0.0, 0.0, 0.0, 90.0);
        assert!((q - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        // Antipodes do not give NaN.
        assert!(haversine_m(0.0, 0.0, 0.0, 180.0).is_finite());
    }

    #[test]
    fn the_flat_test_agrees_with_the_haversine_nearby() {
        let (lat, lon) = (52.52_f64, 13.405);
        let c = lat.to_radians().cos();
        for (lat2, lon2) in [
            (52.521, 13.406),
            (52.5186, 13.4031),
            (52.5213, 13.405),
            (52.5214, 13.405),
        ] {
            let d = haversine_m(lat, lon, lat2, lon2);
            for r in [d - 0.5, d + 0.5] {
                assert_eq!(within(lat, lon, c, lat2, lon2, r), d <= r, "{d} against {r}");
            }
        }
        // Across the antimeridian: 22 m apart, not 40,000 km.
        assert!(within(0.0, 179.9999, 1.0, 0.0, -179.9999, 25.0));
    }
}
