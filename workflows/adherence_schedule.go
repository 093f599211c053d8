package workflows

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dosing schedule of an adherence workflow: which local clock times a
// frequency means, and when the n-th dose falls in the patient's time zone.
// These are pure functions; the workflow calls them inside a SideEffect, so
// the time zone rules the worker has are read once and recorded in history.

// dosingTimes maps a prescription's frequency to the local clock times of
// its doses. The times stay out of the default quiet hours (22:00-07:00), so
// a reminder is never held back until after the dose.
var dosingTimes = map[int][]string{
	1: {"08:00"},
	2: {"08:00", "20:00"},
	3: {"08:00", "14:00", "20:00"},
	4: {"08:00", "12:00", "16:00", "20:00"},
}

var (
	everyHours  = regexp.MustCompile(`^(?:every|q)\s*(\d+)\s*(?:h|hr|hrs|hours?)$`)
	frequencies = map[string]int{
		"once daily": 1, "once a day": 1, "daily": 1, "od": 1, "qd": 1, "1/day": 1,
		"twice daily": 2, "twice a day": 2, "bid": 2, "bd": 2, "2/day": 2,
		"three times daily": 3, "three times a day": 3, "tid": 3, "tds": 3, "3/day": 3,
		"four times daily": 4, "four times a day": 4, "qid": 4, "qds": 4, "4/day": 4,
	}
)

// DosesPerDay reads a prescription frequency ("twice daily", "BID", "every
// 8 hours"). It refuses what has no fixed schedule (as needed, weekly).
func DosesPerDay(frequency string) (int, error) {
	f := strings.ToLower(strings.TrimSpace(frequency))
	if n, ok := frequencies[f]; ok {
		return n, nil
	}
	if m := everyHours.FindStringSubmatch(f); m != nil {
		h, err := strconv.Atoi(m[1])
		if err == nil && h > 0 && 24%h == 0 && 24/h <= 4 {
			return 24 / h, nil
		}
	}
	return 0, fmt.Errorf("frequency %q has no daily schedule CarePath can remind on (once to four times daily, or every 6, 8, 12 or 24 hours)", frequency)
}

// doseSlots are the local clock times of a day's doses, as minutes after
// midnight, sorted.
func doseSlots(perDay int, override []string) ([]int, error) {
	times := dosingTimes[perDay]
	if len(override) > 0 {
		if len(override) != perDay {
			return nil, fmt.Errorf("%d reminder times for %d doses a day", len(override), perDay)
		}
		times = override
	}
	out := make([]int, 0, len(times))
	for _, s := range times {
		t, err := time.Parse("15:04", s)
		if err != nil {
			return nil, fmt.Errorf("reminder time %q: want HH:MM", s)
		}
		out = append(out, t.Hour()*60+t.Minute())
	}
	slices.Sort(out)
	return out, nil
}

// doseClock places dose slots on the calendar of a time zone. Slot index 0
// is the first slot after the course started (AnchorDate's AnchorSlot-th
// time); dose n (1-based) sits at slot index n-1.
type doseClock struct {
	AnchorDate string        `json:"anchor_date"` // YYYY-MM-DD in the patient's zone
	AnchorSlot int           `json:"anchor_slot"`
	Slots      []int         `json:"slots"` // minutes after local midnight
	Interval   time.Duration `json:"interval,omitempty"`
	FirstAt    time.Time     `json:"first_at,omitzero"` // interval mode: dose 1
}

// newDoseClock anchors the schedule at the first slot strictly after start.
// With interval set, doses follow every interval from start instead (for
// demos and benchmarks that cannot wait for real days).
func newDoseClock(start time.Time, loc *time.Location, slots []int, interval time.Duration) doseClock {
	if interval > 0 {
		// Whole seconds, as the reminder's time is written (RFC 3339).
		return doseClock{Interval: interval, FirstAt: start.Truncate(time.Second).Add(interval)}
	}
	local := start.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for offset := 0; ; offset++ {
		d := day.AddDate(0, 0, offset)
		for i, m := range slots {
			if at := slotTime(d, m, loc); at.After(start) {
				return doseClock{AnchorDate: d.Format(time.DateOnly), AnchorSlot: i, Slots: slots}
			}
		}
	}
}

// at is when dose n (1-based) is due.
func (c doseClock) at(n int, loc *time.Location) (time.Time, error) {
	if c.Interval > 0 {
		return c.FirstAt.Add(time.Duration(n-1) * c.Interval), nil
	}
	anchor, err := time.ParseInLocation(time.DateOnly, c.AnchorDate, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("dose clock anchor %q: %w", c.AnchorDate, err)
	}
	idx := c.AnchorSlot + n - 1
	per := len(c.Slots)
	return slotTime(anchor.AddDate(0, 0, idx/per), c.Slots[idx%per], loc), nil
}

// slotTime is the instant of a local clock time on a local date. On a day
// the clocks skip that time (DST starts), time.Date moves it by the gap.
func slotTime(day time.Time, minutes int, loc *time.Location) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), minutes/60, minutes%60, 0, 0, loc).UTC()
}

// doseTimes lists when doses first..first+count-1 are due.
func (c doseClock) doseTimes(first, count int, loc *time.Location) ([]time.Time, error) {
	out := make([]time.Time, count)
	for i := range out {
		at, err := c.at(first+i, loc)
		if err != nil {
			return nil, err
		}
		out[i] = at
	}
	return out, nil
}
