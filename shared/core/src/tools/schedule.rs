//! Open slots from business hours, slot length, existing bookings and the owner's state.

use jiff::civil::{Date, Time};
use jiff::{ToSpan, Zoned};

use crate::domain::tenant::{Scheduling, WEEKDAYS};
use crate::domain::{OwnerMode, OwnerState};

/// How far ahead of now a GYM owner can be back at the shop.
const GYM_RETURN_MINUTES: i64 = 90;

/// The open slots of `date` and a note for the model about why there are few or none.
pub fn open_slots(
    scheduling: &Scheduling,
    date: Date,
    now: &Zoned,
    owner: &OwnerState,
    booked: &[Time],
) -> (Vec<Time>, Option<String>) {
    let today = now.date();
    if date < today {
        return (Vec::new(), Some("that date is in the past".into()));
    }
    if owner.mode == OwnerMode::Vacation
        && owner.until.is_none_or(|u| date <= u.to_zoned(now.time_zone().clone()).date())
    {
        return (Vec::new(), Some("the owner is on vacation; no bookings until they return".into()));
    }
    if owner.mode == OwnerMode::Off && date == today {
        return (Vec::new(), Some("the owner is off today; offer the next working day".into()));
    }
    let day_key = WEEKDAYS[date.weekday().to_monday_zero_offset() as usize];
    let ranges = scheduling.business_hours.get(day_key).cloned().unwrap_or_default();
    if ranges.is_empty() {
        return (Vec::new(), Some(format!("the shop is closed on {day_key}")));
    }
    let earliest = if date == today {
        let lead = if owner.mode == OwnerMode::Gym { GYM_RETURN_MINUTES } else { 0 };
        let t = now.time();
        Some(i64::from(t.hour()) * 60 + i64::from(t.minute()) + lead)
    } else {
        None
    };
    let step = i64::from(scheduling.slot_minutes);
    let mut slots = Vec::new();
    for r in ranges {
        let mut m = i64::from(r.open_minute);
        while m + step <= i64::from(r.close_minute) {
            let free = earliest.is_none_or(|e| m > e);
            if let Ok(t) = Time::new((m / 60) as i8, (m % 60) as i8, 0, 0)
                && free
                && !booked.contains(&t)
            {
                slots.push(t);
            }
            m += step;
        }
    }
    let note = if owner.mode == OwnerMode::Gym && date == today {
        // Fewer slots while the owner trains: every other one.
        slots = slots.into_iter().step_by(2).collect();
        Some("the owner is at the gym: only a few later slots are open today, so they are limited".into())
    } else {
        None
    };
    (slots, note)
}

/// `HH:MM`.
pub fn format_time(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    (s.len() == 10).then(|| s.parse().ok()).flatten()
}

/// Parses `HH:MM`.
pub fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// Whole days from `a` to `b`.
pub fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

/// `date + n days`.
pub fn add_days(date: Date, n: i64) -> Date {
    date.checked_add(n.days()).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::tenant::OpenRange;

    fn sched() -> Scheduling {
        let day = vec![OpenRange { open_minute: 9 * 60, close_minute: 12 * 60 }];
        Scheduling {
            timezone: "UTC".into(),
            business_hours: BTreeMap::from([("mon".to_owned(), day.clone()), ("tue".to_owned(), day)]),
            slot_minutes: 60,
        }
    }

    fn at(s: &str) -> Zoned {
        format!("{s}[UTC]").parse().unwrap()
    }

    #[test]
    fn slots_follow_hours_bookings_and_now() {
        let work = OwnerState::default_at(jiff::Timestamp::now());
        let monday = parse_date("2026-11-23").unwrap();
        let (slots, _) = open_slots(&sched(), monday, &at("2026-11-22T08:00:00"), &work, &[]);
        assert_eq!(slots.iter().map(|t| format_time(*t)).collect::<Vec<_>>(), ["09:00", "10:00", "11:00"]);
        let booked = [parse_time("10:00").unwrap()];
        let (slots, _) = open_slots(&sched(), monday, &at("2026-11-23T09:30:00"), &work, &booked);
        assert_eq!(slots.iter().map(|t| format_time(*t)).collect::<Vec<_>>(), ["11:00"]);
        let sunday = parse_date("2026-11-22").unwrap();
        assert!(open_slots(&sched(), sunday, &at("2026-11-21T08:00:00"), &work, &[]).0.is_empty());
    }

    #[test]
    fn gym_means_fewer_and_later_slots_and_says_so() {
        let mut sched = sched();
        sched.business_hours.get_mut("mon").unwrap()[0].close_minute = 18 * 60;
        let now = at("2026-11-23T09:00:00");
        let work = OwnerState::default_at(now.timestamp());
        let gym = OwnerState { mode: OwnerMode::Gym, ..work.clone() };
        let monday = now.date();
        let (normal, none) = open_slots(&sched, monday, &now, &work, &[]);
        let (fewer, note) = open_slots(&sched, monday, &now, &gym, &[]);
        assert!(none.is_none());
        assert!(fewer.len() < normal.len());
        assert!(fewer[0] > normal[0]);
        assert!(note.unwrap().contains("gym"));
    }
}
