package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Rate is Limit requests per Period; a zero Rate means no limit.
type Rate struct {
	Limit  int
	Period time.Duration
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.Limit == 0 }

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Limit, r.Period)
}

// RateLimits are the API's request limits (api/ratelimit.go), counted in
// Redis. The SMS ones apply to the route that texts sign-in codes, on top of
// the general ones.
type RateLimits struct {
	PerIP       Rate
	PerUser     Rate
	SMSPerIP    Rate
	SMSPerPhone Rate
	// TrustedProxies are the proxies whose X-Forwarded-For names the client;
	// empty, the client is the connection's peer address.
	TrustedProxies []string
}

// Default rate limits: generous for people and integrators, tight where
// each request texts someone.
var DefaultRateLimits = RateLimits{
	PerIP:       Rate{Limit: 600, Period: time.Minute},
	PerUser:     Rate{Limit: 300, Period: time.Minute},
	SMSPerIP:    Rate{Limit: 5, Period: time.Hour},
	SMSPerPhone: Rate{Limit: 3, Period: 15 * time.Minute},
}

// rateLimits reads RATE_LIMIT_PER_IP, RATE_LIMIT_PER_USER,
// RATE_LIMIT_SMS_PER_IP, RATE_LIMIT_SMS_PER_PHONE and API_TRUSTED_PROXIES.
func (r *reader) rateLimits(cfg *Config) {
	d := DefaultRateLimits
	cfg.RateLimits = RateLimits{
		PerIP:       r.rate("RATE_LIMIT_PER_IP", d.PerIP),
		PerUser:     r.rate("RATE_LIMIT_PER_USER", d.PerUser),
		SMSPerIP:    r.rate("RATE_LIMIT_SMS_PER_IP", d.SMSPerIP),
		SMSPerPhone: r.rate("RATE_LIMIT_SMS_PER_PHONE", d.SMSPerPhone),
	}
	for _, p := range strings.FieldsFunc(r.str("API_TRUSTED_PROXIES", ""), func(c rune) bool { return c == ',' || c == ' ' }) {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				r.errs = append(r.errs, fmt.Errorf("API_TRUSTED_PROXIES: %q is not an IP address or CIDR range", p))
				continue
			}
		}
		cfg.RateLimits.TrustedProxies = append(cfg.RateLimits.TrustedProxies, p)
	}
}

// rate parses "N/PERIOD" (for example "600/1m" or "5/1h"), or "off".
func (r *reader) rate(name string, fallback Rate) Rate {
	raw := r.str(name, "")
	if raw == "" {
		return fallback
	}
	if raw == "off" {
		return Rate{}
	}
	n, period, ok := strings.Cut(raw, "/")
	limit, err := strconv.Atoi(n)
	d, derr := time.ParseDuration(period)
	if !ok || err != nil || derr != nil || limit < 1 || d <= 0 {
		r.errs = append(r.errs, fmt.Errorf("%s: want N/PERIOD such as 600/1m, or off; got %q", name, raw))
		return fallback
	}
	return Rate{Limit: limit, Period: d}
}
