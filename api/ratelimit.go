package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
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
		if strings.HasPrefix(class, "sms-") {
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
// Redis does not list who signs in), so nobody is texted over and over:
// a short-term rate and a daily cap. Unknown numbers are counted and
// answered exactly like known ones.
func (s *Server) limitPhone(c *gin.Context, phone string) bool {
	sum := sha256.Sum256([]byte(phone))
	id := hex.EncodeToString(sum[:16])
	return s.limit(c, "sms-phone", id, s.rateLimits.SMSPerPhone) &&
		s.limit(c, "sms-phone-day", id, s.rateLimits.SMSPerPhoneDay)
}

// failureScript counts one failed sign-in in KEYS[1] (remembered for
// ARGV[4] ms after the last failure) and, from the ARGV[1]th failure on,
// locks KEYS[2] for ARGV[2] ms doubled per failure past the threshold, at
// most ARGV[3] ms. Returns the lock in ms (0: not locked).
var failureScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local threshold = tonumber(ARGV[1])
if n < threshold then
  return 0
end
local lock = tonumber(ARGV[2]) * 2 ^ (n - threshold)
if lock > tonumber(ARGV[3]) then lock = tonumber(ARGV[3]) end
lock = math.floor(lock)
if lock < 1 then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', lock)
return lock
`)

// signInSubject is whose failures a sign-in attempt counts against: the
// account it names (hashed, so Redis does not list who signs in) and the
// client address.
type signInSubject struct{ account, address string }

// emailAccount and clientAccount name the account a password or a client
// secret is tried against; an unknown one is counted like a known one, so
// that a lock says nothing about who has an account.
func emailAccount(email string) string {
	return accountKey("email:" + strings.ToLower(strings.TrimSpace(email)))
}

func clientAccount(clientID string) string { return accountKey("client:" + clientID) }

func accountKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// backoffKeys are the failure counter and lock of (class, id).
func (l *limiter) backoffKeys(class, id string) (fails, lock string) {
	base := l.prefix + "backoff:" + class + ":" + id
	return base + ":fails", base + ":lock"
}

// backoffSides lists the (class, id, threshold) pairs an attempt counts
// against; an empty account (a refresh token names none) counts only the
// address.
func (s *Server) backoffSides(sub signInSubject) [][3]string {
	b := s.rateLimits.SignIn
	var out [][3]string
	if sub.account != "" && b.Account > 0 {
		out = append(out, [3]string{"signin-account", sub.account, strconv.Itoa(b.Account)})
	}
	if b.Address > 0 {
		out = append(out, [3]string{"signin-address", sub.address, strconv.Itoa(b.Address)})
	}
	return out
}

// signInAllowed refuses an attempt, right or wrong, while its account or
// its address is locked: 429 with Retry-After. Like the other limits it
// fails open, logged, when Redis does not answer.
func (s *Server) signInAllowed(c *gin.Context, sub signInSubject) bool {
	if s.limiter == nil {
		return true
	}
	ctx := c.Request.Context()
	var wait time.Duration
	for _, side := range s.backoffSides(sub) {
		_, lock := s.limiter.backoffKeys(side[0], side[1])
		ttl, err := s.limiter.redis.PTTL(ctx, lock).Result()
		if err != nil {
			s.logger.WarnContext(ctx, "Sign-in backoff not checked", "class", side[0], "error", err)
			continue
		}
		wait = max(wait, ttl)
	}
	if wait <= 0 {
		return true
	}
	s.logger.InfoContext(ctx, "Sign-in refused during backoff", "route", c.FullPath())
	s.writeError(c, &rateLimitedError{retryAfter: int((wait + time.Second - 1) / time.Second)})
	return false
}

// signInFailed counts a failed attempt against its account and address,
// locking either once it passes its threshold.
func (s *Server) signInFailed(c *gin.Context, sub signInSubject) {
	if s.limiter == nil {
		return
	}
	ctx := c.Request.Context()
	b := s.rateLimits.SignIn
	for _, side := range s.backoffSides(sub) {
		fails, lock := s.limiter.backoffKeys(side[0], side[1])
		locked, err := failureScript.Run(ctx, s.limiter.redis, []string{fails, lock}, side[2],
			b.Base.Milliseconds(), b.Max.Milliseconds(), b.Window.Milliseconds()).Int64()
		if err != nil {
			s.logger.WarnContext(ctx, "Sign-in failure not counted", "class", side[0], "error", err)
			continue
		}
		if locked > 0 {
			s.logger.WarnContext(ctx, "Sign-in locked after failures", "class", side[0], "lock", time.Duration(locked)*time.Millisecond)
		}
	}
}

// signInSucceeded clears the account's failures. The address keeps its
// count: one good password must not let an address go on guessing others.
func (s *Server) signInSucceeded(c *gin.Context, sub signInSubject) {
	if s.limiter == nil || sub.account == "" {
		return
	}
	fails, lock := s.limiter.backoffKeys("signin-account", sub.account)
	if err := s.limiter.redis.Del(c.Request.Context(), fails, lock).Err(); err != nil {
		s.logger.WarnContext(c.Request.Context(), "Sign-in failures not cleared", "error", err)
	}
}
