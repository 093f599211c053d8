package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/carepath/carepath/platform"
)

type healthResponse struct {
	Status     string                     `json:"status"`
	Message    string                     `json:"message"`
	Components []platform.ComponentHealth `json:"components,omitempty"`
}

// healthCheck answers ok only when every dependency answers; otherwise 503
// with each component's state, latency and error.
func (s *Server) healthCheck(c *gin.Context) {
	components, healthy := s.health.Check(c.Request.Context(), s.healthTimeout)
	c.Header("Cache-Control", "no-store")
	if healthy {
		c.JSON(http.StatusOK, healthResponse{Status: "ok", Message: "System is healthy and operational."})
		return
	}
	c.JSON(http.StatusServiceUnavailable, healthResponse{
		Status: "unavailable", Message: "One or more dependencies are not answering.", Components: components,
	})
}
