package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/platform"
)

// healthResponse is the health check's answer. Anyone may ask and gets the
// status alone; the components (names, latencies and errors, which describe
// the deployment) go only to a signed-in admin.
type healthResponse struct {
	Status     string                     `json:"status"` // "ok" or "degraded"
	Components []platform.ComponentHealth `json:"components,omitempty"`
}

// healthCheck answers 200 {"status":"ok"} when every dependency answers,
// otherwise 503 {"status":"degraded"}. The route is public (load balancers
// and orchestrators call it without a token), so the handler checks a
// bearer token itself, if one is sent: an admin's also gets each
// component's state, latency and error. A missing or invalid token is not
// an error here; it just gets the public answer.
func (s *Server) healthCheck(c *gin.Context) {
	ctx := c.Request.Context()
	c.Header("Cache-Control", "no-store")
	if s.health == nil {
		s.writeError(c, &unavailableError{detail: "no health checker is configured"})
		return
	}
	components, healthy := s.health.Check(ctx, s.healthTimeout)
	resp, status := healthResponse{Status: "ok"}, http.StatusOK
	if !healthy {
		resp.Status, status = "degraded", http.StatusServiceUnavailable
	}
	if s.isAdmin(c) {
		resp.Components = components
	}
	c.JSON(status, resp)
}

// live answers 200 {"status":"ok"} whenever the process serves HTTP: the
// liveness probe. It asks no dependency, so a database outage never gets
// the API restarted; readiness (ready) is what takes it out of rotation.
func (s *Server) live(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, healthResponse{Status: "ok"})
}

// ready answers 200 {"status":"ok"} when every dependency answers, otherwise
// 503 {"status":"degraded"}: the readiness probe. It shares the health
// check's cached round of probes (healthCacheTTL), so probing it often
// costs the dependencies nothing more; it never lists the components.
func (s *Server) ready(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.health == nil {
		s.writeError(c, &unavailableError{detail: "no health checker is configured"})
		return
	}
	if _, healthy := s.health.Check(c.Request.Context(), s.healthTimeout); !healthy {
		c.JSON(http.StatusServiceUnavailable, healthResponse{Status: "degraded"})
		return
	}
	c.JSON(http.StatusOK, healthResponse{Status: "ok"})
}

// isAdmin reports whether the request carries a valid admin access token.
func (s *Server) isAdmin(c *gin.Context) bool {
	token, found := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !found || token == "" || s.auth == nil {
		return false
	}
	p, err := s.auth.Verify(c.Request.Context(), token)
	return err == nil && p.Role == auth.RoleAdmin
}

// healthCacheTTL is how long one round of dependency probes answers the
// health check. A probe calls Stripe's API (and PostgreSQL, Redis,
// Temporal, Neo4j): asking them on every hit would let anyone who can reach
// the public route spend the Stripe rate limit and load every dependency.
const healthCacheTTL = 10 * time.Second

// healthCache answers health checks from the last round of probes while it
// is younger than ttl, and lets concurrent checks that find it stale share
// one new round (single flight). Failed rounds are kept as long as good
// ones: a dependency that is down is not probed harder.
type healthCache struct {
	checker HealthChecker
	ttl     time.Duration

	mu      sync.Mutex
	last    *healthRound // nil before the first round
	running *healthRound // the round under way, if any
}

// healthRound is one round of probes; done is closed when it has ended.
type healthRound struct {
	done       chan struct{}
	at         time.Time
	components []platform.ComponentHealth
	healthy    bool
}

// cacheHealth wraps a checker in a healthCache (nil stays nil).
func cacheHealth(checker HealthChecker, ttl time.Duration) HealthChecker {
	if checker == nil {
		return nil
	}
	return &healthCache{checker: checker, ttl: ttl}
}

// Check answers from the cache, or waits for a round of probes (each within
// timeout). The round runs on a context that the caller leaving does not
// cancel, since other callers may be waiting for it.
func (h *healthCache) Check(ctx context.Context, timeout time.Duration) ([]platform.ComponentHealth, bool) {
	h.mu.Lock()
	if h.last != nil && time.Since(h.last.at) < h.ttl {
		last := h.last
		h.mu.Unlock()
		return last.components, last.healthy
	}
	round := h.running
	if round == nil {
		round = &healthRound{done: make(chan struct{})}
		h.running = round
		go h.probe(context.WithoutCancel(ctx), timeout, round)
	}
	h.mu.Unlock()
	select {
	case <-round.done:
		return round.components, round.healthy
	case <-ctx.Done():
		return nil, false
	}
}

func (h *healthCache) probe(ctx context.Context, timeout time.Duration, round *healthRound) {
	round.components, round.healthy = h.checker.Check(ctx, timeout)
	round.at = time.Now()
	h.mu.Lock()
	h.last, h.running = round, nil
	h.mu.Unlock()
	close(round.done)
}
