package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/carepath/carepath/config"
)

// RateLimitOptions configures the rate limits. Without Redis nothing is
// limited.
type RateLimitOptions struct {
	Redis  *redis.Client
	Limits config.RateLimits
	// KeyPrefix namespaces the counters (default "ratelimit:"), so that
	// deployments or tests sharing a Redis do not count each other.
	KeyPrefix string
}

// gcraScript is the generic cell rate algorithm in one atomic step: the key
// holds the theoretical arrival time (TAT, in microseconds of Redis's
// clock) of the next request. A request is allowed when the TAT, pushed on
// by one emission interval, stays within one period of now; it then stores
// the new TAT. A burst of the whole limit is allowed, and requests come
// back at an even pace. Redis's own clock keeps every API instance on the
// same time. Returns {allowed, retry after in microseconds}.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
`)

// limiter counts requests in Redis.
type limiter struct {
	redis  *redis.Client
	prefix string
}

// allow counts one request against rate for (class, id) and answers how
// long to wait when it is over the limit (0 when allowed).
func (l *limiter) allow(ctx context.Context, class, id string, rate config.Rate) (time.Duration, error) {
	if l == nil || rate.Off() {
		return 0, nil
	}
	interval := rate.Period.Microseconds() / int64(rate.Limit)
	res, err := gcraScript.Run(ctx, l.redis, []string{l.prefix + class + ":" + id},
		interval, rate.Period.Microseconds()).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", class, err)
	}
	if res[0] == 1 {
		return 0, nil
	}
	return time.Duration(res[1]) * time.Microsecond, nil
}

// limit answers 429 with Retry-After (whole seconds, rounded up) when the
// request is over rate. When Redis fails, an SMS limit fails closed (no
// code is texted unlimited) and the others fail open, logged: the API
// stays up for clinicians while Redis is down.
func (s *Server) limit(c *gin.Context, class, id string, rate config.Rate) bool {
	wait, err := s.limiter.allow(c.Request.Context(), class, id, rate)
	if err != nil {
		if class == "sms-ip" || class == "sms-phone" {
			s.writeError(c, &unavailableError{detail: "sign-in codes cannot be sent right now; try again later"})
			return false
		}
		s.logger.WarnContext(c.Request.Context(), "Rate limit not checked", "class", class, "error", err)
		return true
	}
	if wait > 0 {
		s.logger.InfoContext(c.Request.Context(), "Rate limited", "class", class, "route", c.FullPath())
		s.writeError(c, &rateLimitedError{retryAfter: int((wait + time.Second - 1) / time.Second)})
		return false
	}
	return true
}

// limitByIP counts every request against its client address, before the
// token is even checked, and the SMS code route against its own, much
// tighter, limit.
func (s *Server) limitByIP(c *gin.Context) {
	ip := c.ClientIP()
	if !s.limit(c, "ip", ip, s.rateLimits.PerIP) {
		return
	}
	if c.FullPath() == smsCodePath && !s.limit(c, "sms-ip", ip, s.rateLimits.SMSPerIP) {
		return
	}
	c.Next()
}

// limitByUser counts a signed-in caller's requests, wherever they come from.
func (s *Server) limitByUser(c *gin.Context) {
	if p, ok := principalFrom(c); ok && !s.limit(c, "user", p.Role+":"+p.Subject, s.rateLimits.PerUser) {
		return
	}
	c.Next()
}

// limitPhone counts sign-in code requests per phone number (hashed, so
// Redis does not list who signs in), so nobody is texted over and over.
func (s *Server) limitPhone(c *gin.Context, phone string) bool {
	sum := sha256.Sum256([]byte(phone))
	return s.limit(c, "sms-phone", hex.EncodeToString(sum[:16]), s.rateLimits.SMSPerPhone)
}
