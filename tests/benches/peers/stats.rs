//! Order statistics over measurements.

/// The median; the mean of the two middle values for an even count.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "a median needs at least one value");
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The value below which `fraction` of the values lie (nearest rank).
pub(crate) fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    assert!(!values.is_empty(), "a percentile needs at least one value");
    values.sort_by(f64::total_cmp);
    let rank = (fraction * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}
