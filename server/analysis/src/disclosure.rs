//! The one rule of disclosure (server/DESIGN.md, "Metrics — the math"): a figure computed from fewer responses
//! than the privacy floor is withheld (its `n` is still shown), and one from fewer than
//! `n_min` is shown flagged `low_n`. Every route applies it through `Thresholds`, so the rule
//! cannot drift between endpoints.

/// The two thresholds of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Below this many responses, values are withheld.
    pub privacy_floor: u64,
    /// Below this many responses, a figure is flagged `low_n` (and does not enter a
    /// standardised comparison).
    pub n_min: u64,
}

/// What may be shown of a figure computed from `n` responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disclosure {
    /// Read with care.
    pub low_n: bool,
    /// Values withheld.
    pub suppressed: bool,
}

impl Thresholds {
    /// The rule for a figure from `n` responses.
    pub fn disclose(self, n: u64) -> Disclosure {
        Disclosure {
            low_n: n < self.n_min,
            suppressed: !self.may_show(n),
        }
    }

    /// Whether values computed from `n` responses may be shown at all.
    pub fn may_show(self, n: u64) -> bool {
        n >= self.privacy_floor
    }

    /// Whether `n` responses are enough to be read without a `low_n` flag.
    pub fn is_enough(self, n: u64) -> bool {
        n >= self.n_min
    }
}

impl Disclosure {
    /// `value`, unless the figure is withheld.
    pub fn shown<T>(self, value: Option<T>) -> Option<T> {
        value.filter(|_| !self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_floor_is_withheld_and_below_n_min_is_flagged() {
        let rule = Thresholds {
            privacy_floor: 5,
            n_min: 30,
        };
        let cases = [
            (0, true, true),
            (4, true, true),
            (5, true, false),
            (29, true, false),
        ];
        for (n, low_n, suppressed) in cases {
            assert_eq!(
                rule.disclose(n),
                Disclosure { low_n, suppressed },
                "n = {n}"
            );
        }
        assert_eq!(
            rule.disclose(30),
            Disclosure {
                low_n: false,
                suppressed: false
            }
        );
        assert_eq!(rule.disclose(4).shown(Some(1.0)), None);
        assert_eq!(rule.disclose(5).shown(Some(1.0)), Some(1.0));
    }
}
