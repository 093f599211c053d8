// Package workflows holds CarePath's Temporal workflows: the patient journey
// and, as the engine grows, its stage workflows. Message names, workflow ID
// helpers and search attributes live here, next to the workflows that use
// them, so the API, the worker and the tests share one definition.
package workflows

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Names of the workflow types, queries, signals and updates. One casing
// everywhere: workflow types are PascalCase, messages are snake_case.
const (
	JourneyWorkflowName = "Journey"
	QueryJourneyState   = "journey_state"
)

var (
	uuidPattern    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	pathwayPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// ValidPatientID reports whether id has the shape of a CarePath patient ID (a lowercase UUID).
func ValidPatientID(id string) bool { return uuidPattern.MatchString(id) }

// ValidPathwayID reports whether id has the shape of a pathway ID (a lowercase slug).
func ValidPathwayID(id string) bool { return pathwayPattern.MatchString(id) }

// Journey workflow IDs are opaque: journey:PATIENT:TOKEN, where TOKEN is a
// random 128-bit value (26 characters of lowercase base32). The patient
// leads, so the API's access layer can tell whose journey a path names; the
// pathway, which names a condition, and the episode are not in the ID,
// because the ID travels to places that must learn nothing clinical: SMS,
// Stripe, logs and Temporal's visibility store. Which journey of the
// patient on which pathway a workflow is lives in PostgreSQL (journey_ref),
// where a unique key keeps "the same journey started twice is a conflict,
// not a second journey".
//
// Journeys started before this kept the older shape,
// journey:PATIENT:PATHWAY:EPISODE (LegacyJourneyWorkflowID): parsers accept
// both, so running journeys and recorded histories still work.

var journeyTokenPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

var journeyTokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewJourneyWorkflowID returns a fresh opaque workflow ID for a journey of
// the patient. It reads crypto/rand: call it from the API or an activity,
// never from workflow code.
func NewJourneyWorkflowID(patientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "journey:" + patientID + ":" + strings.ToLower(journeyTokenEncoding.EncodeToString(b[:]))
}

// LegacyJourneyWorkflowID is the workflow ID journeys had before IDs were
// opaque: it names the pathway and the episode. New journeys never get
// one; it is kept for the journeys that still run under it, for replaying
// their histories, and for tests that need an ID of that shape.
func LegacyJourneyWorkflowID(patientID, pathwayID string, episode int) string {
	return fmt.Sprintf("journey:%s:%s:%d", patientID, pathwayID, episode)
}

// ErrBadJourneyID is returned by ParseJourneyWorkflowID.
var ErrBadJourneyID = errors.New("not a journey ID (want journey:PATIENT:TOKEN)")

// ParseJourneyWorkflowID checks a journey workflow ID and returns the
// patient it belongs to. An opaque ID says nothing more: pathwayID is "" and
// episode 0. A legacy ID (LegacyJourneyWorkflowID) also gives its pathway
// and episode.
func ParseJourneyWorkflowID(id string) (patientID, pathwayID string, episode int, err error) {
	parts := strings.Split(id, ":")
	if len(parts) == 3 && parts[0] == "journey" && ValidPatientID(parts[1]) && journeyTokenPattern.MatchString(parts[2]) {
		return parts[1], "", 0, nil
	}
	if len(parts) != 4 || parts[0] != "journey" || !ValidPatientID(parts[1]) || !ValidPathwayID(parts[2]) {
		return "", "", 0, ErrBadJourneyID
	}
	episode, convErr := strconv.Atoi(parts[3])
	if convErr != nil || episode < 1 || strconv.Itoa(episode) != parts[3] {
		return "", "", 0, ErrBadJourneyID
	}
	return parts[1], parts[2], episode, nil
}

// IsLegacyJourneyWorkflowID reports whether id is a journey ID of the old
// shape, which names the pathway.
func IsLegacyJourneyWorkflowID(id string) bool {
	_, pathwayID, _, err := ParseJourneyWorkflowID(id)
	return err == nil && pathwayID != ""
}
