package api

import (
	"testing"
	"time"
)

// A date is refused only when it has not begun in any time zone: a patient
// in Kolkata (UTC+5:30) or Kiritimati (UTC+14) may send their today while
// UTC is still on yesterday.
func TestFutureDateFollowsTheEarliestTimeZone(t *testing.T) {
	now := time.Date(2026, 11, 22, 20, 30, 0, 0, time.UTC) // 02:00 on the 23rd in Kolkata
	for _, c := range []struct {
		date string
		want bool
	}{
		{"2026-11-21", false},
		{"2026-11-22", false}, // UTC's today
		{"2026-11-23", false}, // Kolkata's today (and UTC+14's)
		{"2026-11-24", true},  // nobody's today yet
	} {
		d, err := time.Parse(dateLayout, c.date)
		if err != nil {
			t.Fatal(err)
		}
		if got := futureDate(d, now); got != c.want {
			t.Errorf("%s at %s: future %v, want %v", c.date, now.Format(time.RFC3339), got, c.want)
		}
	}
	// Just after midnight UTC, UTC+14 is already at 14:00 on the same day,
	// and the next day has not begun anywhere.
	if !futureDate(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 1, 0, 0, time.UTC)) {
		t.Error("the 24th counts as begun at 00:01 UTC on the 23rd")
	}
}
