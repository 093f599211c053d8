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
	// SMSPerPhoneDay caps the sign-in codes texted to one number a day,
	// known or unknown (RATE_LIMIT_SMS_PER_PHONE_DAY).
	SMSPerPhoneDay Rate
	// SignIn is the backoff after failed sign-ins (password, client
	// secret, refresh token), per account and per address.
	SignIn SignInBackoff
}

// SignInBackoff locks an account (an email, or an OAuth client ID) after
// Account failures, and an address after Address failures, both counted
// over Window: each further failure doubles the lock, from Base up to Max.
// While locked every attempt, right or wrong, is answered 429 with
// Retry-After; a success clears the account's count. Zero Account or
// Address turns that side off.
type SignInBackoff struct {
	Account int           // AUTH_BACKOFF_ACCOUNT_FAILURES, default 5
	Address int           // AUTH_BACKOFF_ADDRESS_FAILURES, default 20
	Base    time.Duration // AUTH_BACKOFF_BASE, default 30s
	Max     time.Duration // AUTH_BACKOFF_MAX, default 15m
	Window  time.Duration // AUTH_BACKOFF_WINDOW, default 24h
}

// Default rate limits: generous for people and integrators, tight where
// each request texts someone.
var DefaultRateLimits = RateLimits{
	PerIP:       Rate{Limit: 600, Period: time.Minute},
	PerUser:     Rate{Limit: 300, Period: time.Minute},
	SMSPerIP:    Rate{Limit: 5, Period: time.Hour},
	SMSPerPhone: Rate{Limit: 3, Period: 15 * time.Minute},
	// Issue 12: at most 10 codes a day to one number.
	SMSPerPhoneDay: Rate{Limit: 10, Period: 24 * time.Hour},
	SignIn:         SignInBackoff{Account: 5, Address: 20, Base: 30 * time.Second, Max: 15 * time.Minute, Window: 24 * time.Hour},
}

// rateLimits reads RATE_LIMIT_PER_IP, RATE_LIMIT_PER_USER,
// RATE_LIMIT_SMS_PER_IP, RATE_LIMIT_SMS_PER_PHONE,
// RATE_LIMIT_SMS_PER_PHONE_DAY, the AUTH_BACKOFF_* variables and
// API_TRUSTED_PROXIES.
func (r *reader) rateLimits(cfg *Config) {
	d := DefaultRateLimits
	cfg.RateLimits = RateLimits{
		PerIP:       r.rate("RATE_LIMIT_PER_IP", d.PerIP),
		PerUser:     r.rate("RATE_LIMIT_PER_USER", d.PerUser),
		SMSPerIP:    r.rate("RATE_LIMIT_SMS_PER_IP", d.SMSPerIP),
		SMSPerPhone: r.rate("RATE_LIMIT_SMS_PER_PHONE", d.SMSPerPhone),
		// Sign-in and identity (issue 12).
		SMSPerPhoneDay: r.rate("RATE_LIMIT_SMS_PER_PHONE_DAY", d.SMSPerPhoneDay),
		SignIn: SignInBackoff{
			Account: r.count("AUTH_BACKOFF_ACCOUNT_FAILURES", d.SignIn.Account),
			Address: r.count("AUTH_BACKOFF_ADDRESS_FAILURES", d.SignIn.Address),
			Base:    r.duration("AUTH_BACKOFF_BASE", d.SignIn.Base),
			Max:     r.duration("AUTH_BACKOFF_MAX", d.SignIn.Max),
			Window:  r.duration("AUTH_BACKOFF_WINDOW", d.SignIn.Window),
		},
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

// count parses a non-negative whole number; 0 turns its limit off.
func (r *reader) count(name string, fallback int) int {
	raw := r.str(name, "")
	if raw == "" {
		return fallback
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		r.errs = append(r.errs, fmt.Errorf("%s: want a whole number, 0 or more; got %q", name, raw))
		return fallback
	}
	return n
}
