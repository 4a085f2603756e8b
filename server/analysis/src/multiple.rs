//! Corrections for many tests at once: comparing 40 markets against one at α = 0.05 finds
//! two "significant" differences by chance alone.

/// Holm's step-down adjusted p-values (Holm 1979), in the order given: sort ascending,
/// p̃₍ᵢ₎ = max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). Rejecting where p̃ < α controls the
/// family-wise error rate at α, and is never less powerful than Bonferroni.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &index) in order.iter().enumerate() {
        let candidate = ((m - rank) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(candidate);
        adjusted[index] = running_max;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_matches_r_p_adjust() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") → 0.03 0.06 0.06 0.02
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (a, e) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
    }

    #[test]
    fn holm_never_lowers_a_p_value_and_caps_at_one() {
        let p = [0.5, 0.2, 0.9];
        let adjusted = holm(&p);
        assert!(adjusted.iter().zip(p).all(|(a, p)| *a >= p && *a <= 1.0));
        assert_eq!(holm(&[0.03]), vec![0.03]);
        assert!(holm(&[]).is_empty());
    }
}
