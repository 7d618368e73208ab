//! FHIR date, dateTime and instant text as the range of instants it covers, so that index
//! values and query values compare as ranges whatever their precision.

use chrono::{Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// The range `[low, high]` in microseconds since the Unix epoch (UTC) that `text` covers:
/// "2020" is the whole year, "2020-03-01T10:00:00+01:00" that one second. Values without a
/// timezone are taken as UTC. `None` if `text` is not a FHIR date, dateTime or instant.
pub fn date_range(text: &str) -> Option<(i64, i64)> {
    let (date, rest) = match text.find('T') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4)?;
    let month = optional(parts.next(), 2)?;
    let day = optional(parts.next(), 2)?;
    if parts.next().is_some() {
        return None;
    }
    let start = NaiveDate::from_ymd_opt(year as i32, month.unwrap_or(1), day.unwrap_or(1))?;
    let Some(time) = rest else {
        let end = match (month, day) {
            (None, _) => NaiveDate::from_ymd_opt(year as i32 + 1, 1, 1)?,
            (Some(_), None) => start.checked_add_months(chrono::Months::new(1))?,
            (Some(_), Some(_)) => start.succ_opt()?,
        };
        return Some((micros(start.into()), micros(end.into()) - 1));
    };
    day?;
    let (clock, offset) = split_offset(time)?;
    let (low, width) = time_of_day(start, clock)?;
    let low = offset
        .from_local_datetime(&low)
        .single()?
        .with_timezone(&Utc);
    let low = low.timestamp_micros();
    Some((low, low + width - 1))
}

/// A run of exactly `len` ASCII digits.
fn number(s: &str, len: usize) -> Option<u32> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// An absent field (`Some(None)`) or a present one that must be a number (`None` if not).
fn optional(field: Option<&str>, len: usize) -> Option<Option<u32>> {
    match field {
        None => Some(None),
        Some(s) => number(s, len).map(Some),
    }
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// Splits "10:00:00+01:00" into the clock time and its offset (UTC when absent).
fn split_offset(time: &str) -> Option<(&str, FixedOffset)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, FixedOffset::east_opt(0)?));
    }
    let Some(i) = time.rfind(['+', '-']) else {
        return Some((time, FixedOffset::east_opt(0)?));
    };
    let (clock, zone) = time.split_at(i);
    let (hours, minutes) = zone[1..].split_once(':')?;
    let seconds = (number(hours, 2)? * 60 + number(minutes, 2)?) as i32 * 60;
    let seconds = if zone.starts_with('-') {
        -seconds
    } else {
        seconds
    };
    Some((clock, FixedOffset::east_opt(seconds)?))
}

/// The start of "hh:mm[:ss[.fff]]" on `day` and the width of its precision in microseconds.
fn time_of_day(day: NaiveDate, clock: &str) -> Option<(NaiveDateTime, i64)> {
    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (clock, None),
    };
    let mut fields = whole.split(':');
    let hour = number(fields.next()?, 2)?;
    let minute = number(fields.next()?, 2)?;
    let second = optional(fields.next(), 2)?;
    if fields.next().is_some() || (second.is_none() && fraction.is_some()) {
        return None;
    }
    let (micro, width) = match fraction {
        None if second.is_none() => (0, 60_000_000),
        None => (0, 1_000_000),
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits = &f[..f.len().min(6)];
            let scale = 10i64.pow(6 - digits.len() as u32);
            (digits.parse::<i64>().ok()? * scale, scale)
        }
    };
    let start = day.and_hms_opt(hour, minute, second.unwrap_or(0))?;
    Some((start + Duration::microseconds(micro), width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn year_month_day() {
        assert_eq!(
            date_range("2020"),
            Some((
                at("2020-01-01T00:00:00Z"),
                at("2020-12-31T23:59:59.999999Z")
            ))
        );
        assert_eq!(
            date_range("2020-02"),
            Some((
                at("2020-02-01T00:00:00Z"),
                at("2020-02-29T23:59:59.999999Z")
            ))
        );
        assert_eq!(
            date_range("2020-12"),
            Some((
                at("2020-12-01T00:00:00Z"),
                at("2020-12-31T23:59:59.999999Z")
            ))
        );
        assert_eq!(
            date_range("1941-05-17"),
            Some((
                at("1941-05-17T00:00:00Z"),
                at("1941-05-17T23:59:59.999999Z")
            ))
        );
    }

    #[test]
    fn times_and_fractions() {
        let low = at("2020-03-01T10:15:30Z");
        assert_eq!(
            date_range("2020-03-01T10:15:30"),
            Some((low, low + 999_999))
        );
        assert_eq!(
            date_range("2020-03-01T10:15:30Z"),
            Some((low, low + 999_999))
        );
        assert_eq!(
            date_range("2020-03-01T10:15:30.5Z"),
            Some((low + 500_000, low + 599_999))
        );
        assert_eq!(
            date_range("2020-03-01T10:15:30.123Z"),
            Some((low + 123_000, low + 123_999))
        );
        assert_eq!(
            date_range("2020-03-01T10:15:30.1234567Z"),
            Some((low + 123_456, low + 123_456))
        );
        let minute = at("2020-03-01T10:15:00Z");
        assert_eq!(
            date_range("2020-03-01T10:15"),
            Some((minute, minute + 59_999_999))
        );
    }

    #[test]
    fn timezones() {
        let low = at("2020-03-01T09:15:30Z");
        assert_eq!(
            date_range("2020-03-01T10:15:30+01:00"),
            Some((low, low + 999_999))
        );
        let low = at("2020-03-01T15:15:30Z");
        assert_eq!(
            date_range("2020-03-01T10:15:30-05:00"),
            Some((low, low + 999_999))
        );
        let low = at("2020-02-29T23:00:00Z");
        assert_eq!(
            date_range("2020-03-01T00:00:00.000+01:00"),
            Some((low, low + 999))
        );
        let low = at("2020-03-01T10:15:00Z");
        assert_eq!(
            date_range("2020-03-01T11:15+01:00"),
            Some((low, low + 59_999_999))
        );
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for bad in [
            "",
            "20",
            "2020-1",
            "2020-13",
            "2020-02-30",
            "2020-01-01T",
            "2020-01-01T25:00:00",
            "2020T10:00:00",
            "2020-01-01T10",
            "2020-01-01T10:00:00+1",
            "2020-01-01T10:00:00.",
            "2020-01-01T10:00.5",
            "abcd",
            "2020-01-01-01",
            "2020-01-01T10:00:00+01:00:00",
        ] {
            assert_eq!(date_range(bad), None, "{bad}");
        }
    }
}
