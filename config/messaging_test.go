package config

import (
	"strings"
	"testing"
)

func TestWebhookAndTwilioDefaultsWorkLocally(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TwilioAPIBase != DefaultTwilioAPIBase || cfg.PublicBaseURL != "http://"+DefaultAPIAddr ||
		cfg.StripeWebhookSecret == "" || cfg.TwilioAccountSID == "" || cfg.TwilioAuthToken == "" || cfg.TwilioFromNumber == "" {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = FromLookup(lookupLocal(map[string]string{"TWILIO_FROM_NUMBER": "MG0123456789abcdef0123456789abcdef", "PUBLIC_BASE_URL": "https://api.carepath.example/"}))
	if err != nil {
		t.Fatalf("a Messaging Service SID as sender: %v", err)
	}
	if cfg.PublicBaseURL != "https://api.carepath.example" {
		t.Errorf("PublicBaseURL = %q, want it without the trailing slash", cfg.PublicBaseURL)
	}
}

func TestBadTwilioSettingsNameTheVariable(t *testing.T) {
	_, err := FromLookup(lookupLocal(map[string]string{
		"TWILIO_FROM_NUMBER": "CarePath",
		"TWILIO_AUTH_TOKEN":  "has spaces",
		"TWILIO_API_BASE":    "api.twilio.com",
		"PUBLIC_BASE_URL":    "/relative",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"TWILIO_FROM_NUMBER", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE", "PUBLIC_BASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
