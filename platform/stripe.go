package platform

import (
	"net/http"
	"strings"

	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/client"

	"github.com/carepath/carepath/config"
)

// NewStripeWithHTTPClient is NewStripe with a caller's HTTP client, for
// tests that record the requests (an Idempotency-Key header, how many calls
// a retry makes) on their way to stripe-mock.
func NewStripeWithHTTPClient(cfg config.Config, hc *http.Client) *client.API {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:           stripe.String(strings.TrimRight(cfg.StripeAPIBase, "/")),
		HTTPClient:    hc,
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError},
	})
	sc := &client.API{}
	sc.Init(cfg.StripeSecretKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	return sc
}
