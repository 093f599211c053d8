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
