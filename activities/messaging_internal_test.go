package activities

import (
	"testing"
	"time"
)

func TestQuietUntil(t *testing.T) {
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	newYork, _ := time.LoadLocation("America/New_York")
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	cases := []struct {
		name       string
		now        time.Time
		loc        *time.Location
		start, end string
		want       time.Time // zero: not quiet
	}{
		{"noon, night window", at(kolkata, 2026, 11, 24, 12, 0), kolkata, "22:00", "07:00", time.Time{}},
		{"late evening", at(kolkata, 2026, 11, 24, 23, 30), kolkata, "22:00", "07:00", at(kolkata, 2026, 11, 25, 7, 0)},
		{"at the start", at(kolkata, 2026, 11, 24, 22, 0), kolkata, "22:00", "07:00", at(kolkata, 2026, 11, 25, 7, 0)},
		{"after midnight", at(kolkata, 2026, 11, 25, 3, 15), kolkata, "22:00", "07:00", at(kolkata, 2026, 11, 25, 7, 0)},
		{"at the end", at(kolkata, 2026, 11, 25, 7, 0), kolkata, "22:00", "07:00", time.Time{}},
		{"month end", at(kolkata, 2026, 11, 30, 23, 0), kolkata, "22:00", "07:00", at(kolkata, 2026, 12, 1, 7, 0)},
		{"daytime window", at(kolkata, 2026, 11, 24, 13, 30), kolkata, "13:00", "14:00", at(kolkata, 2026, 11, 24, 14, 0)},
		{"outside a daytime window", at(kolkata, 2026, 11, 24, 23, 30), kolkata, "13:00", "14:00", time.Time{}},
		{"equal ends: none", at(kolkata, 2026, 11, 24, 23, 30), kolkata, "22:00", "22:00", time.Time{}},
		// The clocks go forward at 02:00 on 8 March 2026 in New York: a
		// window ending at 02:30 ends at the first instant after the gap.
		{"ends in a DST gap", at(newYork, 2026, 3, 8, 1, 30), newYork, "22:00", "02:30", at(newYork, 2026, 3, 8, 3, 30)},
		// The UTC instant is read in the patient's zone, not the server's.
		{"zone conversion", time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC), kolkata, "22:00", "07:00", at(kolkata, 2026, 11, 25, 7, 0)},
	}
	for _, c := range cases {
		got, err := quietUntil(c.now, c.loc, c.start, c.end)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got.Equal(c.want) {
			t.Errorf("%s: quietUntil = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := quietUntil(time.Now(), kolkata, "10pm", "07:00"); err == nil {
		t.Error("a malformed time was accepted")
	}
}
