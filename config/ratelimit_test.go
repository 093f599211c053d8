package config

import (
	"strings"
	"testing"
	"time"
)

func TestRateLimitsFromTheEnvironment(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimits.PerIP != DefaultRateLimits.PerIP || cfg.RateLimits.SMSPerPhone != DefaultRateLimits.SMSPerPhone {
		t.Errorf("defaults not applied: %+v", cfg.RateLimits)
	}
	cfg, err = FromLookup(lookupLocal(map[string]string{
		"RATE_LIMIT_PER_IP": "10/1s", "RATE_LIMIT_PER_USER": "off", "RATE_LIMIT_SMS_PER_IP": "2/24h",
		"API_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.RateLimits
	if rl.PerIP != (Rate{Limit: 10, Period: time.Second}) || !rl.PerUser.Off() || rl.SMSPerIP != (Rate{Limit: 2, Period: 24 * time.Hour}) {
		t.Errorf("overrides not applied: %+v", rl)
	}
	if strings.Join(rl.TrustedProxies, ",") != "10.0.0.0/8,192.168.1.1" {
		t.Errorf("TrustedProxies = %v", rl.TrustedProxies)
	}
}

func TestBadRateLimitsNameTheVariable(t *testing.T) {
	_, err := FromLookup(lookupLocal(map[string]string{
		"RATE_LIMIT_PER_IP": "lots", "RATE_LIMIT_SMS_PER_PHONE": "0/1m", "API_TRUSTED_PROXIES": "proxy.internal",
	}))
	for _, name := range []string{"RATE_LIMIT_PER_IP", "RATE_LIMIT_SMS_PER_PHONE", "API_TRUSTED_PROXIES"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestSignInAndIdentityVariables(t *testing.T) {
	cfg, err := FromLookup(lookupFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimits.SignIn != DefaultRateLimits.SignIn || cfg.RateLimits.SMSPerPhoneDay != (Rate{Limit: 10, Period: 24 * time.Hour}) ||
		cfg.AuthSessionMaxAge != 30*24*time.Hour {
		t.Errorf("defaults not applied: %+v %v %v", cfg.RateLimits.SignIn, cfg.RateLimits.SMSPerPhoneDay, cfg.AuthSessionMaxAge)
	}
	cfg, err = FromLookup(lookupFrom(map[string]string{
		"RATE_LIMIT_SMS_PER_PHONE_DAY": "4/24h", "AUTH_BACKOFF_ACCOUNT_FAILURES": "3", "AUTH_BACKOFF_ADDRESS_FAILURES": "0",
		"AUTH_BACKOFF_BASE": "5s", "AUTH_BACKOFF_MAX": "1h", "AUTH_BACKOFF_WINDOW": "2h", "CAREPATH_AUTH_SESSION_MAX_AGE": "168h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := SignInBackoff{Account: 3, Address: 0, Base: 5 * time.Second, Max: time.Hour, Window: 2 * time.Hour}
	if cfg.RateLimits.SignIn != want || cfg.RateLimits.SMSPerPhoneDay != (Rate{Limit: 4, Period: 24 * time.Hour}) || cfg.AuthSessionMaxAge != 168*time.Hour {
		t.Errorf("overrides not applied: %+v %v %v", cfg.RateLimits.SignIn, cfg.RateLimits.SMSPerPhoneDay, cfg.AuthSessionMaxAge)
	}
	_, err = FromLookup(lookupFrom(map[string]string{"AUTH_BACKOFF_ACCOUNT_FAILURES": "-1", "CAREPATH_AUTH_SESSION_MAX_AGE": "forever"}))
	for _, name := range []string{"AUTH_BACKOFF_ACCOUNT_FAILURES", "CAREPATH_AUTH_SESSION_MAX_AGE"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
