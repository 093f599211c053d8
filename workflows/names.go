// Package workflows holds CarePath's Temporal workflows: the patient journey
// and, as the engine grows, its stage workflows. Message names, workflow ID
// helpers and search attributes live here, next to the workflows that use
// them, so the API, the worker and the tests share one definition.
package workflows

import (
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

// JourneyWorkflowID is the workflow ID of a patient's episode-th journey on a
// pathway. Starting the same journey twice therefore collides on the ID and
// is reported as a conflict instead of running a second journey.
func JourneyWorkflowID(patientID, pathwayID string, episode int) string {
	return fmt.Sprintf("journey:%s:%s:%d", patientID, pathwayID, episode)
}

// ErrBadJourneyID is returned by ParseJourneyWorkflowID.
var ErrBadJourneyID = errors.New("not a journey ID (want journey:PATIENT:PATHWAY:EPISODE)")

// ParseJourneyWorkflowID splits a journey workflow ID into its parts.
func ParseJourneyWorkflowID(id string) (patientID, pathwayID string, episode int, err error) {
	parts := strings.Split(id, ":")
	if len(parts) != 4 || parts[0] != "journey" || !ValidPatientID(parts[1]) || !ValidPathwayID(parts[2]) {
		return "", "", 0, ErrBadJourneyID
	}
	episode, convErr := strconv.Atoi(parts[3])
	if convErr != nil || episode < 1 || strconv.Itoa(episode) != parts[3] {
		return "", "", 0, ErrBadJourneyID
	}
	return parts[1], parts[2], episode, nil
}
