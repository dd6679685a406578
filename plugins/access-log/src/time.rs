//! The time of a request, as access logs write it.

use std::fmt;

use plugbus_core::Fingerprint;

/// When a request was served: seconds since the Unix epoch (UTC) and the
/// server's offset from UTC, as in `[22/Apr/2009:18:52:51 +1200]`.
///
/// Ordered by the instant, then the offset.
///
/// ```
/// use plugbus_access_log::Timestamp;
///
/// let t = Timestamp::parse("22/Apr/2009:18:52:51 +1200").unwrap();
/// assert_eq!(t.unix, 1_240_383_171);
/// assert_eq!(t.to_string(), "2009-04-22 18:52:51 +1200");
/// assert_eq!(t.clock(), "18:52:51");
/// assert!(Timestamp::parse("31/Feb/2009:18:52:51 +1200").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Fingerprint)]
pub struct Timestamp {
    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub unix: i64,
    /// The server's offset from UTC, in minutes (720 for `+1200`).
    pub offset_minutes: i16,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Timestamp {
    /// Parses the common log format's time, `dd/Mon/yyyy:hh:mm:ss +zzzz`
    /// (without the brackets). `None` if it is not one, or names a day that
    /// does not exist.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let (date_time, zone) = text.split_once(' ')?;
        let mut parts = date_time.splitn(4, [':', '/']);
        let day: u32 = number(parts.next()?, 2)?;
        let month_name = parts.next()?;
        let month = MONTHS.iter().position(|&m| m == month_name)? as u32 + 1;
        let (year, clock) = parts.next().zip(parts.next())?;
        let year: i64 = number(year, 4)?;
        let mut clock = clock.split(':');
        let hour: i64 = number(clock.next()?, 2)?;
        let minute: i64 = number(clock.next()?, 2)?;
        let second: i64 = number(clock.next()?, 2)?;
        if clock.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let zone: i16 = number(&zone[1..], 4)?;
        let offset_minutes = sign * ((zone / 100) * 60 + zone % 100);
        let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Some(Timestamp {
            unix: local - i64::from(offset_minutes) * 60,
            offset_minutes,
        })
    }

    /// The server's local time of day, `hh:mm:ss`.
    pub fn clock(&self) -> String {
        let seconds = self.local().rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }

    /// The same instant `seconds` later (saturating at the ends of time).
    #[must_use]
    pub fn plus(self, seconds: i64) -> Timestamp {
        Timestamp {
            unix: self.unix.saturating_add(seconds),
            ..self
        }
    }

    fn local(&self) -> i64 {
        self.unix
            .saturating_add(i64::from(self.offset_minutes) * 60)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.local().div_euclid(86_400));
        let offset = self.offset_minutes.unsigned_abs();
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {} {sign}{:02}{:02}",
            self.clock(),
            offset / 60,
            offset % 60
        )
    }
}

/// Parses exactly `digits` ASCII digits.
fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 1, 11_016, 14_356, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn offsets_and_leap_days() {
        let west = Timestamp::parse("29/Feb/2000:23:30:00 -0130").unwrap();
        assert_eq!(west.offset_minutes, -90);
        assert_eq!(west.to_string(), "2000-02-29 23:30:00 -0130");
        assert_eq!(west.unix, days_from_civil(2000, 3, 1) * 86_400 + 3600);
        assert!(Timestamp::parse("29/Feb/1900:00:00:00 +0000").is_none());
    }

    #[test]
    fn the_ends_of_time_saturate_and_print() {
        let late = Timestamp::parse("31/Dec/9999:23:59:59 -2359")
            .unwrap()
            .plus(i64::MAX);
        assert_eq!(late.unix, i64::MAX);
        assert!(!late.to_string().is_empty());
        assert!(!late.clock().is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "22/Apr/2009:18:52:51",
            "22/April/2009:18:52:51 +1200",
            "22/Apr/2009:24:00:00 +1200",
            "22/Apr/2009:18:52 +1200",
            "22/Apr/2009:18:52:51:00 +1200",
            "2/Apr/2009:18:52:51 +1200",
            "22/Apr/2009:18:52:51 1200",
            "22/Apr/2009:18:52:51 +12",
            "22/Apr/+009:18:52:51 +1200",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
    }
}
