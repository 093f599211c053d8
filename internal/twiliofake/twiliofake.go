// Package twiliofake is a local stand-in for Twilio's Messages API, for tests
// and the local stack (Twilio cannot be reached from here). It checks each
// request the way Twilio's API would: the path
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP basic auth with
// the account SID and auth token, a form body with To, From (or
// MessagingServiceSid) and Body. It answers as Twilio does: 201 with a JSON
// message resource (sid "SM...", status "queued"), or Twilio's error document
// with Twilio's error code. Accepted messages are kept for tests to inspect.
package twiliofake

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Message is one message the fake accepted.
type Message struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	ReceivedAt          time.Time
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	accountSID string
	authToken  string

	mu        sync.Mutex
	messages  []Message
	requests  int
	failures  []int           // statuses to answer the next requests with, in order
	blocked   map[string]bool // numbers that replied STOP at the carrier
	rejectAll bool
}

// New returns a fake that accepts the given credentials.
func New(accountSID, authToken string) *Server {
	return &Server{accountSID: accountSID, authToken: authToken, blocked: map[string]bool{}}
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests returns how many requests reached the Messages endpoint, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// FailNext makes the next len(statuses) well-formed requests fail with these
// HTTP statuses (e.g. 500, 503), as a Twilio outage would.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, statuses...)
}

// Block makes messages to number fail with Twilio's error 21610 (the
// recipient replied STOP to this sender at the carrier).
func (s *Server) Block(number string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[number] = true
}

var (
	messagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	serviceSID   = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// Twilio's limit on a message body, in characters.
const maxBodyChars = 1600

// maxKept bounds the messages kept, so a fake left running by the local
// stack does not grow without end.
const maxKept = 1000

// ServeHTTP implements the Messages endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := messagesPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || !equal(user, s.accountSID) || !equal(pass, s.authToken) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if m[1] != s.accountSID {
		// Twilio answers a path naming another account as not found for these credentials.
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		writeError(w, http.StatusBadRequest, 21620, "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 21620, "The request body cannot be parsed")
		return
	}
	to, from, service, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("MessagingServiceSid"), r.PostForm.Get("Body")

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case !e164.MatchString(to):
		writeError(w, http.StatusBadRequest, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
		return
	case from == "" && service == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
		return
	case from != "" && !e164.MatchString(from):
		writeError(w, http.StatusBadRequest, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number.", from))
		return
	case service != "" && !serviceSID.MatchString(service):
		writeError(w, http.StatusBadRequest, 21701, "The Messaging Service Sid is invalid")
		return
	case body == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case len([]rune(body)) > maxBodyChars:
		writeError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	}
	if len(s.failures) > 0 {
		status := s.failures[0]
		s.failures = s.failures[1:]
		writeError(w, status, 20500, "An internal server error has occurred")
		return
	}
	if s.blocked[to] {
		writeError(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
		return
	}
	msg := Message{SID: "SM" + randomHex(16), To: to, From: from, MessagingServiceSID: service, Body: body, ReceivedAt: time.Now().UTC()}
	s.messages = append(s.messages, msg)
	if len(s.messages) > maxKept {
		s.messages = s.messages[len(s.messages)-maxKept:]
	}
	writeJSON(w, http.StatusCreated, s.resource(msg))
}

// resource is the message resource as Twilio's API returns it on create.
func (s *Server) resource(m Message) map[string]any {
	created := m.ReceivedAt.Format(time.RFC1123Z)
	var from, service any
	if m.From != "" {
		from = m.From
	}
	if m.MessagingServiceSID != "" {
		service = m.MessagingServiceSID
	}
	return map[string]any{
		"account_sid":           s.accountSID,
		"api_version":           "2010-04-01",
		"body":                  m.Body,
		"date_created":          created,
		"date_updated":          created,
		"date_sent":             nil,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  from,
		"messaging_service_sid": service,
		"num_media":             "0",
		"num_segments":          fmt.Sprint(segments(m.Body)),
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   m.SID,
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s/Media.json", s.accountSID, m.SID)},
		"to":                    m.To,
		"uri":                   fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", s.accountSID, m.SID),
	}
}

// segments approximates how many SMS parts a body needs: 153 GSM characters
// per part once a message is split (160 fit in a single one); any character
// outside ASCII switches to UCS-2 (70, then 67 per part).
func segments(body string) int {
	n, single, multi := len([]rune(body)), 160, 153
	if strings.IndexFunc(body, func(r rune) bool { return r > 127 }) >= 0 {
		single, multi = 70, 67
	}
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code": code, "message": message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The client has the status already; a failed write leaves nothing to tell it.
	_ = json.NewEncoder(w).Encode(v)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
