package store

import "fmt"

// The demo doctors' directory figures (recommendation, reviews, patients,
// wait time, summary, photo), computed from the doctor's position in the
// seed like every other seeded attribute: the same on every load.

// SeedPhotoBase is where the demo doctors' profile photos would be served.
// The .example domain never resolves: the demo ships no photos.
const SeedPhotoBase = "https://photos.carepath.example/practitioners/"

type practitionerProfile struct {
	recommendationPercent int
	reviewsCount          int
	patientsCount         int
	waitTimeMinutes       int
	summary               string
	photoURL              string
}

// seedProfile returns doctor i's figures; years is their experience.
func seedProfile(i int, id, name, specialtyName, city string, years int) practitionerProfile {
	reviews := 20 + (i*37)%480
	return practitionerProfile{
		recommendationPercent: 70 + (i*13)%30, // 70 to 99
		reviewsCount:          reviews,
		patientsCount:         reviews*6 + years*40,
		waitTimeMinutes:       5 + (i*7)%6*5, // 5 to 30, in steps of 5
		summary: fmt.Sprintf("%s is a %s in %s with %d years of experience.",
			name, specialtyName, city, years),
		photoURL: SeedPhotoBase + id + ".jpg",
	}
}

// updatePractitionerProfile writes a doctor's figures, only when they differ.
const updatePractitionerProfile = `
	UPDATE practitioner SET recommendation_percent = $2, reviews_count = $3, patients_count = $4,
		wait_time_minutes = $5, summary = $6, profile_photo_url = $7
	WHERE id = $1 AND (recommendation_percent, reviews_count, patients_count, wait_time_minutes, summary, profile_photo_url)
		IS DISTINCT FROM ($2::smallint, $3::integer, $4::integer, $5::integer, $6::text, $7::text)`

func (b *seedBatch) addProfile(label, id string, p practitionerProfile) {
	b.add(label, updatePractitionerProfile, id, p.recommendationPercent, p.reviewsCount, p.patientsCount,
		p.waitTimeMinutes, p.summary, p.photoURL)
}
